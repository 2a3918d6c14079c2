"""Shared fixtures: a real moto server over HTTP, reset before every test that uses it.

The server is the embedded emulator (moto behind keyrotate's middlewares) as strict as AWS
where moto is kinder (tests/strict_emulator.py, docs/emulator.md). Tests reach AWS only
through ``AWS_ENDPOINT_URL`` pointing at this server; fake credentials and region are set for
the whole session so nothing can reach real AWS by accident.
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator

import pytest

from tests.strict_emulator import TEST_STRICTNESS

# Set before any boto3 client exists. Never MOTO_ACCOUNT_ID (EMULATOR.md: breaks routing).
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }
)
for _name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
    os.environ.pop(_name, None)
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull


@pytest.fixture(scope="session")
def _moto_server() -> Iterator[str]:
    from keyrotate_emulator import EmulatorServer

    with EmulatorServer(strictness=TEST_STRICTNESS) as server:
        yield server.url


@pytest.fixture
def moto_endpoint(_moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The URL of a freshly reset, strict emulator; AWS_ENDPOINT_URL points at it."""
    from keyrotate_emulator.server import post

    request = urllib.request.Request(f"{_moto_server}/moto-api/reset", method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (loopback)
        assert response.status == 200
    post(f"{_moto_server}/_keyrotate/strict", TEST_STRICTNESS.to_json())  # undo a test's change
    monkeypatch.setenv("AWS_ENDPOINT_URL", _moto_server)
    return _moto_server

"""Shared fixtures: a real moto server over HTTP, reset before every test that uses it.

Tests reach AWS only through ``AWS_ENDPOINT_URL`` pointing at this server; fake credentials
and region are set for the whole session so nothing can reach real AWS by accident.
"""

from __future__ import annotations

import logging
import os
import urllib.request
from collections.abc import Iterator

import pytest

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
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def moto_endpoint(_moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The URL of a freshly reset moto server; AWS_ENDPOINT_URL points at it."""
    request = urllib.request.Request(f"{_moto_server}/moto-api/reset", method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (loopback)
        assert response.status == 200
    monkeypatch.setenv("AWS_ENDPOINT_URL", _moto_server)
    return _moto_server

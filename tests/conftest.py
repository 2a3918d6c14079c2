"""Shared fixtures: ONE emulator per test process, its settings put back around every test.

The server is the embedded emulator (moto behind keyrotate's middlewares: strictness, fault
injection, IAM paging, call counting and the gate) as strict as AWS where moto is kinder
(tests/strict_emulator.py, docs/emulator.md). pytest-xdist runs a process per core, so one
server per core. Tests reach AWS only through ``AWS_ENDPOINT_URL`` pointing at it; fake
credentials and region are set for the whole session so nothing can reach real AWS by
accident.

- ``emulator`` (function): the server, moto's state emptied, ``AWS_ENDPOINT_URL`` set.
  A test or a module's fixture changes what it needs on it: ``iam_page_size``,
  ``strictness``, ``inject(Fault)``, ``gate.hold(...)``.
- ``moto_endpoint`` (function): the same, as its URL.
- ``emulator_server`` / ``_moto_server`` (session): the server and its URL, for module-scoped
  fixtures that seed one organization for their module's tests (moto's state is kept).

Whatever a test set (strictness, page size, faults, holds, counted calls) is put back before
and after every test that uses the server, whether it reset moto's state or not.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from keyrotate_emulator import EmulatorServer
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
# pytest-xdist gives its workers COLUMNS=80, a plain pytest run gives none: without this the
# CLI's tables would be fitted to 80 columns under `make test` and to the piped width alone.
# A test that means a width says so (CliRunner env={"COLUMNS": ...}).
for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[EmulatorServer]:
    """This process's emulator. Module-level servers of their own would only share its
    state: moto's backends are global to the process (docs/emulator.md).
    """
    with EmulatorServer(strictness=TEST_STRICTNESS, gate=True) as server:
        yield server


@pytest.fixture(autouse=True)
def _emulator_defaults(request: pytest.FixtureRequest) -> Iterator[None]:
    """Around each test that uses the emulator: its settings as made (restore_defaults).

    After the test too: the next module's fixtures seed their organization before any
    function fixture of its first test runs, and must not meet a fault this test armed.
    """
    if "emulator_server" not in request.fixturenames:  # unit tests never start it
        yield
        return
    server: EmulatorServer = request.getfixturevalue("emulator_server")
    server.restore_defaults()
    yield
    server.restore_defaults()


@pytest.fixture(scope="session")
def _moto_server(emulator_server: EmulatorServer) -> str:
    """The emulator's URL, for module-scoped fixtures (moto's state is theirs to reset)."""
    return emulator_server.url


@pytest.fixture
def emulator(emulator_server: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    """The emulator, empty (moto's state too) and strict; AWS_ENDPOINT_URL points at it."""
    emulator_server.reset()
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator_server.url)
    return emulator_server


@pytest.fixture
def moto_endpoint(emulator: EmulatorServer) -> str:
    """The URL of a freshly reset, strict emulator; AWS_ENDPOINT_URL points at it."""
    return emulator.url

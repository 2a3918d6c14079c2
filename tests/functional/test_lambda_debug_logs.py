"""The RotateAccount handler with every logger at DEBUG leaks no secret access key.

With the root logger at DEBUG, botocore logs each call's request parameters and response
body: CreateAccessKey's answer and PutSecretValue's request both carry the new secret. The
handler runs an enforce rotation of one seeded member account against the fault lab (moto
over HTTP; its gate records every secret CreateAccessKey hands out), and every line logged
in the meantime, plain and as Powertools' JSON, is searched for those secrets. The capture
must hold botocore DEBUG lines, or the search proves nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from keyrotate.lambda_handlers import logger as handler_logger
from keyrotate.lambda_handlers import rotate_account_handler
from keyrotate_emulator import EmulatorServer
from tests.faults.lab import FaultLab, read_state, secret_values, seed_org, settings_env


@dataclass(frozen=True)
class Context:
    """The attributes of a LambdaContext that Powertools' Logger reads."""

    function_name: str = "keyrotate-debug-test"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = (
        "arn:aws:lambda:us-east-1:123456789012:function:keyrotate-debug-test"
    )
    aws_request_id: str = "00000000-0000-0000-0000-000000000001"


@pytest.fixture
def lab(
    emulator_server: EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> FaultLab:
    """The lab, empty; this process's clients and the function's settings point at it."""
    lab = FaultLab(emulator_server)
    lab.reset()
    monkeypatch.setenv("AWS_ENDPOINT_URL", lab.url)
    env = settings_env(EmailTransport="file", MailDir=str(tmp_path / "mail"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return lab


def _forms(secret: str) -> set[str]:
    """The secret as it would appear in text, JSON or a repr."""
    return {secret, json.dumps(secret)[1:-1], repr(secret)[1:-1]}


class _Capture(logging.Handler):
    """Every record, formatted twice: as plain text and as the handlers' JSON lines."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.plain: list[str] = []
        self.json: list[str] = []
        self._plain = logging.Formatter("%(levelname)s %(name)s: %(message)s")

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.plain.append(self._plain.format(record))
        self.json.append(handler_logger.registered_formatter.format(record))


@contextmanager
def _everything_at_debug() -> Iterator[_Capture]:
    """Root, botocore and botocore.parsers at DEBUG (as ``boto3.set_stream_logger`` would
    set them), every record into one capture and nowhere else: not into pytest's log report,
    which would print a leaked secret on failure.
    """
    capture = _Capture()
    root = logging.getLogger()
    names = ("", "botocore", "botocore.parsers", "keyrotate")
    levels = {name: logging.getLogger(name).level for name in names}
    handlers = list(root.handlers)
    root.handlers = [capture]
    for name in names:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield capture
    finally:
        root.handlers = handlers
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def test_rotate_account_at_debug_logs_botocore_lines_but_no_secret_access_key(
    lab: FaultLab,
) -> None:
    org = seed_org(lab)
    member = org.accounts["work-0"]
    issued_before = len(lab.gate.issued_secrets)
    event: dict[str, Any] = {
        "run_id": "run-debug",
        "mode": "enforce",
        "account": {
            "account_id": member,
            "name": "work-0",
            "email": "aws+work-0@example.com",
            "ou_path": "Workloads",
        },
    }
    with _everything_at_debug() as capture:
        summary = rotate_account_handler(event, Context())  # type: ignore[arg-type]

    assert summary["status"] == "ok", summary["error"]
    assert summary["actions"]["ROTATE"] == {"done": 3}
    # rot-new, rot-held and del-rot each got a new key: the secrets to look for.
    assert len(lab.gate.issued_secrets) - issued_before == 3
    secrets = set(lab.gate.issued_secrets) | secret_values(read_state(lab, org))
    botocore_debug = [
        r for r in capture.records if r.name.startswith("botocore") and r.levelno == logging.DEBUG
    ]
    assert botocore_debug, "no botocore DEBUG line captured: the search below proves nothing"
    assert any(r.name.startswith("keyrotate") for r in capture.records)
    texts = {"log text": "\n".join(capture.plain), "log json": "\n".join(capture.json)}
    hits = sorted(
        where for where, text in texts.items() for s in secrets for f in _forms(s) if f in text
    )
    # Never show a secret: only where it was found.
    assert not hits, f"a secret access key appears in: {hits}"

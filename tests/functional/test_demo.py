"""``keyrotate demo``: the whole pipeline offline, its files, and no secret anywhere in them.

The demo runs once for the module through the CLI (``keyrotate demo --out DIR``, which calls
:func:`keyrotate_emulator.demo.main`) on the shared emulator, its moto state reset first.
Afterwards the test reads every secret the enforce pass stored, to know which strings must
never appear in a report, a mail (raw or decoded), the CLI's output or the tool's log.
"""

from __future__ import annotations

import email
import email.policy
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from functools import partial
from pathlib import Path

import pytest
from click.testing import CliRunner

import keyrotate_emulator.demo as demo_module
from keyrotate.cli import main
from keyrotate.domain.models import ActionKind
from keyrotate_emulator.demo import _AWS_SETTINGS
from keyrotate_emulator.seed import MANAGEMENT_ACCOUNT_ID
from keyrotate_emulator.server import EmulatorServer

from .org_support import client, reset_moto

pytestmark = pytest.mark.slow  # the whole demo, audit and enforce

# What keyrotate_emulator.demo._isolate rewrites in os.environ; restored after the module.
_ISOLATED = (
    *_AWS_SETTINGS,
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)


@dataclass(frozen=True)
class Demo:
    out_dir: Path
    exit_code: int
    output: str
    log: str
    secret_keys: frozenset[str]  # every SecretAccessKey any secret holds (never printed)
    secret_count: int


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def _stored_secret_keys(endpoint: str, account_ids: list[str]) -> tuple[set[str], int]:
    found: set[str] = set()
    count = 0
    for account_id in account_ids:
        for region in ("us-east-1", "us-west-2"):  # the demo replicates to us-west-2
            sm = client(endpoint, account_id, "secretsmanager", region=region)
            for secret in sm.list_secrets()["SecretList"]:
                value = json.loads(sm.get_secret_value(SecretId=secret["ARN"])["SecretString"])
                found.add(value["SecretAccessKey"])
                count += 1
    return found, count


@pytest.fixture(scope="module")
def demo(
    emulator_server: EmulatorServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Demo]:
    out_dir = tmp_path_factory.mktemp("demo") / "out"
    endpoint = emulator_server.url
    reset_moto(endpoint)  # the demo seeds its organization: start from nothing
    collect = _Collect()
    logger = logging.getLogger("keyrotate")
    previous_level = logger.level
    logger.addHandler(collect)
    logger.setLevel(logging.DEBUG)
    with pytest.MonkeyPatch.context() as patch:
        # The shared emulator instead of one of the demo's own, at the tests' strictness: the
        # demo's default (a new key refused for 3 s, as in AWS) would add half a minute of
        # verification waits to the suite. test_emulator_propagation.py runs a rotation
        # through that delay.
        patch.setattr(
            demo_module, "run_demo", partial(demo_module.run_demo, server=emulator_server)
        )
        for name in _ISOLATED:
            if name in os.environ:
                patch.setenv(name, os.environ[name])
            else:
                patch.delenv(name, raising=False)
        try:
            result = CliRunner().invoke(main, ["demo", "--out", str(out_dir)])
        finally:
            logger.removeHandler(collect)
            logger.setLevel(previous_level)
        organizations = client(endpoint, MANAGEMENT_ACCOUNT_ID, "organizations")
        accounts = [a["Id"] for a in organizations.list_accounts()["Accounts"]]
        secret_keys, count = _stored_secret_keys(endpoint, accounts)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    yield Demo(
        out_dir,
        result.exit_code,
        result.output,
        "\n".join(collect.lines),
        frozenset(secret_keys),
        count,
    )
    reset_moto(endpoint)


def _mails(folder: Path) -> dict[str, EmailMessage]:
    return {
        path.name: email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        for path in sorted(folder.glob("*.eml"))
    }


def test_the_demo_completes_and_writes_both_reports(demo: Demo) -> None:
    assert demo.exit_code == 0, demo.output
    for mode in ("audit", "enforce"):
        document = json.loads((demo.out_dir / f"{mode}-report.json").read_text("utf-8"))
        assert document["mode"] == mode
        assert document["summary"]["accounts_failed"] == 0
    assert "enforce-report.json" in demo.output


def test_the_enforce_report_has_every_action_kind(demo: Demo) -> None:
    document = json.loads((demo.out_dir / "enforce-report.json").read_text("utf-8"))
    kinds = {r["action"] for r in document["keys"] if r["action"]}
    assert kinds == {kind.value for kind in ActionKind}
    outcomes = {r["outcome"] for r in document["keys"] if r["action"] in {"ROTATE", "DELETE"}}
    assert outcomes == {"done"}


@pytest.mark.parametrize("mode", ["audit", "enforce"])
def test_each_pass_mails_account_owners_resource_owners_and_the_admin(
    demo: Demo, mode: str
) -> None:
    mails = _mails(demo.out_dir / "mail" / mode)
    assert any(n.startswith("account-owner-") for n in mails)
    assert any(n.startswith("resource-owner-") for n in mails)
    assert any(n.startswith("admin-") for n in mails)
    for name, message in mails.items():
        assert message.get_content_type() == "multipart/alternative", name
        parts = {part.get_content_type() for part in message.iter_parts()}
        assert parts == {"text/plain", "text/html"}, name
        assert message["To"], name
        assert message["Subject"], name


def test_no_secret_access_key_appears_in_any_report_mail_output_or_log(demo: Demo) -> None:
    assert demo.secret_count >= 12  # every rotation stored one (and its us-west-2 replica)
    assert len(demo.secret_keys) >= 12
    assert all(len(key) >= 30 for key in demo.secret_keys)
    texts: dict[str, str] = {"CLI output": demo.output, "log": demo.log}
    files = sorted(p for p in demo.out_dir.rglob("*") if p.is_file())
    assert len(files) >= 10
    for path in files:
        texts[str(path)] = path.read_bytes().decode("utf-8", "replace")
        if path.suffix == ".eml":
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            for number, part in enumerate(message.walk()):
                if not part.is_multipart():
                    texts[f"{path} part {number}"] = str(part.get_content())
    leaks = sorted(
        where for where, text in texts.items() if any(k in text for k in demo.secret_keys)
    )
    assert leaks == []  # names where a secret appeared, never the secret itself

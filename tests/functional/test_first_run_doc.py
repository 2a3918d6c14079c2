"""docs/first-run.md, followed word for word against an emulated organization.

The document's ``console`` blocks are its runnable commands: each ``$ keyrotate ...`` line is
run through the CLI (in this process, in a folder of its own), with ``$NAME`` expanded from
the environment as a shell would, and each ``$ echo $?`` line must be followed by the exit
code the command before it gave. The settings file is the document's ``yaml`` block, written
as it stands. What the reader sets up differently from the test: the AWS profile (here a
profile of the same name in a config file of its own, pointing at the emulator) and the
account chosen for the first enforce run (``ACCOUNT``, here a seeded member account).

The organization: the management account (where the operator runs from, as the document
says: own credentials, the member-role stack deployed by hand) and two member accounts with
the member role, the read-own-secret policy and the exemption group; one user in the chosen
account has a key past rotation, so the enforce step changes something.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from keyrotate.cli import main
from keyrotate_emulator.seed import (
    MANAGEMENT_ACCOUNT_ID,
    KeySpec,
    OrganizationBuilder,
    UserSpec,
    create_member_roles,
    iam_client,
    read_own_secret_policy,
    seed_users,
)
from keyrotate_emulator.server import EmulatorServer
from keyrotate_emulator.strict import Strictness

DOC = Path(__file__).resolve().parents[2] / "docs" / "first-run.md"
ROLE = "keyrotate-member"
READ_POLICY = "keyrotate-read-own-secret"
GROUP = "IAMKeyRotationExemptionGroup"
PROFILE = "keyrotate-operator"
_BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Step:
    command: str  # as written after "$ "
    expected_exit: int | None = None  # from the "$ echo $?" that follows it


def blocks(kind: str) -> list[str]:
    return [body for lang, body in _BLOCK.findall(DOC.read_text("utf-8")) if lang == kind]


def steps() -> list[Step]:
    """The commands of every console block, each with the exit code the document shows."""
    found: list[Step] = []
    for body in blocks("console"):
        lines = body.splitlines()
        for i, line in enumerate(lines):
            if not line.startswith("$ "):
                continue
            command = line[2:]
            if command == "echo $?":
                assert found, "echo $? before any command"
                found[-1] = Step(found[-1].command, int(lines[i + 1]))
                continue
            assert command.startswith("keyrotate "), f"not a keyrotate command: {line}"
            found.append(Step(command))
    return found


def test_the_document_has_runnable_steps_each_with_its_exit_code() -> None:
    found = steps()
    assert [s.command.split()[1] for s in found] == ["doctor", "run", "plan", "doctor", "run"]
    assert all(s.expected_exit is not None for s in found)
    assert "--enforce" in found[-1].command
    assert '--accounts "$ACCOUNT"' in found[-1].command
    (settings,) = blocks("yaml")
    assert settings.startswith("# keyrotate.yaml")


@pytest.fixture
def organization(emulator: EmulatorServer) -> tuple[str, str]:
    """(the account to enforce first, the user due there), seeded as the document assumes."""
    # Not a test of IAM's delay for new keys: the enforce step's check of the new key passes
    # at once instead of after the emulator's few seconds.
    emulator.strictness = Strictness(key_propagation_seconds=0.0)
    url, now = emulator.url, datetime.now(UTC)
    builder = OrganizationBuilder(url)
    members = sorted(
        builder.account(f"member-{i}", f"member-{i}@example.com").account_id for i in range(2)
    )
    create_member_roles(url, members, ROLE)
    for account_id in (MANAGEMENT_ACCOUNT_ID, *members):  # the member-role stack everywhere
        iam = iam_client(url, account_id, ROLE)
        iam.create_policy(PolicyName=READ_POLICY, PolicyDocument=read_own_secret_policy(account_id))
        iam.create_group(GroupName=GROUP)
    chosen = members[0]
    due = UserSpec(
        "billing-export", [KeySpec(95, used_days_ago=1)], {"ResourceOwner": "a@example.com"}
    )
    seed_users(url, chosen, [due], now, role_name=ROLE)
    seed_users(url, members[1], [UserSpec("ci-runner", [KeySpec(20, used_days_ago=1)])], now)
    return chosen, due.name


def operator_profile(folder: Path, endpoint: str) -> Path:
    """The profile the document names, as a laptop would have it, reaching the emulator."""
    config = folder / "aws-config"
    config.write_text(
        f"[profile {PROFILE}]\n"
        "aws_access_key_id = testing\n"
        "aws_secret_access_key = testing\n"
        "region = us-east-1\n"
        f"endpoint_url = {endpoint}\n",
        "utf-8",
    )
    return config


def test_a_newcomer_can_follow_the_first_run_document_word_for_word(
    emulator: EmulatorServer,
    organization: tuple[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    account, user = organization
    monkeypatch.chdir(tmp_path)
    (settings,) = blocks("yaml")
    Path("keyrotate.yaml").write_text(settings, "utf-8")
    env: dict[str, str | None] = {
        "AWS_CONFIG_FILE": str(operator_profile(tmp_path, emulator.url)),
        "ACCOUNT": account,
        # Only the profile, nothing of the test process's own AWS set-up, but for the
        # endpoint: the check of a new key (keyrotate.aws.verify) makes its client outside
        # the profile, so the profile's endpoint_url would not reach it.
        "AWS_ENDPOINT_URL": emulator.url,
        "AWS_ACCESS_KEY_ID": None,
        "AWS_SECRET_ACCESS_KEY": None,
        "AWS_SESSION_TOKEN": None,
        "AWS_REGION": None,
        "AWS_DEFAULT_REGION": None,
    }
    for step in steps():
        with monkeypatch.context() as patch:
            for name, value in env.items():
                if value is None:
                    patch.delenv(name, raising=False)
                else:
                    patch.setenv(name, value)
            words = shlex.split(os.path.expandvars(step.command))
            result = CliRunner().invoke(main, words[1:], catch_exceptions=False)
        assert result.exit_code == step.expected_exit, (step.command, result.stdout, result.stderr)

    # What the document says happened: the audit wrote a report and mails and changed
    # nothing; the enforce run rotated the one due user in the chosen account only.
    assert Path("first-audit.json").is_file()
    assert list(Path("keyrotate-mail").glob("*.eml"))
    enforced = json.loads(Path("first-enforce.json").read_text("utf-8"))
    assert {a["account_id"] for a in enforced["accounts"]} == {account}
    (rotated,) = [k for k in enforced["keys"] if k["action"] == "ROTATE"]
    assert (rotated["user_name"], rotated["outcome"]) == (user, "done")
    assert rotated["new_key_verified"] is True
    keys = iam_client(emulator.url, account, ROLE).list_access_keys(UserName=user)
    assert len(keys["AccessKeyMetadata"]) == 2  # the old key, and its replacement

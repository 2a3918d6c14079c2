"""Incident response through the CLI against the emulator (docs/incident-response.md):
honest outcomes (``partial``), ``keyrotate rotate --compromised``, ``keyrotate restore`` and
keys reactivated by hand. An organization of the management account alone, a few users.

Time: the CLI reads the real clock. Where a test needs days to pass, it moves the recorded
past instead (:func:`tests.functional.clock_support.pass_days`, or one record by hand): for
the engine, "deactivated 11 days ago" and "the clock moved 11 days on" are the same input.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner

from keyrotate.cli import main
from keyrotate.domain import state_tags as tags
from keyrotate.domain.models import Reason
from keyrotate_emulator.seed import (
    MANAGEMENT_ACCOUNT_ID,
    KeySpec,
    OrganizationBuilder,
    UserSpec,
    age_key,
    read_own_secret_policy,
    seed_users,
)
from tests.functional.clock_support import pass_days

ACCOUNT = MANAGEMENT_ACCOUNT_ID
OWNER = "owner@example.com"
READ_POLICY = "keyrotate-read-own-secret"


@dataclass(frozen=True)
class Cli:
    code: int
    stdout: str
    stderr: str

    @property
    def report(self) -> dict[str, Any]:
        assert self.stdout.lstrip().startswith("{"), (self.code, self.stderr)
        document: dict[str, Any] = json.loads(self.stdout)
        return document


@pytest.fixture
def mail_dir(tmp_path: Path) -> Path:
    return tmp_path / "mail"


@pytest.fixture
def cli(mail_dir: Path) -> Any:
    env = {
        "IAMRoleName": "keyrotate-member",
        "EmailTransport": "file",
        "MailDir": str(mail_dir),
        "EmailSender": "keyrotate@example.com",
        "AdminEmailAddress": "secops@example.com",
        "VerifyNewKeys": "false",  # no STS wait per new key: not what these tests are about
    }

    def invoke(*args: str, json_output: bool = True) -> Cli:
        extra = ["--output", "json"] if json_output else []
        result = CliRunner().invoke(main, [*args, *extra], env=env, catch_exceptions=False)
        return Cli(result.exit_code, result.stdout, result.stderr)

    return invoke


def _org(
    endpoint: str, now: datetime, *users: UserSpec, read_policy: bool = True
) -> dict[str, list[str]]:
    OrganizationBuilder(endpoint)
    seeded = seed_users(endpoint, ACCOUNT, users, now)
    if read_policy:
        boto3.client("iam").create_policy(
            PolicyName=READ_POLICY, PolicyDocument=read_own_secret_policy(ACCOUNT)
        )
    return {name: [k.key_id for k in keys] for name, keys in seeded.items()}


def _owned(name: str, *keys: KeySpec, **extra: str) -> UserSpec:
    return UserSpec(name, keys, tags={"ResourceOwner": OWNER, **extra})


def _statuses(user: str) -> dict[str, str]:
    keys = boto3.client("iam").list_access_keys(UserName=user)["AccessKeyMetadata"]
    return {k["AccessKeyId"]: k["Status"] for k in keys}


def _user_tags(user: str) -> dict[str, str]:
    found = boto3.client("iam").list_user_tags(UserName=user)["Tags"]
    return {t["Key"]: t["Value"] for t in found}


def _secret_key_id(user: str) -> str:
    name = f"keyrotate/{ACCOUNT}/{user}"
    value = boto3.client("secretsmanager").get_secret_value(SecretId=name)["SecretString"]
    key_id: str = json.loads(value)["AccessKeyId"]
    return key_id


def _backdate(user: str, *tag_keys: str, days: float) -> None:
    """Move keyrotate's records on ``user`` ``days`` into the past (the clock moving on)."""
    now = datetime.now(UTC)
    moved = {k: tags.stamp(now - timedelta(days=days)) for k in tag_keys}
    boto3.client("iam").tag_user(
        UserName=user, Tags=[{"Key": k, "Value": v} for k, v in moved.items()]
    )


def _records(report: Mapping[str, Any], user: str) -> dict[str, dict[str, Any]]:
    return {r["access_key_id"]: r for r in report["keys"] if r["user_name"] == user}


def _mails_to(mail_dir: Path, address: str) -> list[Path]:
    return [p for p in mail_dir.rglob("*.eml") if address in p.name]


# honest outcomes -------------------------------------------------------------------------------
def test_rotations_whose_read_grant_fails_are_partial_shown_counted_grouped_and_exit_1(
    moto_endpoint: str, cli: Any, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    names = [f"svc-{i}" for i in range(4)]
    _org(
        moto_endpoint,
        now,
        *(UserSpec(n, (KeySpec(95, True, 1),)) for n in names),
        read_policy=False,
    )
    report_file = tmp_path / "report.json"

    run = cli("run", "--enforce", "--report", str(report_file), json_output=False)

    assert run.code == 1, run.stderr
    assert "ROTATE" in run.stdout
    assert "partial" in run.stdout
    document = json.loads(report_file.read_text())
    assert document["summary"]["partial_actions"] == 4
    assert document["summary"]["failed_actions"] == 0
    rotations = [r for r in document["keys"] if r["action"] == "ROTATE"]
    assert {r["outcome"] for r in rotations} == {"partial"}
    assert all("granting the user read access failed" in r["error"] for r in rotations)
    problems = [line for line in run.stderr.splitlines() if line.startswith("problem:")]
    assert len(problems) == 1, run.stderr
    assert "ROTATE partial for 4 users" in problems[0]
    assert "... and 1 more" in problems[0]
    for name in names:  # the keys stand: stored, and the grant is owed
        assert _secret_key_id(name) in _statuses(name)
        assert _user_tags(name)[tags.USER_GRANT_PENDING] == "true"


def test_a_read_grant_still_owed_that_fails_again_is_partial_and_exit_1_until_it_works(
    moto_endpoint: str, cli: Any, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    _org(moto_endpoint, now, UserSpec("svc-owed", (KeySpec(95, True, 1),)), read_policy=False)
    first = cli("run", "--enforce", json_output=False)
    assert first.code == 1, first.stderr  # rotated; the grant owed through the user tag
    assert _user_tags("svc-owed")[tags.USER_GRANT_PENDING] == "true"
    report_file = tmp_path / "report.json"

    # Nothing is due now (the key is new): only the owed grant is tried, and denied again.
    again = cli("run", "--enforce", "--report", str(report_file), json_output=False)

    assert again.code == 1, again.stderr
    document = json.loads(report_file.read_text())
    assert document["summary"]["partial_actions"] == 1
    assert document["summary"]["owed_grants"] == 1
    assert document["summary"]["outcomes"] == {}  # no change was made in this run
    (current,) = [r for r in document["keys"] if r["current"]]
    assert "granting the user read access failed" in current["owed"]
    problems = [line for line in again.stderr.splitlines() if line.startswith("problem:")]
    assert len(problems) == 1, again.stderr
    assert f"ROTATE partial for 1 user ({ACCOUNT}:svc-owed)" in problems[0]
    assert "owed since an earlier run" in problems[0]
    assert _user_tags("svc-owed")[tags.USER_GRANT_PENDING] == "true"

    boto3.client("iam").create_policy(
        PolicyName=READ_POLICY, PolicyDocument=read_own_secret_policy(ACCOUNT)
    )
    settled = cli("run", "--enforce")

    assert settled.code == 0, settled.stderr
    assert settled.report["summary"]["partial_actions"] == 0
    assert tags.USER_GRANT_PENDING not in _user_tags("svc-owed")
    attached = boto3.client("iam").list_attached_user_policies(UserName="svc-owed")
    assert [p["PolicyName"] for p in attached["AttachedPolicies"]] == [READ_POLICY]


# rotate --compromised ------------------------------------------------------------------------
def test_a_compromised_key_is_off_at_once_replaced_and_deleted_after_the_recovery_window(
    moto_endpoint: str, cli: Any, mail_dir: Path
) -> None:
    now = datetime.now(UTC)
    (old,) = _org(moto_endpoint, now, _owned("svc-leak", KeySpec(30, True, 0.5)))["svc-leak"]

    run = cli("rotate", f"{ACCOUNT}:svc-leak", "--compromised", "--enforce")

    assert run.code == 0, run.stderr
    statuses = _statuses("svc-leak")
    assert statuses[old] == "Inactive"  # no install window
    new = _secret_key_id("svc-leak")
    assert new != old
    assert statuses[new] == "Active"
    records = _records(run.report, "svc-leak")
    assert records[old]["reason"] == Reason.COMPROMISED.sentence
    assert tags.USER_COMPROMISED + old in _user_tags("svc-leak")
    assert _mails_to(mail_dir, OWNER), "the owner is told"

    # The next runs keep the leaked key for its recovery window, then delete it: its age
    # (30 days, far from the 110 of delete_after) does not matter.
    pass_days(ACCOUNT, ["svc-leak"], 9)
    assert cli("run", "--enforce").code == 0
    assert old in _statuses("svc-leak")
    pass_days(ACCOUNT, ["svc-leak"], 2)
    later = cli("run", "--enforce")
    assert later.code == 0, later.stderr
    assert _statuses("svc-leak") == {new: "Active"}


def test_a_compromised_user_without_a_free_key_slot_loses_its_key_and_is_warned(
    moto_endpoint: str, cli: Any
) -> None:
    now = datetime.now(UTC)
    old, current = _org(
        moto_endpoint, now, _owned("svc-two", KeySpec(40, False), KeySpec(30, True, 0.5))
    )["svc-two"]
    _backdate("svc-two", tags.USER_DEACTIVATED + old, days=2)  # deactivated 2 days ago

    run = cli("rotate", f"{ACCOUNT}:svc-two", "--compromised", "--enforce")

    assert run.code == 0, run.stderr
    assert _statuses("svc-two") == {old: "Inactive", current: "Inactive"}
    assert "warning: no new key for" in run.stderr
    assert "older one must be retired first" in run.stderr

    again = cli("rotate", f"{ACCOUNT}:svc-two", "--compromised")  # both keys are off now
    assert again.code == 0, again.stderr
    assert "the user has no active key to replace" in again.stderr


def test_rotate_is_an_audit_unless_enforce_and_without_compromised_keeps_the_old_key(
    moto_endpoint: str, cli: Any
) -> None:
    now = datetime.now(UTC)
    (old,) = _org(moto_endpoint, now, _owned("svc-app", KeySpec(30, True, 0.5)))["svc-app"]

    audit = cli("rotate", f"{ACCOUNT}:svc-app", "--compromised")
    assert audit.code == 0, audit.stderr
    assert "nothing was changed" in audit.stderr
    assert _statuses("svc-app") == {old: "Active"}
    assert [r["outcome"] for r in audit.report["keys"]] == ["planned"]

    forced = cli("rotate", f"{ACCOUNT}:svc-app", "--enforce")
    assert forced.code == 0, forced.stderr
    new = _secret_key_id("svc-app")
    assert _statuses("svc-app") == {old: "Active", new: "Active"}  # the usual install window
    assert _records(forced.report, "svc-app")[old]["reason"] == Reason.FORCED.sentence


def test_unknown_users_out_of_scope_accounts_and_exempt_users_are_refused_with_exit_2(
    moto_endpoint: str, cli: Any
) -> None:
    now = datetime.now(UTC)
    seeded = _org(
        moto_endpoint,
        now,
        _owned("svc-app", KeySpec(30, True, 0.5)),
        _owned("svc-exempt", KeySpec(30, True, 0.5), **{"keyrotate:exempt": "vendor appliance"}),
    )
    cases = {
        ("rotate", f"{ACCOUNT}:nobody", "--enforce"): "has no IAM user named 'nobody'",
        ("rotate", "999999999999:svc-app", "--enforce"): "out of scope (not in the organization)",
        ("rotate", f"{ACCOUNT}:svc-exempt", "--compromised", "--enforce"): "is exempt",
        ("run", "--enforce", "--force-user", f"{ACCOUNT}:nobody"): "has no IAM user named",
        ("run", "--enforce", "--force-user", "999999999999:svc-app"): "out of scope",
        ("rotate", "not-a-target"): "use ACCOUNTID:USERNAME",
    }
    for args, why in cases.items():
        run = cli(*args)
        assert run.code == 2, (args, run.stdout, run.stderr)
        assert why in run.stderr, (args, run.stderr)
        assert "vendor appliance" in run.stderr or "exempt" not in why
    for name, keys in seeded.items():
        assert _statuses(name) == {k: "Active" for k in keys}, "nothing was changed"


# restore and snooze ---------------------------------------------------------------------------
def _deactivated_by_keyrotate(endpoint: str, cli: Any, now: datetime) -> tuple[str, str]:
    """svc-db's old key A, replaced by B 22 days ago: an enforce run deactivates A."""
    a, b = _org(endpoint, now, _owned("svc-db", KeySpec(112, True, 9), KeySpec(22, True, 1)))[
        "svc-db"
    ]
    run = cli("run", "--enforce")
    assert run.code == 0, run.stderr
    assert _statuses("svc-db") == {a: "Inactive", b: "Active"}
    return a, b


def test_restore_reactivates_the_key_and_the_next_run_holds_it_until_the_snooze_ends(
    moto_endpoint: str, cli: Any, mail_dir: Path
) -> None:
    a, b = _deactivated_by_keyrotate(moto_endpoint, cli, datetime.now(UTC))
    told = len(_mails_to(mail_dir, OWNER))

    audit = cli("restore", f"{ACCOUNT}:svc-db", a)
    assert audit.code == 0, audit.stderr
    assert "Nothing was changed" in audit.stderr
    assert _statuses("svc-db")[a] == "Inactive"

    restored = cli("restore", f"{ACCOUNT}:svc-db", a, "--days", "5", "--enforce")
    assert restored.code == 0, restored.stderr
    assert _statuses("svc-db") == {a: "Active", b: "Active"}
    until = _user_tags("svc-db")[tags.USER_SNOOZE + a]
    assert tags.parse_stamp(until) is not None
    assert _records(restored.report, "svc-db")[a]["reason"] == Reason.SNOOZED.sentence
    assert len(_mails_to(mail_dir, OWNER)) > told, "the owner is told"

    after = cli("run", "--enforce")
    assert after.code == 0, after.stderr
    assert _statuses("svc-db") == {a: "Active", b: "Active"}
    record = _records(after.report, "svc-db")[a]
    assert (record["action"], record["reason"]) == ("HOLD", Reason.SNOOZED.sentence)
    assert record["due"][:16] == until[:16]

    calendar = cli("plan").report["calendar"]  # and in the plan: held now, then judged again
    held = [r for r in calendar if r["access_key_id"] == a]
    assert (held[0]["action"], held[0]["reason"]) == ("HOLD", Reason.SNOOZED.sentence)


def test_restore_refuses_keys_it_did_not_deactivate_or_whose_window_is_over(
    moto_endpoint: str, cli: Any
) -> None:
    a, b = _deactivated_by_keyrotate(moto_endpoint, cli, datetime.now(UTC))
    refused = {
        (b,): "has no record of deactivating",
        (a, "--days", "31"): "use 1 to 30 days",
        (a, "--days", "0"): "use 1 to 30 days",
    }
    for args, why in refused.items():
        run = cli("restore", f"{ACCOUNT}:svc-db", *args, "--enforce")
        assert run.code == 2, (args, run.stderr)
        assert why in run.stderr, (args, run.stderr)
    _backdate("svc-db", tags.USER_DEACTIVATED + a, days=11)
    late = cli("restore", f"{ACCOUNT}:svc-db", a, "--enforce")
    assert late.code == 2, late.stderr
    assert "recovery window ended" in late.stderr
    assert _statuses("svc-db") == {a: "Inactive", b: "Active"}


def test_a_leaked_key_is_never_restored(moto_endpoint: str, cli: Any) -> None:
    (old,) = _org(moto_endpoint, datetime.now(UTC), _owned("svc-leak", KeySpec(30, True, 0.5)))[
        "svc-leak"
    ]
    assert cli("rotate", f"{ACCOUNT}:svc-leak", "--compromised", "--enforce").code == 0
    run = cli("restore", f"{ACCOUNT}:svc-leak", old, "--enforce")
    assert run.code == 2
    assert "compromised" in run.stderr
    assert _statuses("svc-leak")[old] == "Inactive"


def test_a_key_reactivated_by_hand_and_used_is_snoozed_recorded_and_reported(
    moto_endpoint: str, cli: Any
) -> None:
    now = datetime.now(UTC)
    a, b = _deactivated_by_keyrotate(moto_endpoint, cli, now)
    boto3.client("iam").update_access_key(UserName="svc-db", AccessKeyId=a, Status="Active")
    age_key(ACCOUNT, a, now - timedelta(days=112), datetime.now(UTC))  # a consumer uses it

    run = cli("run", "--enforce")

    assert run.code == 0, run.stderr
    assert _statuses("svc-db") == {a: "Active", b: "Active"}
    record = _records(run.report, "svc-db")[a]
    assert (record["action"], record["reason"]) == ("HOLD", Reason.REACTIVATED_BY_HAND.sentence)
    assert tags.USER_SNOOZE + a in _user_tags("svc-db")
    (account,) = run.report["accounts"]
    assert any("reactivated by hand" in note and a in note for note in account["notes"])
    again = cli("run", "--enforce")  # the recorded snooze now holds it, as a restore would
    assert _records(again.report, "svc-db")[a]["reason"] == Reason.SNOOZED.sentence

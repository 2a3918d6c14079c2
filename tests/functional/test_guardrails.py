"""The guardrails of an enforce run and the loud exemptions, through ``keyrotate run``.

Each test builds a small organization of its own in the emulator (moto over HTTP, with fault
injection), runs the CLI in this process and reads what it reports and what AWS holds after:

- the caps (``MaxActionsPerAccount``, ``MaxActionsPerRun``): the first N changes in a stable
  order (accounts by id, users by name), a user's DELETE-then-ROTATE never split; the rest
  listed as deferred, with why, and the run exits 0 (deferred is not failed);
- the failure breaker: an account whose changes fail stops changing, and so does the rest of
  the run; the run exits 1 (its failures);
- the kill switch: an SSM parameter flipped to ``on`` while the run is going turns the
  remaining accounts into audits; missing or unreadable, it counts as on;
- exemptions: a missing exemption group, an unreadable exemption tag and an exemption about
  to end are notes in the report and in the admin digest.

The account and user names sort the way the tests need; accounts are given work in the
order of their ids (moto draws them), which is the order the run's budget is granted in.
"""

from __future__ import annotations

import email
import email.policy
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from keyrotate_emulator.faults import Fault
from keyrotate_emulator.seed import (
    MANAGEMENT_ACCOUNT_ID,
    KeySpec,
    OrganizationBuilder,
    SeededKey,
    UserSpec,
    create_member_roles,
    iam_client,
    seed_users,
)
from keyrotate_emulator.server import EmulatorServer
from tests.strict_emulator import TEST_STRICTNESS

from .org_support import CliRun, account_entries, client, reset_moto, run_cli

ROLE = "keyrotate-member"
READ_POLICY = "keyrotate-read-own-secret"
GROUP = "IAMKeyRotationExemptionGroup"
KILL_SWITCH = "/keyrotate/kill-switch"

# One change: a lone inactive key past deletion. Two: an inactive key to delete to make room
# for the rotation of the active, overdue one (SPEC's DELETE then ROTATE).
ONE = (KeySpec(120, active=False),)
TWO = (KeySpec(130, active=False), KeySpec(95, used_days_ago=1))


@dataclass(frozen=True)
class Org:
    accounts: tuple[str, ...]  # member account ids, sorted: the order of the run's budget
    keys: dict[tuple[str, str], list[SeededKey]]  # (account id, user) -> seeded keys

    def key_ids(self, account_id: str, user: str) -> set[str]:
        return {k.key_id for k in self.keys[(account_id, user)]}


@pytest.fixture(scope="module")
def _server(_moto_server: str) -> Iterator[EmulatorServer]:
    # Over the same moto state as the session's server, with faults of its own.
    with EmulatorServer(strictness=TEST_STRICTNESS) as server:
        yield server


@pytest.fixture
def server(_server: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorServer]:
    reset_moto(_server.url)
    _server.clear_faults()
    _server.reset_calls()
    monkeypatch.setenv("AWS_ENDPOINT_URL", _server.url)
    yield _server
    _server.clear_faults()


def build_org(
    url: str, now: datetime, layout: Sequence[Sequence[UserSpec]], *, group: bool = True
) -> Org:
    """Member accounts with these users, the first layout to the lowest account id; each with
    the read-own-secret policy and (``group``) the exemption group, as member-role.yaml
    makes them."""
    builder = OrganizationBuilder(url)
    made = [builder.account(f"member-{i}", f"member-{i}@example.com") for i in range(len(layout))]
    accounts = tuple(sorted(a.account_id for a in made))
    create_member_roles(url, accounts, ROLE)
    keys: dict[tuple[str, str], list[SeededKey]] = {}
    for account_id, specs in zip(accounts, layout, strict=True):
        seeded = seed_users(url, account_id, specs, now, role_name=ROLE)
        keys.update(((account_id, user), found) for user, found in seeded.items())
        iam = iam_client(url, account_id, ROLE)
        iam.create_policy(PolicyName=READ_POLICY, PolicyDocument=_read_own_secret(account_id))
        if group and not any(GROUP in spec.groups for spec in specs):
            iam.create_group(GroupName=GROUP)
    return Org(accounts, keys)


def _read_own_secret(account_id: str) -> str:
    arn = f"arn:aws:secretsmanager:*:{account_id}:secret:keyrotate/{account_id}/${{aws:username}}-*"
    statement = {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": arn}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def enforce(org: Org, *args: str, env: Mapping[str, str] | None = None) -> CliRun:
    """``keyrotate run --enforce`` on the member accounts (the management account has none
    of the work, and would only shift the order)."""
    return run_cli(
        "--enforce",
        "--accounts",
        ",".join(org.accounts),
        *args,
        env={"IAMRoleName": ROLE, "VerifyNewKeys": "false", **(env or {})},
    )


def outcomes(report: Mapping[str, Any]) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """(account, user) -> [(action, outcome), ...] of every change, in report order."""
    found: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for record in report["keys"]:
        if record["action"] in {"ROTATE", "DEACTIVATE", "DELETE"}:
            key = (record["account_id"], record["user_name"])
            found.setdefault(key, []).append((record["action"], record["outcome"]))
    return found


def live_keys(org: Org, account_id: str, user: str) -> set[str]:
    iam = client(_url(), account_id, "iam")
    return {k["AccessKeyId"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]}


def _url() -> str:
    import os

    return os.environ["AWS_ENDPOINT_URL"]


@pytest.fixture
def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


# -- the caps ----------------------------------------------------------------------------------
def test_the_caps_let_through_the_first_changes_in_a_stable_order_and_defer_the_rest(
    server: EmulatorServer, now: datetime
) -> None:
    org = build_org(
        server.url,
        now,
        [
            # first account: 1 + 2 fit its cap of 3; carol's would be the 4th
            [UserSpec("alice", ONE), UserSpec("bob", TWO), UserSpec("carol", ONE)],
            # second: 2 of the run's 5 are left; alice's fits, bob's pair does not (never split)
            [UserSpec("alice", ONE), UserSpec("bob", TWO), UserSpec("carol", ONE)],
            # third: the run's cap was reached; nothing
            [UserSpec("alice", ONE)],
        ],
    )
    first, second, third = org.accounts
    run = enforce(
        org,
        "--workers",
        "3",
        env={"MaxActionsPerAccount": "3", "MaxActionsPerRun": "5"},
    )

    assert run.exit_code == 0, run.stderr  # deferred is not failed (README "Exit codes")
    report = run.report
    done, deferred = [("DELETE", "done")], [("DELETE", "deferred")]
    pair_done = [("DELETE", "done"), ("ROTATE", "done")]
    pair_deferred = [("DELETE", "deferred"), ("ROTATE", "deferred")]
    assert outcomes(report) == {
        (first, "alice"): done,
        (first, "bob"): pair_done,
        (first, "carol"): deferred,
        (second, "alice"): done,
        (second, "bob"): pair_deferred,
        (second, "carol"): deferred,
        (third, "alice"): deferred,
    }
    summary = report["summary"]
    assert (summary["deferred"], summary["failed_actions"]) == (5, 0)
    assert summary["outcomes"] == {"deferred": 5, "done": 4}

    notes = {(r["account_id"], r["user_name"]): r["note"] for r in report["keys"] if r["note"]}
    account_cap = "MaxActionsPerAccount (3) was reached in this account; the next run carries on"
    run_cap = "MaxActionsPerRun (5) was reached; the next run carries on"
    assert notes == {
        (first, "carol"): account_cap,
        (second, "bob"): run_cap,
        (second, "carol"): run_cap,
        (third, "alice"): run_cap,
    }
    entries = account_entries(report)
    assert f"1 change(s) deferred: {account_cap}" in entries[first]["notes"]
    assert f"3 change(s) deferred: {run_cap}" in entries[second]["notes"]
    assert any("5 change(s) were deferred" in note for note in report["notes"])
    assert "5 change(s) were deferred" in run.stderr  # said on the console too

    # What was deferred is untouched in IAM; the next run carries on from there.
    assert live_keys(org, second, "bob") == org.key_ids(second, "bob")
    assert live_keys(org, third, "alice") == org.key_ids(third, "alice")
    again = enforce(org, env={"MaxActionsPerAccount": "3", "MaxActionsPerRun": "5"})
    assert again.exit_code == 0, again.stderr
    assert outcomes(again.report)[(first, "carol")] == done
    assert outcomes(again.report)[(second, "bob")] == pair_done


# -- the failure breaker -------------------------------------------------------------------------
def test_the_breaker_stops_an_account_whose_changes_fail_and_then_the_run(
    server: EmulatorServer, now: datetime
) -> None:
    org = build_org(
        server.url,
        now,
        [
            [UserSpec(name, ONE) for name in ("alice", "bob", "carol", "dave")],
            [UserSpec(f"user-{i}", ONE) for i in range(7)],
            [UserSpec("alice", ONE)],
        ],
    )
    first, failing, last = org.accounts
    server.inject(
        Fault("iam", "DeleteAccessKey", kind="access_denied", times=None, account_id=failing)
    )
    # One account at a time: which accounts come after the trip is then the accounts' order.
    run = enforce(org, "--workers", "1")

    assert run.exit_code == 1  # the failed changes; the deferred ones are no failure
    found = outcomes(run.report)
    assert {found[(first, name)][0][1] for name in ("alice", "bob", "carol", "dave")} == {"done"}
    # 4 done in the first account, then failures: at the 5th, 5 of 5 in the account and
    # 5 of 9 in the run (FailureBreakerPercent 50, FailureBreakerMinActions 5): both trip.
    assert [found[(failing, f"user-{i}")][0][1] for i in range(7)] == [
        *["failed"] * 5,
        "deferred",
        "deferred",
    ]
    assert found[(last, "alice")] == [("DELETE", "deferred")]
    assert server.calls().total("iam", "DeleteAccessKey", failing) == 5

    entries = account_entries(run.report)
    assert entries[failing]["breaker_tripped"] is True
    (stopped,) = [n for n in entries[failing]["notes"] if "breaker" in n]
    assert stopped.startswith("the failure breaker tripped: 5 of 5 changes failed in this account")
    assert stopped.endswith("2 change(s) deferred to the next run")
    assert entries[last]["breaker_tripped"] is True
    (later,) = [n for n in entries[last]["notes"] if "breaker" in n]
    assert "5 of 9 changes failed in this run" in later
    assert entries[first]["breaker_tripped"] is False
    summary = run.report["summary"]
    assert (summary["breaker_trips"], summary["failed_actions"], summary["deferred"]) == (2, 5, 3)
    assert live_keys(org, last, "alice") == org.key_ids(last, "alice")


# -- the kill switch -----------------------------------------------------------------------------
class _FlipAfterFirstAccount(logging.Handler):
    """Turns the kill switch on as the first account finishes (the service logs each account
    done, in the worker thread, before the next account starts: with one worker, the flip
    happens between two accounts)."""

    def __init__(self, url: str) -> None:
        super().__init__(logging.DEBUG)
        self.url = url
        self.flipped_after: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.flipped_after is None and record.getMessage().startswith("account "):
            self.flipped_after = str(record.args[0]) if record.args else None
            ssm = client(self.url, MANAGEMENT_ACCOUNT_ID, "ssm")
            ssm.put_parameter(Name=KILL_SWITCH, Value="on", Type="String", Overwrite=True)


@pytest.fixture
def flip_after_first_account(server: EmulatorServer) -> Iterator[_FlipAfterFirstAccount]:
    logger = logging.getLogger("keyrotate.service.account")
    handler = _FlipAfterFirstAccount(server.url)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_a_kill_switch_flipped_mid_run_turns_the_remaining_accounts_into_audits(
    server: EmulatorServer, now: datetime, flip_after_first_account: _FlipAfterFirstAccount
) -> None:
    org = build_org(server.url, now, [[UserSpec("alice", ONE)]] * 3)
    ssm = client(server.url, MANAGEMENT_ACCOUNT_ID, "ssm")
    ssm.put_parameter(Name=KILL_SWITCH, Value="off", Type="String")
    first, *rest = org.accounts

    run = enforce(org, "--workers", "1", env={"KillSwitchParameter": KILL_SWITCH})

    assert flip_after_first_account.flipped_after == first
    assert run.exit_code == 0, run.stderr
    report = run.report
    assert report["mode"] == "enforce"
    found = outcomes(report)
    assert found[(first, "alice")] == [("DELETE", "done")]
    entries = account_entries(report)
    for account in rest:
        assert found[(account, "alice")] == [("DELETE", "planned")]  # audited
        assert entries[account]["kill_switch"] is True
        assert f"the kill switch {KILL_SWITCH} is on" in " ".join(entries[account]["notes"])
        assert live_keys(org, account, "alice") == org.key_ids(account, "alice")
    assert entries[first]["kill_switch"] is False
    assert report["summary"]["kill_switch_accounts"] == 2
    assert any("2 account(s) were audited instead of enforced" in n for n in report["notes"])
    assert "kill switch" in run.stderr
    assert server.calls().total("ssm", "GetParameter") == 3  # read before each account


@pytest.mark.parametrize("problem", ["missing", "denied"])
def test_a_kill_switch_that_cannot_be_read_counts_as_on(
    server: EmulatorServer, now: datetime, problem: str
) -> None:
    org = build_org(server.url, now, [[UserSpec("alice", ONE)]])
    if problem == "denied":
        client(server.url, MANAGEMENT_ACCOUNT_ID, "ssm").put_parameter(
            Name=KILL_SWITCH, Value="off", Type="String"
        )
        server.inject(Fault("ssm", "GetParameter", kind="access_denied", times=None))
    run = enforce(org, env={"KillSwitchParameter": KILL_SWITCH})
    assert run.exit_code == 0, run.stderr
    (account,) = org.accounts
    assert outcomes(run.report)[(account, "alice")] == [("DELETE", "planned")]
    (note,) = [n for n in account_entries(run.report)[account]["notes"] if "kill switch" in n]
    said = "does not exist: treated as on" if problem == "missing" else "could not be read"
    assert said in note
    assert live_keys(org, account, "alice") == org.key_ids(account, "alice")


# -- enforce mode is announced ---------------------------------------------------------------------
@pytest.mark.parametrize("source", ["env", "file", "flag"])
def test_enforce_mode_is_announced_at_the_start_naming_what_turned_it_on(
    server: EmulatorServer, now: datetime, tmp_path: Path, source: str
) -> None:
    org = build_org(server.url, now, [[UserSpec("fresh", (KeySpec(10, used_days_ago=1),))]])
    env = {"IAMRoleName": ROLE, "VerifyNewKeys": "false"}
    args = ["--accounts", org.accounts[0]]
    if source == "env":
        env["DryRunFlag"] = "False"
    elif source == "file":
        config = tmp_path / "keyrotate.yaml"
        config.write_text("dry_run: false\n", encoding="utf-8")
        args += ["--config", str(config)]
    else:
        args.append("--enforce")
    run = run_cli(*args, env=env)
    assert run.exit_code == 0, run.stderr
    assert run.report["mode"] == "enforce"
    first_line = run.stderr.splitlines()[0]
    expected = {
        "env": "ENFORCE MODE: keys will be changed (the environment variable DryRunFlag=False)",
        "file": "ENFORCE MODE: keys will be changed "
        f"(dry_run: false in {tmp_path / 'keyrotate.yaml'})",
        "flag": "enforce mode (--enforce): keys will be changed",
    }[source]
    assert first_line == expected


def test_an_audit_is_not_announced(server: EmulatorServer, now: datetime) -> None:
    org = build_org(server.url, now, [[UserSpec("alice", ONE)]])
    run = run_cli("--accounts", org.accounts[0], env={"IAMRoleName": ROLE})
    assert run.exit_code == 0, run.stderr
    assert "enforce" not in run.stderr.lower()


# -- exemptions fail loudly ----------------------------------------------------------------------
def test_a_missing_group_an_unreadable_tag_and_an_ending_exemption_are_notes_in_report_and_digest(
    server: EmulatorServer, now: datetime, tmp_path: Path
) -> None:
    ends = (now + timedelta(days=3)).strftime("%Y-%m-%d")
    old = (KeySpec(200, used_days_ago=1),)
    org = build_org(
        server.url,
        now,
        [
            [UserSpec("grouped", old, groups=[GROUP])],  # the group exists here
            [
                UserSpec("vendor", old, tags={"keyrotate:exempt": "until=someday;reason=x"}),
                UserSpec("leaving", old, tags={"keyrotate:exempt": f"until={ends}"}),
            ],
        ],
        group=False,
    )
    with_group, without_group = org.accounts
    mail = tmp_path / "mail"
    run = run_cli(
        "--accounts",
        ",".join(org.accounts),
        env={
            "IAMRoleName": ROLE,
            "AdminEmailAddress": "secops@example.com",
            "EmailSender": "keyrotate@example.com",
            "EmailTransport": "file",
            "MailDir": str(mail),
        },
    )
    assert run.exit_code == 0, run.stderr
    entries = account_entries(run.report)
    assert entries[with_group]["notes"] == []
    notes = entries[without_group]["notes"]
    assert len(notes) == 3, notes
    missing, unreadable, ending = notes
    assert missing.startswith(f"the exemption group {GROUP} does not exist in this account")
    assert unreadable.startswith("user vendor: its exemption tag keyrotate:exempt cannot be read")
    assert "'someday'" in unreadable
    assert ending.startswith(f"user leaving: its exemption (tag keyrotate:exempt) ends on {ends}")
    # the behaviour is SPEC's: both stay exempt (an unreadable end keeps the user exempt)
    actions = {r["user_name"]: r["action"] for r in run.report["keys"]}
    assert (actions["vendor"], actions["leaving"], actions["grouped"]) == ("EXEMPT",) * 3

    (digest,) = mail.glob("admin-*.eml")
    text = _text_part(digest)
    assert "NOTES" in text
    for note in notes:
        line = f"- {entries[without_group]['name']} ({without_group}): {note}"
        assert line in " ".join(text.split())


def _text_part(path: Path) -> str:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())  # type: ignore[attr-defined]

"""The two scan paths against the emulator: same plans, fresh reads before changes, fallback,
call budget, paging at 100 users.

The emulator (moto over HTTP with IAM paging at 100, a call counter and a fault injector)
runs in this process, so keys are aged in moto's backend (``seed_users``).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from keyrotate.aws.session import AccountSessions
from keyrotate.domain.credential_report import is_report_key_id
from keyrotate.domain.models import Account, ActionKind, Plan
from keyrotate.domain.results import AccountResult
from keyrotate.service.account import run_account
from keyrotate_emulator import EmulatorServer, Fault
from keyrotate_emulator.seed import KeySpec, UserSpec, age_key, seed_users
from tests.run_options import run_options

ACCOUNT = "123456789012"
GROUP = "IAMKeyRotationExemptionGroup"


@pytest.fixture
def server(emulator: EmulatorServer) -> EmulatorServer:
    """The shared emulator, empty, paging IAM at 100 as real IAM does."""
    emulator.iam_page_size = 100
    return emulator


@pytest.fixture
def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _key(age: float, used: float | None = 1, active: bool = True) -> KeySpec:
    return KeySpec(age_days=age, active=active, used_days_ago=used)


# SPEC.md worked examples and the other cases a scan must get right, one user each.
SPEC_USERS = (
    UserSpec("fresh", [_key(30)], tags={"ResourceOwner": "team-a@example.com"}),
    UserSpec("warn-rotation", [_key(85)]),
    UserSpec("rotate", [_key(95)], tags={"ResourceOwner": "team-b@example.com"}),
    UserSpec("unused", [_key(95, None)]),
    UserSpec("switched", [_key(101, 12), _key(11, 1)]),
    UserSpec("install-window", [_key(101, 1), _key(3, 1)]),
    UserSpec("hold", [_key(101, 1), _key(11, None)]),
    UserSpec("delete-inactive", [_key(111, None, active=False), _key(21, 1)]),
    UserSpec("lone-inactive", [_key(120, None, active=False)]),
    UserSpec("delete-then-rotate", [_key(130, None, active=False), _key(95, 1)]),
    UserSpec("shared", [_key(101, 1), _key(11, 1)]),
    UserSpec("previous-idle", [_key(101, 9), _key(11, 1)]),
    # A "used", but not within in_use_days: a recent use would HOLD it (rule 7)
    UserSpec("blocked", [_key(400, 30), _key(200, 1)]),
    UserSpec("two-young-keys", [_key(20, 1), _key(10, 1)]),
    UserSpec("young-inactive", [_key(40, None, active=False), _key(20, 1)]),
    UserSpec("exempt-group", [_key(200, 1)], groups=[GROUP]),
    UserSpec("exempt-tag", [_key(200, 1)], tags={"keyrotate:exempt": "vendor appliance"}),
    UserSpec("no-keys"),
)


def _seed(now: datetime, specs: tuple[UserSpec, ...] | list[UserSpec] = SPEC_USERS) -> Any:
    return seed_users("", ACCOUNT, specs, now)


def _sessions() -> AccountSessions:
    return AccountSessions(
        boto3.Session(), "keyrotate-member", region="us-east-1", assume_in_own_account=False
    )


def _run(
    scan_mode: str,
    now: datetime,
    *,
    enforce: bool = False,
    sessions: AccountSessions | None = None,
) -> AccountResult:
    return run_account(
        Account(ACCOUNT, "management", "owner@example.com"),
        sessions or _sessions(),
        run_options(
            dry_run=not enforce, read_policy_name=None, scan_mode=scan_mode, verify_new_keys=False
        ),
        now=now,
        clock=lambda: now,
    )


def _plans(result: AccountResult) -> dict[str, Plan]:
    """Each user's plan; a placeholder current key (nothing due, ids never read) shows as
    ``None``: its actions are the comparison that matters, and they carry real ids."""
    assert result.error is None, result.error
    plans = {}
    for user in result.users:
        plan = user.plan
        if plan.current_key_id and is_report_key_id(plan.current_key_id):
            assert all(a.kind is ActionKind.EXEMPT for a in plan.actions), plan
            plan = Plan(plan.user_name, None, plan.actions)
        plans[user.user_name] = plan
    return plans


def _same_plans(left: AccountResult, right: AccountResult) -> None:
    """Equal plans, where a user with a placeholder on one side has nothing due on both."""
    mine, theirs = _plans(left), _plans(right)
    assert set(mine) == set(theirs)
    for name, plan in mine.items():
        other = theirs[name]
        if plan.current_key_id is None or other.current_key_id is None:
            assert plan.actions == other.actions, name
        else:
            assert plan == other, name


def _kinds(result: AccountResult, user: str) -> list[str]:
    return [a.kind.value for a in _plans(result)[user].actions]


def _needing_action(result: AccountResult) -> int:
    return sum(
        1 for u in result.users if any(a.kind is not ActionKind.EXEMPT for a in u.plan.actions)
    )


def test_report_path_and_per_user_path_plan_every_spec_row_identically(
    server: EmulatorServer, now: datetime
) -> None:
    _seed(now)
    per_user = _run("per-user", now)
    report = _run("report", now)
    assert (per_user.scan_path, report.scan_path) == ("per-user", "credential-report")
    assert report.notes == ()
    _same_plans(report, per_user)
    expected = {
        "fresh": [],
        "warn-rotation": ["WARN"],
        "rotate": ["ROTATE"],
        "unused": ["DEACTIVATE"],
        "switched": ["DEACTIVATE"],
        "install-window": ["WARN"],
        "hold": ["HOLD"],
        "shared": ["HOLD"],
        "previous-idle": ["DEACTIVATE"],
        "delete-inactive": ["DELETE"],
        "lone-inactive": ["DELETE"],
        "delete-then-rotate": ["DELETE", "ROTATE"],
        "blocked": ["DEACTIVATE", "BLOCKED"],
        "two-young-keys": [],
        "young-inactive": [],
        "exempt-group": ["EXEMPT"],
        "exempt-tag": ["EXEMPT"],
        "no-keys": [],
    }
    assert {name: _kinds(report, name) for name in expected} == expected
    owners = {u.user_name: u.owner for u in report.users}
    assert owners["fresh"] == "team-a@example.com"
    assert owners["rotate"] == "team-b@example.com"


def test_users_with_nothing_due_are_reported_from_the_report_under_placeholder_ids(
    server: EmulatorServer, now: datetime
) -> None:
    _seed(now)
    result = _run("report", now)
    by_name = {u.user_name: u for u in result.users}
    for quiet in ("fresh", "two-young-keys", "exempt-group"):
        assert by_name[quiet].keys, quiet
        assert all(is_report_key_id(k.key_id) for k in by_name[quiet].keys), quiet
    rotate = by_name["rotate"]
    assert not any(is_report_key_id(k.key_id) for k in rotate.keys)
    (action,) = rotate.plan.actions
    assert action.key_id == rotate.keys[0].key_id
    assert rotate.keys[0].last_used is not None  # last use came along from the report


def test_an_audit_spends_at_most_five_calls_per_account_and_two_per_user_needing_action(
    server: EmulatorServer, now: datetime
) -> None:
    _seed(now)
    server.reset_calls()
    result = _run("auto", now)
    calls = server.calls()
    needing = _needing_action(result)
    spent = calls.total("iam", account_id=ACCOUNT) + calls.total(
        "secretsmanager", account_id=ACCOUNT
    )
    assert result.scan_path == "credential-report"
    assert spent <= 5 + 2 * needing, calls.by_operation
    # Per user needing action: one ListAccessKeys; last use came from the report.
    assert calls.total("iam", "ListAccessKeys") == needing
    assert calls.total("iam", "GetAccessKeyLastUsed") == 0
    assert calls.total("iam", "ListUserTags") == calls.total("iam", "GetGroup") == 0
    assert calls.total("sts") <= 1  # GetCallerIdentity, once per run, not per account


def test_a_report_that_is_denied_falls_back_to_the_per_user_path_and_says_why(
    server: EmulatorServer, now: datetime
) -> None:
    _seed(now)
    expected = _run("per-user", now)
    server.inject(Fault("iam", "GenerateCredentialReport", kind="access_denied", times=None))
    result = _run("auto", now)
    assert result.scan_path == "per-user"
    assert len(result.notes) == 1
    assert "credential report unavailable" in result.notes[0]
    assert "AccessDenied" in result.notes[0]
    assert _plans(result) == _plans(expected)


def test_scan_mode_report_fails_the_account_when_the_report_is_denied_naming_the_fix(
    server: EmulatorServer, now: datetime
) -> None:
    _seed(now)
    server.inject(Fault("iam", "GetCredentialReport", kind="access_denied", times=None))
    result = _run("report", now)
    assert result.error is not None
    assert "iam:GetCredentialReport" in result.error
    assert "ScanMode" in result.error
    assert result.users == ()


def test_a_denied_authorization_details_call_falls_back_to_tags_per_user(
    server: EmulatorServer, now: datetime
) -> None:
    _seed(now)
    expected = _run("per-user", now)
    server.inject(Fault("iam", "GetAccountAuthorizationDetails", kind="access_denied", times=None))
    server.reset_calls()
    result = _run("auto", now)
    assert result.scan_path == "credential-report"
    assert any("GetAccountAuthorizationDetails" in n for n in result.notes)
    _same_plans(result, expected)  # exemptions by group and tag still seen
    assert server.calls().total("iam", "ListUserTags") == len(SPEC_USERS)


def test_both_paths_page_through_more_than_one_hundred_users(
    server: EmulatorServer, now: datetime
) -> None:
    specs = [
        UserSpec(f"bulk-{i:03d}", [_key(95 if i % 10 == 0 else 30)], groups=[GROUP] * (i == 7))
        for i in range(150)
    ]
    _seed(now, specs)
    server.reset_calls()
    report = _run("report", now)
    assert server.calls().total("iam", "GetAccountAuthorizationDetails") == 2
    per_user = _run("per-user", now)
    assert len(report.users) == len(per_user.users) == 150
    _same_plans(report, per_user)
    assert sum(_kinds(report, u.user_name) == ["ROTATE"] for u in report.users) == 15
    assert _kinds(report, "bulk-007") == ["EXEMPT"]


# -- a stale report never causes a wrong change ------------------------------------------------
class _Body:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: object) -> Iterator[bytes]:
        yield self._body


def _replay_report(session: boto3.Session, csv: bytes) -> None:
    """Make every GetCredentialReport of ``session`` answer ``csv``: an hours-old report."""
    xml = (
        '<GetCredentialReportResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'
        "<GetCredentialReportResult>"
        f"<Content>{base64.b64encode(csv).decode()}</Content>"
        "<ReportFormat>text/csv</ReportFormat>"
        "<GeneratedTime>2015-02-02T20:02:02Z</GeneratedTime>"
        "</GetCredentialReportResult>"
        "<ResponseMetadata><RequestId>stale</RequestId></ResponseMetadata>"
        "</GetCredentialReportResponse>"
    ).encode()

    def answer(request: Any, **_: object) -> AWSResponse:
        return AWSResponse(request.url, 200, {"Content-Type": "text/xml"}, _Body(xml))

    session.events.register("before-send.iam.GetCredentialReport", answer)


def _report_now() -> bytes:
    iam = boto3.client("iam")
    iam.generate_credential_report()
    content: bytes = iam.get_credential_report()["Content"]
    return content


def test_a_stale_report_saying_the_consumer_switched_never_deactivates_a_key_in_use(
    server: EmulatorServer, now: datetime
) -> None:
    # When the report was made, A was last used before B existed: DEACTIVATE A.
    seeded = _seed(now, [UserSpec("svc", [_key(101, 12), _key(11, None)])])
    old, new = (k.key_id for k in seeded["svc"])
    stale = _report_now()
    # Since then the consumer used A again and never B: it has not switched (SPEC rule 7).
    age_key(ACCOUNT, old, now - timedelta(days=101), now - timedelta(hours=1))
    sessions = _sessions()
    _replay_report(sessions.base, stale)
    result = _run("report", now, enforce=True, sessions=sessions)
    assert result.scan_path == "credential-report"
    assert _kinds(result, "svc") == ["HOLD"]
    keys = boto3.client("iam").list_access_keys(UserName="svc")["AccessKeyMetadata"]
    assert {k["AccessKeyId"]: k["Status"] for k in keys} == {old: "Active", new: "Active"}


def test_a_stale_report_showing_a_key_since_replaced_changes_nothing(
    server: EmulatorServer, now: datetime
) -> None:
    seeded = _seed(now, [UserSpec("svc", [_key(95)])])
    (old,) = (k.key_id for k in seeded["svc"])
    stale = _report_now()  # says: one 95-day-old key, ROTATE
    iam = boto3.client("iam")
    iam.delete_access_key(UserName="svc", AccessKeyId=old)
    replacement = iam.create_access_key(UserName="svc")["AccessKey"]["AccessKeyId"]
    for enforce in (False, True):
        sessions = _sessions()
        _replay_report(sessions.base, stale)
        result = _run("report", now, enforce=enforce, sessions=sessions)
        assert _kinds(result, "svc") == []
        (user,) = result.users
        assert [k.key_id for k in user.keys] == [replacement]
    keys = iam.list_access_keys(UserName="svc")["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [replacement]
    assert boto3.client("secretsmanager").list_secrets()["SecretList"] == []


def test_enforce_rereads_last_use_for_every_key_it_may_change(
    server: EmulatorServer, now: datetime
) -> None:
    _seed(now, [UserSpec("svc", [_key(101, 12), _key(11, 1)]), UserSpec("quiet", [_key(5)])])
    server.reset_calls()
    result = _run("report", now, enforce=True)
    assert _kinds(result, "svc") == ["DEACTIVATE"]
    calls = server.calls()
    assert calls.total("iam", "ListAccessKeys") == 1  # "quiet" is settled by the report
    assert calls.total("iam", "GetAccessKeyLastUsed") == 2  # both of svc's keys, fresh

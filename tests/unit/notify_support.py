"""Hand-built run results for the notification tests: every action kind and outcome, owner
tags shared across accounts, failed and skipped accounts, and hostile names.

``FAKE_SECRET`` has the shape of a secret access key (40 characters of base64). No result
record can carry it; the tests put it where a careless renderer could pick it up (a secret's
stored value, SMTP credentials) and scan every mail for it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from keyrotate.domain.models import (
    AccessKey,
    Account,
    Action,
    ActionKind,
    KeyStatus,
    Plan,
    Reason,
)
from keyrotate.domain.results import (
    AccountResult,
    ActionResult,
    Outcome,
    RunReport,
    SecretLocation,
    UserResult,
)

NOW = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
DAY = timedelta(days=1)
FAKE_SECRET = "kR7xQ2mZ9vB4nT8wY1cL5pH3sD6fG0jA/+eU7iOq"
SECRET_SHAPED = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])")
HOSTILE = "<script>alert('x')</script>{{ 7*7 }}\"'"

PROD = Account("111111111111", "prod", "prod-owner@example.com")
DEV = Account("222222222222", "dev", "dev-owner@example.com")
BROKEN = Account("333333333333", "broken", "broken-owner@example.com")
SUSPENDED = Account("444444444444", "old", "old-owner@example.com", status="SUSPENDED")

REASON_FOR = {
    ActionKind.ROTATE: Reason.ROTATION_DUE,
    ActionKind.DEACTIVATE: Reason.REPLACED,
    ActionKind.DELETE: Reason.RECOVERY_ELAPSED,
    ActionKind.WARN: Reason.UPCOMING,
    ActionKind.HOLD: Reason.CONSUMER_NOT_SWITCHED,
    ActionKind.BLOCKED: Reason.NO_FREE_SLOT,
    ActionKind.EXEMPT: Reason.EXEMPT_GROUP,
}


def key_id(n: int) -> str:
    return f"AKIA{n:016d}"


def key(n: int, age_days: float, status: KeyStatus = KeyStatus.ACTIVE) -> AccessKey:
    return AccessKey(key_id(n), status, NOW - timedelta(days=age_days), NOW - DAY)


def secret_for(account: Account, user: str, region: str = "us-east-1") -> SecretLocation:
    name = f"keyrotate/{user}"
    arn = f"arn:aws:secretsmanager:{region}:{account.account_id}:secret:{name}-AbCdEf"
    return SecretLocation(name, arn, region, account.account_id, ("eu-west-1",))


def result(
    kind: ActionKind,
    outcome: Outcome,
    user: str,
    key_n: int | None,
    *,
    account: Account = PROD,
    overdue: bool = False,
    error: str | None = None,
) -> ActionResult:
    action = Action(
        kind=kind,
        user_name=user,
        key_id=key_id(key_n) if key_n is not None else None,
        reason=REASON_FOR[kind],
        due=NOW + 3 * DAY if kind in {ActionKind.WARN, ActionKind.BLOCKED} else NOW - DAY,
        upcoming=ActionKind.DEACTIVATE if kind is ActionKind.WARN else None,
        overdue=overdue,
    )
    new_key = kind is ActionKind.ROTATE and outcome is Outcome.DONE
    return ActionResult(
        action=action,
        outcome=outcome,
        error=error
        if error is not None
        else ("AccessDenied: iam:X" if outcome is Outcome.FAILED else None),
        new_key_id=key_id(900 + (key_n or 0)) if new_key else None,
        secret=secret_for(account, user) if new_key else None,
    )


def user(
    name: str,
    results: Iterable[ActionResult] = (),
    *,
    owner: str | None = None,
    keys: Iterable[AccessKey] = (),
) -> UserResult:
    done = tuple(results)
    plan = Plan(name, None, tuple(r.action for r in done))
    return UserResult(name, owner, tuple(keys), plan, done)


def report(mode: str, accounts: Iterable[AccountResult]) -> RunReport:
    return RunReport(mode, NOW, NOW + timedelta(minutes=3), tuple(accounts))


def change_outcome(mode: str) -> Outcome:
    return Outcome.DONE if mode == "enforce" else Outcome.PLANNED


def org_report(mode: str) -> RunReport:
    """A small organization with every action kind, owner tags, a failed and a skipped account.

    prod: alice ROTATE (+secret) and DEACTIVATE, owner team-a; bob WARN; carol HOLD (overdue);
    dave BLOCKED; erin EXEMPT only; frank no action; gina DELETE (FAILED in enforce).
    dev: hank ROTATE, owner team-a (the same owner across accounts, in another case).
    """
    change = change_outcome(mode)
    notice = Outcome.NOTICE
    prod = AccountResult(
        PROD,
        (
            user(
                "alice",
                [
                    result(ActionKind.ROTATE, change, "alice", 1),
                    result(ActionKind.DEACTIVATE, change, "alice", 2),
                ],
                owner="team-a@example.com",
                keys=[key(1, 95), key(2, 120)],
            ),
            user("bob", [result(ActionKind.WARN, notice, "bob", 3)], keys=[key(3, 85)]),
            user(
                "carol",
                [result(ActionKind.HOLD, notice, "carol", 4, overdue=True)],
                owner="team-b@example.com",
                keys=[key(4, 130), key(5, 20)],
            ),
            user("dave", [result(ActionKind.BLOCKED, notice, "dave", 6)], keys=[key(6, 200)]),
            user(
                "erin",
                [result(ActionKind.EXEMPT, notice, "erin", None)],
                owner="exempt-owner@example.com",
                keys=[key(7, 400)],
            ),
            user("frank", [], owner="quiet-owner@example.com", keys=[key(8, 10)]),
            user(
                "gina",
                [
                    result(
                        ActionKind.DELETE,
                        Outcome.FAILED if mode == "enforce" else change,
                        "gina",
                        9,
                    )
                ],
                keys=[key(9, 115, KeyStatus.INACTIVE)],
            ),
        ),
    )
    dev = AccountResult(
        DEV,
        (
            user(
                "hank",
                [result(ActionKind.ROTATE, change, "hank", 10, account=DEV)],
                owner="Team-A@example.com",
                keys=[key(10, 91)],
            ),
        ),
    )
    broken = AccountResult(BROKEN, error="AccessDenied: cannot assume role KeyRotationRole")
    skipped = AccountResult(SUSPENDED, skipped="account is SUSPENDED")
    return report(mode, [prod, dev, broken, skipped])


def hostile_report(mode: str = "enforce") -> RunReport:
    """Names, tags and errors that try to inject HTML or Jinja2."""
    account = Account("555555555555", HOSTILE, "hostile-owner@example.com")
    return report(
        mode,
        [
            AccountResult(
                account,
                (
                    user(
                        HOSTILE,
                        [
                            result(ActionKind.ROTATE, Outcome.DONE, HOSTILE, 1, account=account),
                            result(ActionKind.DELETE, Outcome.FAILED, HOSTILE, 2, error=HOSTILE),
                        ],
                        owner=HOSTILE,
                        keys=[key(1, 100)],
                    ),
                ),
            ),
            AccountResult(Account("666666666666", HOSTILE, "x@example.com"), error=HOSTILE),
        ],
    )


def parts(email: EmailMessage) -> tuple[str, str]:
    """The text and HTML parts of a multipart/alternative mail."""
    text = email.get_body(("plain",))
    html = email.get_body(("html",))
    assert text is not None
    assert html is not None
    return str(text.get_content()), str(html.get_content())  # type: ignore[attr-defined]


def assert_no_secret(blob: str) -> None:
    assert FAKE_SECRET not in blob
    assert SECRET_SHAPED.search(blob) is None, SECRET_SHAPED.search(blob)

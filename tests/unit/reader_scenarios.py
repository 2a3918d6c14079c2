"""Runs for what people read (mails, reports, tables): one user per action kind, the actions
planned by the engine itself at a fixed clock, so the dates in every snapshot are real.

``scenario_user(kind, mode)`` gives the user whose plan holds ``kind``; a kind with no
scenario here (one added to the domain later) gets a hand-made action, so it still renders
and gets its snapshot.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from keyrotate.domain.engine import plan
from keyrotate.domain.models import (
    AccessKey,
    Account,
    Action,
    ActionKind,
    Exemption,
    KeyState,
    KeyStatus,
    Plan,
    Reason,
    UserKeys,
)
from keyrotate.domain.policy import RotationPolicy
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
POLICY = RotationPolicy()
ACCOUNT = Account("111111111111", "prod", "prod-owner@example.com")
OTHER = Account("222222222222", "dev", "dev-owner@example.com")
REGION = "eu-west-1"
SECRET_FORMAT = "keyrotate/{account_id}/{user_name}"


def key_id(n: int) -> str:
    return f"AKIAEXAMPLE{n:09d}"


def _key(
    n: int, age: float, used: float | None = 1, status: KeyStatus = KeyStatus.ACTIVE
) -> AccessKey:
    return AccessKey(key_id(n), status, NOW - age * DAY, None if used is None else NOW - used * DAY)


def _inputs(kind: ActionKind) -> UserKeys | None:
    """Engine inputs whose plan at NOW holds ``kind`` (None: no natural scenario)."""
    name = f"svc-{kind.value.lower()}"
    if kind is ActionKind.ROTATE:
        return UserKeys(name, (_key(1, 95),), owner="team-a@example.com")
    if kind is ActionKind.DEACTIVATE:
        new = _key(3, 12, used=1)
        state = KeyState(secret_key_id=new.key_id, rotated_at=new.created)
        return UserKeys(name, (_key(2, 102, used=13), new), state)
    if kind is ActionKind.DELETE:
        new = _key(5, 25)
        state = KeyState(
            secret_key_id=new.key_id,
            rotated_at=new.created,
            deactivated_at={key_id(4): NOW - 12 * DAY},
        )
        return UserKeys(name, (_key(4, 125, 26, KeyStatus.INACTIVE), new), state)
    if kind is ActionKind.WARN:
        return UserKeys(name, (_key(6, 86),))
    if kind is ActionKind.HOLD:
        new = _key(8, 15, used=None)
        state = KeyState(secret_key_id=new.key_id, rotated_at=new.created)
        return UserKeys(name, (_key(7, 105, used=1), new), state, owner="team-b@example.com")
    if kind is ActionKind.BLOCKED:
        return UserKeys("svc,blocked", (_key(9, 95),), storable=False)
    if kind is ActionKind.EXEMPT:
        return UserKeys(name, (_key(10, 400),), exemption=Exemption("group"))
    return None


def _result(action: Action, mode: str, account: Account) -> ActionResult:
    if not action.kind.changes_keys:
        return ActionResult(action, Outcome.NOTICE)
    if mode == "audit":
        return ActionResult(action, Outcome.PLANNED)
    if action.kind is not ActionKind.ROTATE:
        return ActionResult(action, Outcome.DONE)
    name = SECRET_FORMAT.format(account_id=account.account_id, user_name=action.user_name)
    arn = f"arn:aws:secretsmanager:{REGION}:{account.account_id}:secret:{name}-AbCdEf"
    return ActionResult(
        action,
        Outcome.DONE,
        new_key_id=key_id(900 + int(action.key_id[-3:]) if action.key_id else 900),
        secret=SecretLocation(name, arn, REGION, account.account_id),
        verified=True,
    )


def scenario_user(kind: ActionKind, mode: str, account: Account = ACCOUNT) -> UserResult:
    inputs = _inputs(kind)
    if inputs is None:  # a kind this module does not know yet: one hand-made action
        inputs = UserKeys(f"svc-{kind.value.lower()}", (_key(11, 50),))
        reason = next(iter(Reason))
        action = Action(kind, inputs.user_name, key_id(11), reason, NOW + 3 * DAY)
        user_plan = Plan(inputs.user_name, key_id(11), (action,))
    else:
        user_plan = plan(inputs, POLICY, now=NOW)
    results = tuple(_result(a, mode, account) for a in user_plan.actions)
    return UserResult(inputs.user_name, inputs.owner, inputs.keys, user_plan, results, inputs)


def scenario_report(mode: str, kinds: tuple[ActionKind, ...] = tuple(ActionKind)) -> RunReport:
    """One account with a user per kind, a quiet user, a second account with a rotation,
    a failed and a skipped account."""
    quiet = UserKeys("svc-quiet", (_key(12, 20),))
    users = [scenario_user(kind, mode) for kind in kinds]
    users.append(
        UserResult(quiet.user_name, None, quiet.keys, plan(quiet, POLICY, now=NOW), (), quiet)
    )
    accounts = [
        AccountResult(ACCOUNT, tuple(users)),
        AccountResult(OTHER, (scenario_user(ActionKind.ROTATE, mode, OTHER),)),
        AccountResult(
            Account("333333333333", "broken", "broken@example.com"),
            error="AccessDenied: cannot assume role KeyRotationRole",
        ),
        AccountResult(
            Account("444444444444", "old", "old@example.com", status="SUSPENDED"),
            skipped="account is SUSPENDED",
        ),
    ]
    return RunReport(mode, NOW, NOW + timedelta(minutes=3), tuple(accounts))

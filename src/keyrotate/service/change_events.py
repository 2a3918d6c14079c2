"""keyrotate's changes as EventBridge events (docs/events.md), so consumers and SIEMs react.

One event per change an enforce run made: a key rotated, deactivated or deleted (done, or
done in part), a key held (rule 7), and a key restored (``keyrotate restore``). Audit runs
publish nothing: they change nothing. Source ``keyrotate``; the detail-type names the change;
the detail is :func:`detail` (schema version 1) and never holds a secret: key ids, names,
ARNs, dates and reasons only.

Publishing is off unless ``EventBusName`` is set (``default`` for the account's default
bus). It never fails a run: what could not be published becomes a note of the account
(:mod:`keyrotate.service.publishing`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from keyrotate.aws.events import Event, EventBus
from keyrotate.domain.models import Account, ActionKind
from keyrotate.domain.results import AccountResult, ActionResult, Outcome, SecretLocation

SCHEMA_VERSION = 1
RESTORE = "RESTORE"

DETAIL_TYPES: dict[str, str] = {
    ActionKind.ROTATE.value: "Access Key Rotated",
    ActionKind.DEACTIVATE.value: "Access Key Deactivated",
    ActionKind.DELETE.value: "Access Key Deleted",
    ActionKind.HOLD.value: "Access Key Held",
    RESTORE: "Access Key Restored",
}
# A change that stands: done, or done in part (the key exists and is stored; a later step
# such as the read grant is owed, and the detail's error says so).
_STANDS = frozenset({Outcome.DONE, Outcome.PARTIAL})


@dataclass(frozen=True, slots=True)
class Change:
    """What an event says, before it is an event: one key, one action, one account."""

    action: str
    account: Account
    user_name: str
    access_key_id: str | None
    reason: str
    reason_code: str
    outcome: str
    due: datetime | None = None
    new_access_key_id: str | None = None
    secret: SecretLocation | None = None
    overdue: bool = False
    error: str | None = None


def detail(change: Change, *, run_id: str, occurred_at: datetime) -> dict[str, Any]:
    """The event's detail: docs/events.md's schema, field for field."""
    secret = change.secret
    return {
        "schema_version": SCHEMA_VERSION,
        "action": change.action,
        "outcome": change.outcome,
        "account_id": change.account.account_id,
        "account_name": change.account.name,
        "user_name": change.user_name,
        "access_key_id": change.access_key_id,
        "new_access_key_id": change.new_access_key_id,
        "reason": change.reason,
        "reason_code": change.reason_code,
        "due": change.due.isoformat() if change.due else None,
        "occurred_at": occurred_at.isoformat(),
        "overdue": change.overdue,
        "error": change.error,
        "secret": None
        if secret is None
        else {
            "name": secret.name,
            "arn": secret.arn,
            "region": secret.region,
            "account_id": secret.account_id,
        },
        "run_id": run_id,
    }


def changes_of(result: AccountResult) -> list[Change]:
    """The changes an enforce run made in one account, and its holds, in the report's order."""
    found: list[Change] = []
    for user in result.users:
        for outcome in user.results:
            change = _change(result.account, user.user_name, outcome)
            if change is not None:
                found.append(change)
    return found


def _change(account: Account, user_name: str, result: ActionResult) -> Change | None:
    action = result.action
    if action.kind.changes_keys and result.outcome not in _STANDS:
        return None  # planned (audit), failed, skipped or deferred: nothing happened
    if not action.kind.changes_keys and action.kind is not ActionKind.HOLD:
        return None  # WARN, BLOCKED, EXEMPT: notices, which the report and mails carry
    return Change(
        action=action.kind.value,
        account=account,
        user_name=user_name,
        access_key_id=action.key_id,
        reason=action.reason.sentence,
        reason_code=action.reason.name,
        outcome=result.outcome.value,
        due=action.due,
        new_access_key_id=result.new_key_id,
        secret=result.secret,
        overdue=action.overdue,
        error=result.error,
    )


def restore_change(
    account: Account,
    user_name: str,
    access_key_id: str,
    *,
    reason: str,
    snoozed_until: datetime | None = None,
    secret: SecretLocation | None = None,
) -> Change:
    """A key ``keyrotate restore`` reactivated; ``due``: when its snooze ends."""
    return Change(
        action=RESTORE,
        account=account,
        user_name=user_name,
        access_key_id=access_key_id,
        reason=reason,
        reason_code="RESTORED",
        outcome=Outcome.DONE.value,
        due=snoozed_until,
        secret=secret,
    )


def to_events(changes: Iterable[Change], *, run_id: str, now: datetime) -> list[Event]:
    return [
        Event(
            detail_type=DETAIL_TYPES[change.action],
            detail=detail(change, run_id=run_id, occurred_at=now),
            time=now,
            resources=(change.secret.arn,) if change.secret else (),
        )
        for change in changes
    ]


class ChangePublisher:
    """Where a run's changes go: an event bus, or nowhere (the default)."""

    def __init__(self, bus: EventBus | None, run_id: str) -> None:
        self.bus = bus
        self.run_id = run_id

    @property
    def enabled(self) -> bool:
        return self.bus is not None

    def publish(self, changes: Sequence[Change], *, now: datetime) -> list[str]:
        """Publish ``changes``; a note per event that could not be (never raises for AWS)."""
        if self.bus is None or not changes:
            return []
        failures = self.bus.put(to_events(changes, run_id=self.run_id, now=now))
        return [f"event not published to {self.bus.bus}: {f}" for f in failures]

"""Builders shared by the engine tests: keys and users described by age in days, as SPEC.md's
worked examples are, and a tiny executor that applies a plan the way the real one will.

Everything is relative to a fixed ``NOW``; ages are exact timedeltas (SPEC rule 6).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from keyrotate.domain import (
    AccessKey,
    Action,
    ActionKind,
    Exemption,
    KeyState,
    KeyStatus,
    Plan,
    UserKeys,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)
USER = "alice"

ACTIVE = KeyStatus.ACTIVE
INACTIVE = KeyStatus.INACTIVE


def ago(days: float | timedelta, now: datetime = NOW) -> datetime:
    """The moment ``days`` (a number of days, may be fractional, or a timedelta) before ``now``."""
    return now - (days if isinstance(days, timedelta) else timedelta(days=days))


def key(
    key_id: str,
    age_days: float | timedelta,
    status: KeyStatus = ACTIVE,
    *,
    used_days_ago: float | None = None,
    now: datetime = NOW,
) -> AccessKey:
    """A key ``age_days`` old at ``now``, last used ``used_days_ago`` (None: never)."""
    last_used = None if used_days_ago is None else ago(used_days_ago, now)
    return AccessKey(key_id, status, ago(age_days, now), last_used)


def user(
    *keys: AccessKey,
    state: KeyState | None = None,
    exemption: Exemption | None = None,
    forced: bool = False,
) -> UserKeys:
    return UserKeys(USER, tuple(keys), state or KeyState(), exemption=exemption, forced=forced)


def held_by_secret(current: AccessKey, **deactivated_days_ago: float) -> KeyState:
    """State after a rotation that created ``current``: the secret holds it since its creation.

    ``deactivated_days_ago`` maps key ids to when the tool deactivated them.
    """
    return KeyState(
        secret_key_id=current.key_id,
        rotated_at=current.created,
        deactivated_at={k: ago(d) for k, d in deactivated_days_ago.items()},
    )


@dataclass(frozen=True)
class Step:
    """What an action looked like, in the terms tests compare: kind, key, reason, due, etc."""

    kind: ActionKind
    key_id: str | None
    reason: object
    due: datetime | None
    upcoming: ActionKind | None = None
    overdue: bool = False


def steps(p: Plan) -> list[Step]:
    return [Step(a.kind, a.key_id, a.reason, a.due, a.upcoming, a.overdue) for a in p.actions]


def kinds(p: Plan) -> list[ActionKind]:
    return [a.kind for a in p.actions]


def changes(p: Plan) -> list[Action]:
    return [a for a in p.actions if a.kind.changes_keys]


class NewKeyIds:
    """Hands out fresh key ids for keys a simulated ROTATE creates."""

    def __init__(self, prefix: str = "AKIANEW") -> None:
        self._prefix = prefix
        self._count = 0

    def __call__(self) -> str:
        self._count += 1
        return f"{self._prefix}{self._count:09d}"


def apply_plan(
    u: UserKeys,
    p: Plan,
    now: datetime,
    new_key_id: NewKeyIds,
) -> UserKeys:
    """Apply the changing actions of ``p`` in order, as the enforce-mode executor does.

    DELETE removes the key; DEACTIVATE flips it and records ``deactivated_at``; ROTATE adds an
    active key created at ``now`` and makes it the secret's key with ``rotated_at = now``.
    Raises AssertionError on anything IAM would refuse (a third key, an unknown key id).
    """
    keys: dict[str, AccessKey] = {k.key_id: k for k in u.keys}
    state = u.state
    deactivated: dict[str, datetime] = dict(state.deactivated_at)
    for action in p.actions:
        kind, key_id = action.kind, action.key_id
        if kind is ActionKind.DELETE:
            assert key_id in keys, f"DELETE of unknown key {key_id}"
            del keys[key_id]
            deactivated.pop(key_id, None)
        elif kind is ActionKind.DEACTIVATE:
            assert key_id in keys, f"DEACTIVATE of unknown key {key_id}"
            keys[key_id] = replace(keys[key_id], status=INACTIVE)
            deactivated[key_id] = now
        elif kind is ActionKind.ROTATE:
            assert len(keys) < 2, f"ROTATE would create a third key for {u.user_name}"
            new = AccessKey(new_key_id(), ACTIVE, now, None)
            keys[new.key_id] = new
            state = replace(state, secret_key_id=new.key_id, rotated_at=now)
    return replace(
        u,
        keys=tuple(keys.values()),
        state=replace(state, deactivated_at=deactivated),
        forced=False,
    )


def use_key(u: UserKeys, key_id: str, at: datetime) -> UserKeys:
    """Record that the consumer used ``key_id`` at ``at`` (IAM's LastUsedDate)."""
    return replace(
        u, keys=tuple(replace(k, last_used=at) if k.key_id == key_id else k for k in u.keys)
    )


def key_ids(keys: Iterable[AccessKey]) -> list[str]:
    return [k.key_id for k in keys]

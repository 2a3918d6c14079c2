"""The calendar: which actions fall due between now and a date, and when (``keyrotate plan``).

It replays the engine one day at a time on a copy of the user's keys, applying each change
as enforce mode would, under one stated assumption: the consumer switches to a new key the
day after it appears (so a forecast shows no HOLD that has not already started). Pure:
nothing here reads AWS or a clock.

Example (defaults): A(80 days, used) from today to +40 days ->
    +10 ROTATE A, +20 DEACTIVATE A, +30 DELETE A
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from keyrotate.domain.engine import plan
from keyrotate.domain.models import AccessKey, ActionKind, KeyState, KeyStatus, Reason, UserKeys
from keyrotate.domain.policy import RotationPolicy
from keyrotate.domain.results import UserResult

DAY = timedelta(days=1)
SWITCH_DELAY = DAY  # the assumed consumer starts using a new key one day after it appears
_SHOWN = frozenset(
    {
        ActionKind.ROTATE,
        ActionKind.DEACTIVATE,
        ActionKind.DELETE,
        ActionKind.HOLD,
        ActionKind.BLOCKED,
        ActionKind.EXEMPT,
    }
)


@dataclass(frozen=True, slots=True)
class Forecast:
    """One calendar entry: on ``when``, ``kind`` for ``key_id`` of ``user_name``."""

    when: datetime
    user_name: str
    key_id: str | None
    kind: ActionKind
    reason: Reason


def forecast(
    user: UserKeys, policy: RotationPolicy, *, start: datetime, until: datetime
) -> list[Forecast]:
    """Every action from ``start`` to ``until`` (inclusive), first occurrence each."""
    keys = list(user.keys)
    state = user.state
    seen: set[tuple[ActionKind, str | None]] = set()
    entries: list[Forecast] = []
    created = 0
    moment = start
    while moment <= until:
        keys = [_switched(k, moment) for k in keys]
        first = moment == start  # the operator's word (forced, leaked) holds for today only
        today = replace(
            user,
            keys=tuple(keys),
            state=state,
            forced=user.forced and first,
            compromised=user.compromised and first,
        )
        for action in plan(today, policy, now=moment).actions:
            mark = (action.kind, action.key_id)
            if action.kind in _SHOWN and mark not in seen:
                seen.add(mark)
                entries.append(
                    Forecast(moment, user.user_name, action.key_id, action.kind, action.reason)
                )
            if action.kind is ActionKind.DELETE:
                keys = [k for k in keys if k.key_id != action.key_id]
            elif action.kind is ActionKind.DEACTIVATE and action.key_id is not None:
                keys = [
                    replace(k, status=KeyStatus.INACTIVE) if k.key_id == action.key_id else k
                    for k in keys
                ]
                dates = {**state.deactivated_at, action.key_id: moment}
                state = replace(state, deactivated_at=dates)
                if action.reason is Reason.COMPROMISED:
                    leaked = {**state.compromised_at, action.key_id: moment}
                    state = replace(state, compromised_at=leaked)
            elif action.reason is Reason.REACTIVATED_BY_HAND and action.due is not None:
                # as an enforce run records it: the snooze then ends on a fixed date
                snoozes = {**state.snoozed_until, str(action.key_id): action.due}
                state = replace(state, snoozed_until=snoozes)
            elif action.kind is ActionKind.ROTATE:
                created += 1
                new_id = f"(new key {created})"
                keys.append(AccessKey(new_id, KeyStatus.ACTIVE, moment))
                state = KeyState(
                    new_id,
                    moment,
                    state.deactivated_at,
                    None,
                    snoozed_until=state.snoozed_until,
                    compromised_at=state.compromised_at,
                )
        moment += DAY
    return entries


def judged_inputs(user: UserResult) -> UserKeys:
    """What the engine judged for ``user``, or the closest the result records can tell.

    A result read back from a report (a spilled run, the Lambda digest) has lost its engine
    inputs. Its keys, its plan's current key and its actions give them back, but for the
    recorded dates (rotated, deactivated), which the engine then estimates as it does for a
    key changed by someone else (SPEC terms): close enough to tell people what comes next.
    """
    if user.inputs is not None:
        return user.inputs
    reasons = {r.action.reason for r in user.results}
    return UserKeys(
        user.user_name,
        user.keys,
        KeyState(secret_key_id=user.plan.current_key_id),
        exemption=user.exemption,
        forced=Reason.FORCED in reasons,
        owner=user.owner,
        storable=Reason.UNSTORABLE_NAME not in reasons,
    )


def _switched(key: AccessKey, moment: datetime) -> AccessKey:
    """The assumed consumer: a key created by a rotation is in use a day after it appears."""
    if (
        key.last_used is None
        and key.key_id.startswith("(new key")
        and moment >= key.created + SWITCH_DELAY
    ):
        return replace(key, last_used=key.created + SWITCH_DELAY)
    return key

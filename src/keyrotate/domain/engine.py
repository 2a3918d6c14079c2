"""The key-lifecycle engine: SPEC.md as one pure function, :func:`plan`.

``plan(user, policy, now=...)`` reads nothing but its arguments and returns the ordered
actions for one IAM user. Worked example (defaults, ages in days)::

    A(400, active, used)                 -> ROTATE A            (B is created now)
    ten days later: A(410), B(10, used)  -> DEACTIVATE A        (install window over)
    ten days later: A(420, inactive)     -> DELETE A            (recovery window over)

Order of the returned actions is the order of execution: orphan deletes, then retiring
previous keys (rules 3-5), then the current key (rule 2), then WARNs. Keys are sorted by
(created, key id) first, so a plan never depends on the order IAM listed them in.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from keyrotate.domain.models import (
    AccessKey,
    Action,
    ActionKind,
    Plan,
    Reason,
    UserKeys,
)
from keyrotate.domain.policy import RotationPolicy, UnusedKeyAction

ORPHAN_WINDOW = timedelta(minutes=15)
"""A key created this soon after an intent marker, held by no secret, is an orphan."""

ROTATE = ActionKind.ROTATE
DEACTIVATE = ActionKind.DEACTIVATE
DELETE = ActionKind.DELETE
WARN = ActionKind.WARN
HOLD = ActionKind.HOLD
BLOCKED = ActionKind.BLOCKED


def _sort_key(key: AccessKey) -> tuple[datetime, str]:
    return key.created, key.key_id


def is_orphan(key: AccessKey, user: UserKeys) -> bool:
    """A key an interrupted rotation created and never stored (SPEC "Executing a rotation")."""
    intent = user.state.intent_at
    return (
        intent is not None
        and key.key_id != user.state.secret_key_id
        and intent <= key.created <= intent + ORPHAN_WINDOW
    )


def current_key(keys: list[AccessKey], secret_key_id: str | None) -> AccessKey | None:
    """The active key recorded in the user's secret, else the newest active key."""
    newest: AccessKey | None = None
    for key in keys:
        if not key.active:
            continue
        if key.key_id == secret_key_id:
            return key
        newest = key  # keys are sorted oldest first
    return newest


def plan(user: UserKeys, policy: RotationPolicy, *, now: datetime) -> Plan:
    """Plan one user's keys at ``now`` under ``policy`` (SPEC.md rules 1-10)."""
    name = user.user_name
    exemption = user.exemption
    if exemption is not None and exemption.applies(now):
        reason = Reason.EXEMPT_GROUP if exemption.source == "group" else Reason.EXEMPT_TAG
        return Plan(name, None, (Action(ActionKind.EXEMPT, name, None, reason, None),))

    keys = sorted(user.keys, key=_sort_key) if len(user.keys) > 1 else list(user.keys)
    first: list[Action] = []  # deletes come before anything that needs a free key slot
    if user.state.intent_at is not None:
        for key in [k for k in keys if is_orphan(k, user)]:
            first.append(Action(DELETE, name, key.key_id, Reason.ORPHAN, key.created))
            keys.remove(key)
    if not keys:
        return Plan(name, None, tuple(first))

    state = user.state
    current = current_key(keys, state.secret_key_id)
    middle: list[Action] = []
    warns: list[Action] = []
    # When each previous key will have left its slot: the date a blocked rotation can run.
    slot_free_at: datetime | None = None
    slots_freed = 0
    warn_before = policy.warn_before

    if current is not None:
        rotated_at = current.created
        if state.secret_key_id == current.key_id and state.rotated_at is not None:
            rotated_at = state.rotated_at
        install_done = rotated_at + policy.install_window

    for key in keys:
        if key is current:
            continue
        if key.active:  # rule 3 (current is not None: an active key exists)
            due = max(key.created + policy.deactivate_after, install_done)
            if now < due:
                if due - now <= warn_before:
                    warns.append(Action(WARN, name, key.key_id, Reason.UPCOMING, due, DEACTIVATE))
                free_at = max(key.created + policy.delete_after, due + policy.recovery_window)
            elif (
                policy.hold_if_previous_in_use
                and current is not None
                and current.last_used is None
                and key.last_used is not None
                and key.last_used > current.created
            ):  # rule 7
                # SPEC rule 7: a HOLD "older than" hold_escalate_after_days is overdue.
                overdue = now - due > policy.hold_escalate_after
                middle.append(
                    Action(HOLD, name, key.key_id, Reason.CONSUMER_NOT_SWITCHED, due, None, overdue)
                )
                free_at = max(key.created + policy.delete_after, now + policy.recovery_window)
            else:
                middle.append(Action(DEACTIVATE, name, key.key_id, Reason.REPLACED, due))
                free_at = max(key.created + policy.delete_after, now + policy.recovery_window)
        else:  # rules 4 and 5
            deactivated_at = state.deactivated_at.get(key.key_id)
            if deactivated_at is None:  # deactivated by someone else: estimate (SPEC terms)
                if current is not None:
                    deactivated_at = current.created + policy.install_window
                else:
                    deactivated_at = key.created + policy.deactivate_after
            due = max(key.created + policy.delete_after, deactivated_at + policy.recovery_window)
            if now >= due:
                first.append(Action(DELETE, name, key.key_id, Reason.RECOVERY_ELAPSED, due))
                slots_freed += 1
                continue
            if due - now <= warn_before:
                warns.append(Action(WARN, name, key.key_id, Reason.UPCOMING, due, DELETE))
            free_at = due
        if slot_free_at is None or free_at > slot_free_at:
            slot_free_at = free_at

    if current is not None:
        others_active = any(k.active and k is not current for k in keys)
        keys_left = len(keys) - slots_freed
        _plan_current(
            user, current, others_active, keys_left, slot_free_at, policy, now, middle, warns
        )

    return Plan(name, current.key_id if current else None, (*first, *middle, *warns))


def _plan_current(
    user: UserKeys,
    current: AccessKey,
    others_active: bool,
    keys_left: int,
    slot_free_at: datetime | None,
    policy: RotationPolicy,
    now: datetime,
    out: list[Action],
    warns: list[Action],
) -> None:
    """Rule 2 (and 9, forced rotation) for the current key."""
    name = user.user_name
    due = current.created + policy.rotate_after
    unused = (
        current.last_used is None
        and policy.unused_key_action is UnusedKeyAction.DEACTIVATE
        and not others_active  # nobody is waiting to switch to it: rule 7's case otherwise
    )
    if user.forced:
        due, reason = now, Reason.FORCED
    elif now < due:
        if due - now <= policy.warn_before:
            upcoming = DEACTIVATE if unused else ROTATE
            warns.append(Action(WARN, name, current.key_id, Reason.UPCOMING, due, upcoming))
        return
    elif unused:
        out.append(Action(DEACTIVATE, name, current.key_id, Reason.UNUSED, due))
        return
    else:
        reason = Reason.ROTATION_DUE
    if keys_left >= 2:
        out.append(Action(BLOCKED, name, current.key_id, Reason.NO_FREE_SLOT, slot_free_at))
    else:
        out.append(Action(ROTATE, name, current.key_id, reason, due))

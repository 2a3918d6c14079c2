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

from collections.abc import Sequence
from datetime import datetime, timedelta

from keyrotate.domain.models import (
    AccessKey,
    Action,
    ActionKind,
    KeyState,
    KeyStatus,
    Plan,
    Reason,
    UserKeys,
    new_action,
    new_plan,
)
from keyrotate.domain.policy import RotationPolicy, UnusedKeyAction

ORPHAN_WINDOW = timedelta(minutes=15)
"""A key created this soon after an intent marker, held by no secret, is an orphan."""

SELF_USE_MARGIN = timedelta(hours=4)
"""IAM records a key's last use some time after the call (it lags by minutes, at times by
hours): a last use this soon after the tool's own use of the key is taken to be the tool's."""

DEFAULT_SNOOZE_DAYS = 7
"""How long a restored key (or one reactivated by hand) is kept from being deactivated again."""
MIN_SNOOZE_DAYS, MAX_SNOOZE_DAYS = 1, 30
""":command:`keyrotate restore --days` bounds: a snooze is a reprieve, not an exemption."""
DEFAULT_SNOOZE = timedelta(days=DEFAULT_SNOOZE_DAYS)

ROTATE = ActionKind.ROTATE
DEACTIVATE = ActionKind.DEACTIVATE
DELETE = ActionKind.DELETE
WARN = ActionKind.WARN
HOLD = ActionKind.HOLD
BLOCKED = ActionKind.BLOCKED
EXEMPT = ActionKind.EXEMPT
_ACTIVE = KeyStatus.ACTIVE
_UNUSED_DEACTIVATE = UnusedKeyAction.DEACTIVATE


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


def consumer_last_used(key: AccessKey, state: KeyState) -> datetime | None:
    """When a consumer last used ``key``: its last use, unless that was the tool's own.

    SPEC rule 7: the tool checks every key it creates with STS right after storing it, and
    IAM records that call like any other. The tool records when it last used the key its
    secret holds (``self_used_at``; a secret written before that record existed has only
    ``rotated_at``, and the check followed it within minutes). A last use at or before that
    moment plus :data:`SELF_USE_MARGIN` is the tool's: the key counts as never used.
    """
    last = key.last_used
    if last is None or key.key_id != state.secret_key_id:
        return last
    own = state.self_used_at if state.self_used_at is not None else state.rotated_at
    if own is not None and last <= own + SELF_USE_MARGIN:
        return None
    return last


def snooze_of(key: AccessKey, state: KeyState, now: datetime) -> tuple[datetime, Reason] | None:
    """Until when an active ``key`` must not be deactivated, and why; None: no snooze.

    - restored (``keyrotate restore``): the snooze recorded after its last deactivation,
      until it ends;
    - reactivated by hand: keyrotate recorded a deactivation, the key is active again and a
      consumer used it since (so someone needed it: a failed deactivation leaves the record
      on a key nobody used since, which is simply deactivated again). Treated as a snooze
      of :data:`DEFAULT_SNOOZE` from ``now``; an enforce run records it, so it ends.

    A leaked key (``compromised_at``) is never snoozed.
    """
    if key.status is not _ACTIVE or key.key_id in state.compromised_at:
        return None
    deactivated = state.deactivated_at.get(key.key_id)
    until = state.snoozed_until.get(key.key_id)
    if until is not None and (deactivated is None or until > deactivated):
        return (until, Reason.SNOOZED) if now < until else None
    if deactivated is None:
        return None
    used = consumer_last_used(key, state)
    if used is not None and used > deactivated:
        return now + DEFAULT_SNOOZE, Reason.REACTIVATED_BY_HAND
    return None


def _incident(user: UserKeys, keys: Sequence[AccessKey]) -> bool:
    """Whether a leak, a snooze or a reactivation by hand may concern ``user``'s keys."""
    state = user.state
    if user.compromised or state.compromised_at or state.snoozed_until:
        return True
    deactivated = state.deactivated_at
    return bool(deactivated) and any(k.status is _ACTIVE and k.key_id in deactivated for k in keys)


def _leaked(key: AccessKey, user: UserKeys) -> bool:
    """An active key to deactivate at once: reported leaked now, or earlier and reactivated."""
    return key.status is _ACTIVE and (user.compromised or key.key_id in user.state.compromised_at)


def current_key(keys: Sequence[AccessKey], secret_key_id: str | None) -> AccessKey | None:
    """The active key recorded in the user's secret, else the newest active key."""
    newest: AccessKey | None = None
    for key in keys:
        if key.status is not _ACTIVE:
            continue
        if key.key_id == secret_key_id:
            return key
        newest = key  # keys are sorted oldest first
    return newest


_EXEMPT_REASONS = {
    "group": Reason.EXEMPT_GROUP,
    "protected": Reason.PROTECTED,
    "account": Reason.EXEMPT_ACCOUNT,
    "ou": Reason.EXEMPT_OU,
}


def plan(user: UserKeys, policy: RotationPolicy, *, now: datetime) -> Plan:
    """Plan one user's keys at ``now`` under ``policy`` (SPEC.md rules 1-10).

    Written for speed (a scan plans every user of an organization): no sorting or copying for
    one key, module-level constants instead of enum attribute lookups, one pass over the keys.
    """
    name = user.user_name
    exemption = user.exemption
    if exemption is not None and exemption.applies(now):
        reason = _EXEMPT_REASONS.get(exemption.source, Reason.EXEMPT_TAG)
        return new_plan(name, None, (new_action(EXEMPT, name, None, reason, None),))

    keys = user.keys
    state = user.state
    intent = state.intent_at
    if intent is not None and now < intent + ORPHAN_WINDOW:
        return _rotation_in_progress(user, intent)
    orphans: tuple[Action, ...] = ()  # deleted before anything else, then the rest is planned
    if intent is not None:
        keys, orphans = _drop_orphans(user)
    elif len(keys) == 2:
        older, newer = keys
        if newer.created < older.created or (
            newer.created == older.created and newer.key_id < older.key_id
        ):
            keys = (newer, older)  # oldest first, as sorted() by (created, key id) would
    elif len(keys) > 2:  # IAM allows two keys; stay correct if that ever changes
        keys = tuple(sorted(keys, key=_sort_key))

    # Zero or one key, the common case: no previous key, no slot logic, no list built.
    if not keys:
        return new_plan(name, None, orphans)
    incident = _incident(user, keys)
    if len(keys) == 1 and not incident:
        key = keys[0]
        if key.status is _ACTIVE:
            if not user.forced and key.created + policy.rotate_after - now > policy.warn_before:
                return new_plan(name, key.key_id, orphans)  # young: not even warned yet
            action = _current_action(user, key, False, 1, None, policy, now)
            return new_plan(name, key.key_id, orphans if action is None else (*orphans, action))
        action = _retire_inactive(name, key, None, state, policy, now)
        return new_plan(name, None, orphans if action is None else (*orphans, action))

    first = list(orphans)  # deletes come before anything that needs a free key slot
    current = current_key(keys, state.secret_key_id)
    middle: list[Action] = []
    warns: list[Action] = []
    # When each previous key will have left its slot: the date a blocked rotation can run.
    slot_free_at: datetime | None = None
    slots_freed = 0
    others_active = False
    warn_before = policy.warn_before

    if current is not None:
        rotated_at = current.created
        if state.secret_key_id == current.key_id and state.rotated_at is not None:
            rotated_at = state.rotated_at
        install_done = rotated_at + policy.install_window

    for key in keys:
        if key is current:
            continue
        snooze = snooze_of(key, state, now) if incident else None
        if incident and _leaked(key, user):  # _leaked: an active key
            others_active = True
            middle.append(new_action(DEACTIVATE, name, key.key_id, Reason.COMPROMISED, now))
            free_at = now + policy.recovery_window
        elif snooze is not None:  # restored or reactivated by hand: HOLD-like until it ends
            others_active = True
            middle.append(new_action(HOLD, name, key.key_id, snooze[1], snooze[0]))
            free_at = max(key.created + policy.delete_after, snooze[0] + policy.recovery_window)
        elif key.status is _ACTIVE:  # rule 3 (current is not None: an active key exists)
            others_active = True
            due = max(key.created + policy.deactivate_after, install_done)
            if now < due:
                if due - now <= warn_before:
                    warns.append(
                        new_action(WARN, name, key.key_id, Reason.UPCOMING, due, DEACTIVATE)
                    )
                free_at = max(key.created + policy.delete_after, due + policy.recovery_window)
            elif (
                policy.hold_if_previous_in_use
                and current is not None
                and key.last_used is not None
                and key.last_used > current.created
                and now - key.last_used <= policy.in_use
            ):  # rule 7: a consumer still depends on the old key
                reason = (
                    Reason.CONSUMER_NOT_SWITCHED
                    if consumer_last_used(current, state) is None
                    else Reason.STILL_IN_USE  # both keys in use: a shared key
                )
                # SPEC rule 7: a HOLD "older than" hold_escalate_after_days is overdue.
                overdue = now - due > policy.hold_escalate_after
                middle.append(new_action(HOLD, name, key.key_id, reason, due, None, overdue))
                free_at = max(key.created + policy.delete_after, now + policy.recovery_window)
            else:
                middle.append(new_action(DEACTIVATE, name, key.key_id, Reason.REPLACED, due))
                free_at = max(key.created + policy.delete_after, now + policy.recovery_window)
        else:  # rules 4 and 5
            due = _delete_due(key, current, state, policy)
            if now >= due:
                first.append(new_action(DELETE, name, key.key_id, Reason.RECOVERY_ELAPSED, due))
                slots_freed += 1
                continue
            if due - now <= warn_before:
                warns.append(new_action(WARN, name, key.key_id, Reason.UPCOMING, due, DELETE))
            free_at = due
        if slot_free_at is None or free_at > slot_free_at:
            slot_free_at = free_at

    if current is None:
        return new_plan(name, None, (*first, *middle, *warns))
    keys_left = len(keys) - slots_freed
    if incident and _leaked(current, user):
        # Deactivated before the new key is made: should the rotation fail, the leaked key
        # is off all the same (docs/incident-response.md). No HOLD, no install window.
        middle.append(new_action(DEACTIVATE, name, current.key_id, Reason.COMPROMISED, now))
        if user.compromised:
            rotation = _rotation(user, current, keys_left, slot_free_at, Reason.COMPROMISED, now)
            middle.append(rotation)
        return new_plan(name, current.key_id, (*first, *middle, *warns))
    action = _current_action(user, current, others_active, keys_left, slot_free_at, policy, now)
    snooze = snooze_of(current, state, now) if incident else None
    if snooze is not None and (
        action is None
        or action.kind is DEACTIVATE
        or (action.kind is WARN and action.upcoming is DEACTIVATE)
    ):  # a rotation may go on: it deactivates nothing before the install window
        action = new_action(HOLD, name, current.key_id, snooze[1], snooze[0])
    if action is not None:
        (warns if action.kind is WARN else middle).append(action)
    return new_plan(name, current.key_id, (*first, *middle, *warns))


def _rotation_in_progress(user: UserKeys, intent: datetime) -> Plan:
    """A fresh intent marker: another run may sit between creating a key and storing it.

    SPEC.md is silent here; the safer behaviour is to touch nothing. Judging that run's new
    key an orphan now would delete it while it is being stored. Once the 15-minute window
    has closed, a key still held by no secret is an orphan and is removed.
    """
    name = user.user_name
    current = current_key(sorted(user.keys, key=_sort_key), user.state.secret_key_id)
    key_id = current.key_id if current else None
    # On the current key, so that the report's key records show why nothing was done.
    blocked = new_action(BLOCKED, name, key_id, Reason.ROTATION_IN_PROGRESS, intent + ORPHAN_WINDOW)
    # A leaked key is deactivated even now: only a key created after the marker may be the
    # other run's new key, and that one is left alone.
    leaked = tuple(
        new_action(DEACTIVATE, name, k.key_id, Reason.COMPROMISED, intent)
        for k in sorted(user.keys, key=_sort_key)
        if _leaked(k, user) and (k.created < intent or k.key_id in user.state.compromised_at)
    )
    return new_plan(name, key_id, (*leaked, blocked))


def _drop_orphans(user: UserKeys) -> tuple[tuple[AccessKey, ...], tuple[Action, ...]]:
    """The keys that are not orphans, oldest first, and the deletion of each orphan."""
    keep: list[AccessKey] = []
    deletes: list[Action] = []
    for key in sorted(user.keys, key=_sort_key):
        if is_orphan(key, user):
            deletes.append(
                new_action(DELETE, user.user_name, key.key_id, Reason.ORPHAN, key.created)
            )
        else:
            keep.append(key)
    return tuple(keep), tuple(deletes)


def _delete_due(
    key: AccessKey, current: AccessKey | None, state: KeyState, policy: RotationPolicy
) -> datetime:
    """Rules 4-5: max(created + delete_after, deactivated_at + recovery window).

    A leaked key: deactivated_at + recovery window alone (its age does not matter: it is
    not waited on for 110 days). A snoozed key: not before the snooze + recovery window.
    """
    leaked_at = state.compromised_at.get(key.key_id) if state.compromised_at else None
    if leaked_at is not None:
        return state.deactivated_at.get(key.key_id, leaked_at) + policy.recovery_window
    deactivated_at = state.deactivated_at.get(key.key_id)
    if deactivated_at is None:  # deactivated by someone else: estimate (SPEC terms)
        if current is not None:
            deactivated_at = current.created + policy.install_window
        else:
            deactivated_at = key.created + policy.deactivate_after
    due = max(key.created + policy.delete_after, deactivated_at + policy.recovery_window)
    until = state.snoozed_until.get(key.key_id) if state.snoozed_until else None
    return due if until is None else max(due, until + policy.recovery_window)


def _retire_inactive(
    name: str,
    key: AccessKey,
    current: AccessKey | None,
    state: KeyState,
    policy: RotationPolicy,
    now: datetime,
) -> Action | None:
    """Rules 4-5 (and 6) for an inactive key: DELETE when due, WARN when due soon."""
    due = _delete_due(key, current, state, policy)
    if now >= due:
        return new_action(DELETE, name, key.key_id, Reason.RECOVERY_ELAPSED, due)
    if due - now <= policy.warn_before:
        return new_action(WARN, name, key.key_id, Reason.UPCOMING, due, DELETE)
    return None


def _current_action(
    user: UserKeys,
    current: AccessKey,
    others_active: bool,
    keys_left: int,
    slot_free_at: datetime | None,
    policy: RotationPolicy,
    now: datetime,
) -> Action | None:
    """Rule 2 (and 9, forced rotation) for the current key."""
    due = current.created + policy.rotate_after
    forced = user.forced
    if not forced and now < due and due - now > policy.warn_before:
        return None  # the common case: a young key
    unused = (
        policy.unused_key_action is _UNUSED_DEACTIVATE
        and consumer_last_used(current, user.state) is None
        and not others_active  # nobody is waiting to switch to it: rule 7's case otherwise
    )
    name = user.user_name
    if forced:
        due, reason = now, Reason.FORCED
    elif now < due:
        upcoming = DEACTIVATE if unused else ROTATE
        return new_action(WARN, name, current.key_id, Reason.UPCOMING, due, upcoming)
    elif unused:
        return new_action(DEACTIVATE, name, current.key_id, Reason.UNUSED, due)
    else:
        reason = Reason.ROTATION_DUE
    return _rotation(user, current, keys_left, slot_free_at, reason, due)


def _rotation(
    user: UserKeys,
    current: AccessKey,
    keys_left: int,
    slot_free_at: datetime | None,
    reason: Reason,
    due: datetime,
) -> Action:
    """ROTATE, or BLOCKED when IAM has no free key slot or no secret can hold the key."""
    name = user.user_name
    if keys_left >= 2:
        return new_action(BLOCKED, name, current.key_id, Reason.NO_FREE_SLOT, slot_free_at)
    if not user.storable:  # checked before any key exists: never created, then deleted daily
        return new_action(BLOCKED, name, current.key_id, Reason.UNSTORABLE_NAME, None)
    return new_action(ROTATE, name, current.key_id, reason, due)

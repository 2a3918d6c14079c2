"""SPEC.md's worked examples and rules as table tests: kinds, key ids, order, reasons, due dates.

Each row is (id, user, expected steps). Ages are in days at ``NOW``; the default policy applies
unless the row says otherwise. Every row is also planned with its keys listed in reverse, since
a plan must not depend on the order IAM lists keys in.
"""

from __future__ import annotations

from dataclasses import FrozenInstanceError, replace
from datetime import datetime, timedelta

import pytest

from keyrotate.domain import (
    ORPHAN_WINDOW,
    Action,
    ActionKind,
    Exemption,
    KeyState,
    Plan,
    Reason,
    RotationPolicy,
    UnusedKeyAction,
    UserKeys,
    plan,
)
from keyrotate.domain.models import new_action, new_plan
from tests.unit.engine_support import (
    DAY,
    INACTIVE,
    NOW,
    SECOND,
    NewKeyIds,
    Step,
    ago,
    apply_plan,
    held_by_secret,
    key,
    steps,
    use_key,
    user,
)

ROTATE = ActionKind.ROTATE
DEACTIVATE = ActionKind.DEACTIVATE
DELETE = ActionKind.DELETE
WARN = ActionKind.WARN
HOLD = ActionKind.HOLD
BLOCKED = ActionKind.BLOCKED
EXEMPT = ActionKind.EXEMPT

DEFAULT = RotationPolicy()


def in_days(days: float) -> datetime:
    return NOW + timedelta(days=days)


Row = tuple[str, UserKeys, list[Step]]


def _check(u: UserKeys, expected: list[Step], policy: RotationPolicy = DEFAULT) -> Plan:
    result = plan(u, policy, now=NOW)
    assert steps(result) == expected
    reversed_keys = replace(u, keys=tuple(reversed(u.keys)))
    assert plan(reversed_keys, policy, now=NOW) == result
    return result


# --- SPEC.md "Worked examples", row by row -----------------------------------------------------

_B11 = key("B", 11, used_days_ago=1)
_B3 = key("B", 3)
_B11_UNUSED = key("B", 11)
_B21 = key("B", 21, used_days_ago=1)
_B95 = key("B", 95, used_days_ago=1)
_B200 = key("B", 200, used_days_ago=1)
# B created 11 days ago; keyrotate's STS check used it 20 seconds later, IAM reports the use
# another 40 seconds on (its last-used data lags); no consumer has used it since.
_B11_SELF_CHECKED = replace(_B11_UNUSED, last_used=_B11_UNUSED.created + 60 * SECOND)
_SELF_CHECKED_STATE = replace(
    held_by_secret(_B11_SELF_CHECKED), self_used_at=_B11_UNUSED.created + 20 * SECOND
)

SPEC_EXAMPLES: list[Row] = [
    ("A(30,active,used): none", user(key("A", 30, used_days_ago=1)), []),
    (
        "A(85,active,used): WARN rotation due in 5 days",
        user(key("A", 85, used_days_ago=1)),
        [Step(WARN, "A", Reason.UPCOMING, in_days(5), ROTATE)],
    ),
    (
        "A(95,active,used): ROTATE",
        user(key("A", 95, used_days_ago=1)),
        [Step(ROTATE, "A", Reason.ROTATION_DUE, ago(5))],
    ),
    (
        "A(95,active,never used): DEACTIVATE A unused, no replacement",
        user(key("A", 95)),
        [Step(DEACTIVATE, "A", Reason.UNUSED, ago(5))],
    ),
    (
        "A(101,used before B), B(11,used,current): DEACTIVATE A",
        user(key("A", 101, used_days_ago=12), _B11, state=held_by_secret(_B11)),
        [Step(DEACTIVATE, "A", Reason.REPLACED, ago(1))],
    ),
    (
        "A(101,active), B(3,active,current): WARN A deactivation in 7 days (install window)",
        user(key("A", 101, used_days_ago=4), _B3, state=held_by_secret(_B3)),
        [Step(WARN, "A", Reason.UPCOMING, in_days(7), DEACTIVATE)],
    ),
    (
        "A(101,used yesterday), B(11,never used): HOLD A, consumer not switched",
        user(key("A", 101, used_days_ago=1), _B11_UNUSED, state=held_by_secret(_B11_UNUSED)),
        [Step(HOLD, "A", Reason.CONSUMER_NOT_SWITCHED, ago(1))],
    ),
    (
        "A(111,inactive), B(21,current): DELETE A",
        user(key("A", 111, INACTIVE), _B21, state=held_by_secret(_B21)),
        [Step(DELETE, "A", Reason.RECOVERY_ELAPSED, ago(1))],
    ),
    (
        "A(400,active,used) on first sight: ROTATE",
        user(key("A", 400, used_days_ago=1)),
        [Step(ROTATE, "A", Reason.ROTATION_DUE, ago(310))],
    ),
    (
        "A(120,inactive) alone: DELETE A",
        user(key("A", 120, INACTIVE)),
        [Step(DELETE, "A", Reason.RECOVERY_ELAPSED, ago(10))],
    ),
    (
        "A(130,inactive), B(95,used,current): DELETE A then ROTATE B",
        user(key("A", 130, INACTIVE), _B95, state=held_by_secret(_B95)),
        [
            Step(DELETE, "A", Reason.RECOVERY_ELAPSED, ago(20)),
            Step(ROTATE, "B", Reason.ROTATION_DUE, ago(5)),
        ],
    ),
    (
        "A(101,used yesterday), B(11,used yesterday,current): HOLD A, still in use alongside B",
        user(key("A", 101, used_days_ago=1), _B11, state=held_by_secret(_B11)),
        [Step(HOLD, "A", Reason.STILL_IN_USE, ago(1))],
    ),
    (
        "A(101,last used 9 days ago), B(11,used,current): DEACTIVATE A",
        user(key("A", 101, used_days_ago=9), _B11, state=held_by_secret(_B11)),
        [Step(DEACTIVATE, "A", Reason.REPLACED, ago(1))],
    ),
    (
        "A(101,used yesterday), B(11,used only by keyrotate's own check): HOLD A, not switched",
        user(key("A", 101, used_days_ago=1), _B11_SELF_CHECKED, state=_SELF_CHECKED_STATE),
        [Step(HOLD, "A", Reason.CONSUMER_NOT_SWITCHED, ago(1))],
    ),
    (
        # "used" here is a use the revised rule 7 does not count: A's last use is older than
        # in_use_days (a use within them, after B was created, would HOLD A).
        "A(400,used), B(200,used,current): DEACTIVATE A; B BLOCKED until A deletable (+10d)",
        user(key("A", 400, used_days_ago=30), _B200, state=held_by_secret(_B200)),
        [
            Step(DEACTIVATE, "A", Reason.REPLACED, ago(190)),
            Step(BLOCKED, "B", Reason.NO_FREE_SLOT, in_days(10)),
        ],
    ),
]


@pytest.mark.parametrize(
    ("u", "expected"), [r[1:] for r in SPEC_EXAMPLES], ids=[r[0] for r in SPEC_EXAMPLES]
)
def test_spec_worked_example(u: UserKeys, expected: list[Step]) -> None:
    _check(u, expected)


@pytest.mark.parametrize(
    "u",
    [
        user(key("A", 101, used_days_ago=12), _B11),
        user(key("A", 111, INACTIVE), _B21),
        user(key("A", 400, used_days_ago=1), _B200),
    ],
    ids=["replaced A deactivated", "inactive A deleted", "A deactivated, B blocked"],
)
def test_without_a_secret_the_newest_active_key_is_current_and_rotated_at_is_its_creation(
    u: UserKeys,
) -> None:
    with_secret = replace(u, state=held_by_secret(u.keys[1]))
    assert plan(u, DEFAULT, now=NOW) == plan(with_secret, DEFAULT, now=NOW)
    assert plan(u, DEFAULT, now=NOW).current_key_id == "B"


def test_first_sight_of_a_400_day_key_rotates_then_deactivates_at_10_and_deletes_at_20_days() -> (
    None
):
    """SPEC row "A(400, active, used) on first sight", followed over time.

    B is created by the ROTATE at t0; the consumer switches to B a day later and stops using A.
    A is deactivated exactly 10 days after t0 (install window), deleted exactly 20 days after
    (recovery window counted from the recorded deactivation), and never a second sooner.
    """
    t0 = NOW
    u = user(key("A", 400, used_days_ago=1))
    new_ids = NewKeyIds("B")
    first = plan(u, DEFAULT, now=t0)
    assert steps(first) == [Step(ROTATE, "A", Reason.ROTATION_DUE, ago(310))]
    u = apply_plan(u, first, t0, new_ids)
    b = next(k for k in u.keys if k.key_id != "A")
    assert u.state == KeyState(secret_key_id=b.key_id, rotated_at=t0, deactivated_at={})
    u = use_key(u, b.key_id, t0 + DAY)

    deactivate_at = t0 + 10 * DAY
    just_before = plan(u, DEFAULT, now=deactivate_at - SECOND)
    assert steps(just_before) == [Step(WARN, "A", Reason.UPCOMING, deactivate_at, DEACTIVATE)]
    assert plan(u, DEFAULT, now=t0 + 3 * DAY - SECOND).actions == ()
    at_deactivation = plan(u, DEFAULT, now=deactivate_at)
    assert steps(at_deactivation) == [Step(DEACTIVATE, "A", Reason.REPLACED, deactivate_at)]
    u = apply_plan(u, at_deactivation, deactivate_at, new_ids)
    assert u.state.deactivated_at == {"A": deactivate_at}

    delete_at = t0 + 20 * DAY
    assert steps(plan(u, DEFAULT, now=delete_at - SECOND)) == [
        Step(WARN, "A", Reason.UPCOMING, delete_at, DELETE)
    ]
    at_deletion = plan(u, DEFAULT, now=delete_at)
    assert steps(at_deletion) == [Step(DELETE, "A", Reason.RECOVERY_ELAPSED, delete_at)]
    u = apply_plan(u, at_deletion, delete_at, new_ids)
    assert [k.key_id for k in u.keys] == [b.key_id]
    assert plan(u, DEFAULT, now=delete_at).actions == ()


# --- Rule 9: forced rotation, with rule 2's slot logic ------------------------------------------

_B10 = key("B", 10, used_days_ago=1)
_B25 = key("B", 25, used_days_ago=1)
_B40 = key("B", 40, used_days_ago=1)

FORCED: list[Row] = [
    (
        "young used key: ROTATE now",
        user(key("A", 10, used_days_ago=1), forced=True),
        [Step(ROTATE, "A", Reason.FORCED, NOW)],
    ),
    (
        "never used key past rotation age: ROTATE, not the unused DEACTIVATE",
        user(key("A", 95), forced=True),
        [Step(ROTATE, "A", Reason.FORCED, NOW)],
    ),
    (
        "inactive previous key past recovery: DELETE it, then ROTATE",
        user(key("A", 150, INACTIVE), _B25, state=held_by_secret(_B25), forced=True),
        [
            Step(DELETE, "A", Reason.RECOVERY_ELAPSED, ago(5)),
            Step(ROTATE, "B", Reason.FORCED, NOW),
        ],
    ),
    (
        "inactive previous key inside estimated recovery: BLOCKED until it can be deleted",
        user(key("A", 150, INACTIVE), _B10, state=held_by_secret(_B10), forced=True),
        [Step(BLOCKED, "B", Reason.NO_FREE_SLOT, in_days(10))],
    ),
    (
        "inactive previous key deactivated 3 days ago: BLOCKED 7 days, deletion warned",
        user(key("A", 150, INACTIVE), _B40, state=held_by_secret(_B40, A=3), forced=True),
        [
            Step(BLOCKED, "B", Reason.NO_FREE_SLOT, in_days(7)),
            Step(WARN, "A", Reason.UPCOMING, in_days(7), DELETE),
        ],
    ),
    (
        "young active previous key: BLOCKED until it is deactivated and recovered",
        user(key("A", 50, used_days_ago=20), _B10, state=held_by_secret(_B10), forced=True),
        [Step(BLOCKED, "B", Reason.NO_FREE_SLOT, in_days(60))],
    ),
    (
        "previous key due for deactivation: DEACTIVATE it, rotation BLOCKED 10 days",
        user(key("A", 120, used_days_ago=30), _B25, state=held_by_secret(_B25), forced=True),
        [
            Step(DEACTIVATE, "A", Reason.REPLACED, ago(15)),
            Step(BLOCKED, "B", Reason.NO_FREE_SLOT, in_days(10)),
        ],
    ),
    (
        "exempt user: exemption wins, nothing rotates",
        user(key("A", 10), forced=True, exemption=Exemption("group")),
        [Step(EXEMPT, None, Reason.EXEMPT_GROUP, None)],
    ),
]


@pytest.mark.parametrize(("u", "expected"), [r[1:] for r in FORCED], ids=[r[0] for r in FORCED])
def test_forced_rotation(u: UserKeys, expected: list[Step]) -> None:
    _check(u, expected)


# --- Rule 8: exemptions ------------------------------------------------------------------------

_OLD = key("A", 400, used_days_ago=1)
EXEMPTIONS: list[Row] = [
    (
        "exemption group member: EXEMPT only",
        user(_OLD, exemption=Exemption("group")),
        [Step(EXEMPT, None, Reason.EXEMPT_GROUP, None)],
    ),
    (
        "exemption tag: EXEMPT only",
        user(_OLD, exemption=Exemption("tag", "break-glass")),
        [Step(EXEMPT, None, Reason.EXEMPT_TAG, None)],
    ),
    (
        "exemption tag valid until tomorrow: EXEMPT",
        user(_OLD, exemption=Exemption("tag", until=in_days(1))),
        [Step(EXEMPT, None, Reason.EXEMPT_TAG, None)],
    ),
    (
        "exemption tag expired a second ago: planned normally",
        user(_OLD, exemption=Exemption("tag", until=NOW - SECOND)),
        [Step(ROTATE, "A", Reason.ROTATION_DUE, ago(310))],
    ),
    (
        "exemption tag expiring exactly now: planned normally",
        user(_OLD, exemption=Exemption("tag", until=NOW)),
        [Step(ROTATE, "A", Reason.ROTATION_DUE, ago(310))],
    ),
    (
        "exempt user with no keys: EXEMPT",
        user(exemption=Exemption("group")),
        [Step(EXEMPT, None, Reason.EXEMPT_GROUP, None)],
    ),
    (
        "protected user (IAM denies any change), even forced: EXEMPT, said why",
        user(_OLD, forced=True, exemption=Exemption("protected", "carries the tag")),
        [Step(EXEMPT, None, Reason.PROTECTED, None)],
    ),
]


@pytest.mark.parametrize(
    ("u", "expected"), [r[1:] for r in EXEMPTIONS], ids=[r[0] for r in EXEMPTIONS]
)
def test_exemptions(u: UserKeys, expected: list[Step]) -> None:
    result = _check(u, expected)
    exempt = u.exemption is not None and u.exemption.applies(NOW)
    assert (result.changes == ()) is exempt


# --- Policy switches: unused_key_action and hold_if_previous_in_use -----------------------------

ROTATE_UNUSED = RotationPolicy(unused_key_action=UnusedKeyAction.ROTATE)
NO_HOLD = RotationPolicy(hold_if_previous_in_use=False)
_B11_NEVER = key("B", 11)
_B95_NEVER = key("B", 95)

POLICY_SWITCHES: list[tuple[str, RotationPolicy, UserKeys, list[Step]]] = [
    (
        "unused=rotate: never used key past rotation age is ROTATED",
        ROTATE_UNUSED,
        user(key("A", 95)),
        [Step(ROTATE, "A", Reason.ROTATION_DUE, ago(5))],
    ),
    (
        "unused=rotate: never used key warned of ROTATE",
        ROTATE_UNUSED,
        user(key("A", 85)),
        [Step(WARN, "A", Reason.UPCOMING, in_days(5), ROTATE)],
    ),
    (
        "unused=deactivate: never used key warned of DEACTIVATE",
        DEFAULT,
        user(key("A", 85)),
        [Step(WARN, "A", Reason.UPCOMING, in_days(5), DEACTIVATE)],
    ),
    (
        "unused=deactivate: unused current with inactive previous is DEACTIVATED",
        DEFAULT,
        user(key("A", 150, INACTIVE), _B95_NEVER, state=held_by_secret(_B95_NEVER, A=1)),
        [Step(DEACTIVATE, "B", Reason.UNUSED, ago(5))],
    ),
    (
        "unused current while active predecessor in use: HOLD A, B's rotation BLOCKED (rule 7)",
        DEFAULT,
        user(key("A", 185, used_days_ago=1), _B95_NEVER, state=held_by_secret(_B95_NEVER)),
        [
            Step(HOLD, "A", Reason.CONSUMER_NOT_SWITCHED, ago(85), overdue=True),
            Step(BLOCKED, "B", Reason.NO_FREE_SLOT, in_days(10)),
        ],
    ),
    (
        "hold off: previous key in use is DEACTIVATED anyway",
        NO_HOLD,
        user(key("A", 101, used_days_ago=1), _B11_NEVER, state=held_by_secret(_B11_NEVER)),
        [Step(DEACTIVATE, "A", Reason.REPLACED, ago(1))],
    ),
    (
        "hold on: previous key used only before the new key existed is DEACTIVATED",
        DEFAULT,
        user(key("A", 101, used_days_ago=12), _B11_NEVER, state=held_by_secret(_B11_NEVER)),
        [Step(DEACTIVATE, "A", Reason.REPLACED, ago(1))],
    ),
    (
        "hold on: previous key never used is DEACTIVATED",
        DEFAULT,
        user(key("A", 101), _B11_NEVER, state=held_by_secret(_B11_NEVER)),
        [Step(DEACTIVATE, "A", Reason.REPLACED, ago(1))],
    ),
]


@pytest.mark.parametrize(
    ("policy", "u", "expected"),
    [r[1:] for r in POLICY_SWITCHES],
    ids=[r[0] for r in POLICY_SWITCHES],
)
def test_policy_switches(policy: RotationPolicy, u: UserKeys, expected: list[Step]) -> None:
    _check(u, expected, policy)


# --- Rule 7: a HOLD is flagged overdue once older than hold_escalate_after_days ----------------


@pytest.mark.parametrize(
    ("hold_age", "overdue"),
    [
        (DAY, False),
        (13 * DAY, False),
        (14 * DAY, False),
        (14 * DAY + SECOND, True),
        (30 * DAY, True),
    ],
    ids=["1 day", "13 days", "exactly 14 days", "14 days + 1s", "30 days"],
)
def test_hold_is_overdue_only_when_older_than_14_days(hold_age: timedelta, overdue: bool) -> None:
    # A's deactivation fell due hold_age ago (A 100 days + hold_age old, B 10 days + hold_age).
    b = key("B", 10 * DAY + hold_age)
    u = user(key("A", 100 * DAY + hold_age, used_days_ago=0.5), b, state=held_by_secret(b))
    _check(u, [Step(HOLD, "A", Reason.CONSUMER_NOT_SWITCHED, NOW - hold_age, overdue=overdue)])


# --- Rule 6: WARN within warn_before, inclusive, exact timedeltas ------------------------------


def _rotation_due_in(delta: timedelta) -> UserKeys:
    return user(replace(key("A", 0, used_days_ago=1), created=NOW + delta - 90 * DAY))


def _deactivation_due_in(delta: timedelta) -> UserKeys:
    b = key("B", 15, used_days_ago=1)  # its install window is long over
    return user(
        replace(key("A", 0, used_days_ago=16), created=NOW + delta - 100 * DAY),
        b,
        state=held_by_secret(b),
    )


def _deletion_due_in(delta: timedelta) -> UserKeys:
    return user(replace(key("A", 0, INACTIVE), created=NOW + delta - 110 * DAY))


WARN_BOUNDARY = [
    ("rotation: due in exactly 7 days", _rotation_due_in(7 * DAY), ROTATE, "A", True),
    ("rotation: due in 7 days + 1s", _rotation_due_in(7 * DAY + SECOND), ROTATE, "A", False),
    ("deactivation: due in exactly 7 days", _deactivation_due_in(7 * DAY), DEACTIVATE, "A", True),
    ("deactivation: 7 days + 1s", _deactivation_due_in(7 * DAY + SECOND), DEACTIVATE, "A", False),
    ("deletion: due in exactly 7 days", _deletion_due_in(7 * DAY), DELETE, "A", True),
    ("deletion: due in 7 days + 1s", _deletion_due_in(7 * DAY + SECOND), DELETE, "A", False),
]


@pytest.mark.parametrize(
    ("u", "upcoming", "key_id", "warned"),
    [r[1:] for r in WARN_BOUNDARY],
    ids=[r[0] for r in WARN_BOUNDARY],
)
def test_warn_boundary_is_inclusive_and_exact(
    u: UserKeys, upcoming: ActionKind, key_id: str, warned: bool
) -> None:
    due = NOW + 7 * DAY if warned else NOW + 7 * DAY + SECOND
    expected = [Step(WARN, key_id, Reason.UPCOMING, due, upcoming)] if warned else []
    _check(u, expected)


@pytest.mark.parametrize(
    ("u", "kind"),
    [
        (_rotation_due_in(timedelta(0)), ROTATE),
        (_deactivation_due_in(timedelta(0)), DEACTIVATE),
        (_deletion_due_in(timedelta(0)), DELETE),
    ],
    ids=["rotation", "deactivation", "deletion"],
)
def test_an_action_is_taken_at_the_exact_moment_it_falls_due(u: UserKeys, kind: ActionKind) -> None:
    result = plan(u, DEFAULT, now=NOW)
    assert [(a.kind, a.key_id, a.due) for a in result.actions] == [(kind, "A", NOW)]


# --- Orphans of an interrupted rotation (SPEC "Executing a rotation") --------------------------

MARKER = ago(2)


def _orphan_user(
    a_age: float, b_delta: timedelta, *, held_by: str | None = "A", a_used: float | None = 1
) -> UserKeys:
    a = key("A", a_age, used_days_ago=a_used)
    b = replace(key("B", 0), created=MARKER + b_delta)
    state = KeyState(
        secret_key_id=held_by,
        rotated_at=a.created if held_by == "A" else None,
        intent_at=MARKER,
    )
    if held_by == "B":
        state = replace(state, rotated_at=b.created)
    return user(a, b, state=state)


ORPHANS: list[Row] = [
    (
        "created 5 min after marker, no secret holds it: DELETE orphan, nothing else due",
        _orphan_user(50, timedelta(minutes=5)),
        [Step(DELETE, "B", Reason.ORPHAN, MARKER + timedelta(minutes=5))],
    ),
    (
        "orphan deleted, then the interrupted rotation is planned again",
        _orphan_user(95, timedelta(minutes=5)),
        [
            Step(DELETE, "B", Reason.ORPHAN, MARKER + timedelta(minutes=5)),
            Step(ROTATE, "A", Reason.ROTATION_DUE, ago(5)),
        ],
    ),
    (
        "user without any secret: orphan deleted, first rotation planned again",
        _orphan_user(400, timedelta(minutes=1), held_by=None),
        [
            Step(DELETE, "B", Reason.ORPHAN, MARKER + timedelta(minutes=1)),
            Step(ROTATE, "A", Reason.ROTATION_DUE, ago(310)),
        ],
    ),
    (
        "created exactly at the marker: orphan",
        _orphan_user(50, timedelta(0)),
        [Step(DELETE, "B", Reason.ORPHAN, MARKER)],
    ),
    (
        "created exactly 15 min after the marker: orphan",
        _orphan_user(50, ORPHAN_WINDOW),
        [Step(DELETE, "B", Reason.ORPHAN, MARKER + ORPHAN_WINDOW)],
    ),
    (
        "created 16 min after the marker: someone else's key, never an orphan",
        _orphan_user(50, timedelta(minutes=16)),
        [],
    ),
    (
        "created 16 min after the marker, A due: B kept as a previous key, A's rotation BLOCKED",
        _orphan_user(95, timedelta(minutes=16)),
        [Step(BLOCKED, "A", Reason.NO_FREE_SLOT, MARKER + timedelta(minutes=16) + 110 * DAY)],
    ),
    (
        "created before the marker: never an orphan",
        _orphan_user(50, -SECOND),
        [],
    ),
    (
        "held by the secret: the rotation completed, never an orphan",
        _orphan_user(95, timedelta(minutes=5), held_by="B"),
        [],
    ),
]


@pytest.mark.parametrize(("u", "expected"), [r[1:] for r in ORPHANS], ids=[r[0] for r in ORPHANS])
def test_orphan_after_intent_marker(u: UserKeys, expected: list[Step]) -> None:
    result = _check(u, expected)
    assert all(a.key_id == "B" for a in result.actions if a.reason is Reason.ORPHAN)


def test_an_orphan_deletion_comes_before_any_other_action() -> None:
    u = _orphan_user(95, timedelta(minutes=5))
    assert plan(u, DEFAULT, now=NOW).actions[0].reason is Reason.ORPHAN


def test_a_marker_younger_than_15_minutes_blocks_the_user_until_its_window_closes() -> None:
    """Another run may be between CreateAccessKey and storing the secret: touch nothing."""
    u = _orphan_user(95, timedelta(minutes=5))
    for minutes in (5, 10, 14):
        result = plan(u, DEFAULT, now=MARKER + timedelta(minutes=minutes))
        assert [(a.kind, a.reason, a.due) for a in result.actions] == [
            (BLOCKED, Reason.ROTATION_IN_PROGRESS, MARKER + ORPHAN_WINDOW)
        ]
    after = plan(u, DEFAULT, now=MARKER + ORPHAN_WINDOW)
    assert [a.reason for a in after.actions] == [Reason.ORPHAN, Reason.ROTATION_DUE]


# --- Rules 4-5: inactive keys, recorded vs estimated deactivation ------------------------------

_B30 = key("B", 30, used_days_ago=1)
INACTIVE_KEYS: list[Row] = [
    (
        "previous inactive, deactivated_at recorded 5 days ago: recovery runs 5 more days",
        user(key("A", 115, INACTIVE), _B30, state=held_by_secret(_B30, A=5)),
        [Step(WARN, "A", Reason.UPCOMING, in_days(5), DELETE)],
    ),
    (
        "previous inactive, not recorded: estimated from B's creation + install window",
        user(key("A", 115, INACTIVE), _B30, state=held_by_secret(_B30)),
        [Step(DELETE, "A", Reason.RECOVERY_ELAPSED, ago(5))],
    ),
    (
        "previous inactive, recorded long ago: its age (delete_after) decides",
        user(key("A", 105, INACTIVE), _B30, state=held_by_secret(_B30, A=50)),
        [Step(WARN, "A", Reason.UPCOMING, in_days(5), DELETE)],
    ),
    (
        "previous inactive, young: nothing",
        user(key("A", 40, INACTIVE), _B30, state=held_by_secret(_B30, A=1)),
        [],
    ),
    (
        "lone inactive, recorded 1 day ago: recovery window from the record (9 days)",
        user(key("A", 105, INACTIVE), state=KeyState(deactivated_at={"A": ago(1)})),
        [],
    ),
    (
        "lone inactive, recorded 3 days ago: deletion warned in 7 days",
        user(key("A", 105, INACTIVE), state=KeyState(deactivated_at={"A": ago(3)})),
        [Step(WARN, "A", Reason.UPCOMING, in_days(7), DELETE)],
    ),
    (
        "lone inactive, not recorded: estimated from creation + deactivate_after",
        user(key("A", 105, INACTIVE)),
        [Step(WARN, "A", Reason.UPCOMING, in_days(5), DELETE)],
    ),
    ("lone inactive, young: nothing", user(key("A", 50, INACTIVE)), []),
    (
        "lone inactive, recorded, past both bounds: DELETE",
        user(key("A", 200, INACTIVE), state=KeyState(deactivated_at={"A": ago(10)})),
        [Step(DELETE, "A", Reason.RECOVERY_ELAPSED, NOW)],
    ),
    (
        "two inactive keys, no current: each judged alone",
        user(key("A", 130, INACTIVE), key("B", 105, INACTIVE)),
        [
            Step(DELETE, "A", Reason.RECOVERY_ELAPSED, ago(20)),
            Step(WARN, "B", Reason.UPCOMING, in_days(5), DELETE),
        ],
    ),
    ("no keys: nothing", user(), []),
]


@pytest.mark.parametrize(
    ("u", "expected"), [r[1:] for r in INACTIVE_KEYS], ids=[r[0] for r in INACTIVE_KEYS]
)
def test_inactive_keys(u: UserKeys, expected: list[Step]) -> None:
    _check(u, expected)


def test_current_key_is_the_secret_key_even_when_a_newer_active_key_exists() -> None:
    a = key("A", 20, used_days_ago=1)
    u = user(a, key("B", 5, used_days_ago=1), state=held_by_secret(a))
    result = plan(u, DEFAULT, now=NOW)
    assert result.current_key_id == "A"
    assert result.actions == ()


def test_secret_key_that_is_inactive_is_not_current() -> None:
    u = user(key("A", 20, INACTIVE), key("B", 5), state=KeyState(secret_key_id="A"))
    assert plan(u, DEFAULT, now=NOW).current_key_id == "B"


def test_a_user_with_no_keys_has_no_current_key() -> None:
    assert plan(user(), DEFAULT, now=NOW) == Plan("alice", None, ())


def test_the_engines_fast_constructors_build_exactly_the_dataclass_objects() -> None:
    args = (WARN, "alice", "A", Reason.UPCOMING, NOW, DELETE, True)
    fast, slow = new_action(*args), Action(*args)
    assert fast == slow
    assert hash(fast) == hash(slow)
    assert repr(fast) == repr(slow)
    assert new_action(*args[:5]) == Action(*args[:5])
    assert new_plan("alice", "A", (fast,)) == Plan("alice", "A", (slow,))
    with pytest.raises(FrozenInstanceError):
        fast.kind = ROTATE  # type: ignore[misc]

"""The engine's incident rules: a leaked key (``compromised``), a restored key (snooze) and a
key reactivated by hand (docs/incident-response.md). Worked examples, then properties.

Defaults: rotate 90, deactivate 100, delete 110, warn 7 days; install and recovery windows
10 days each.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from keyrotate.domain import ActionKind, KeyState, Reason, RotationPolicy, plan
from keyrotate.domain.engine import DEFAULT_SNOOZE, ORPHAN_WINDOW
from keyrotate.domain.forecast import forecast
from tests.unit.engine_support import (
    DAY,
    INACTIVE,
    NOW,
    NewKeyIds,
    Step,
    ago,
    apply_plan,
    held_by_secret,
    key,
    steps,
    user,
)
from tests.unit.test_engine_properties import PROPERTY, Case, cases

POLICY = RotationPolicy()
RECOVERY = POLICY.recovery_window
A, B, C = "AKIAAAAAAAAAAAAAAAAA", "AKIABBBBBBBBBBBBBBBB", "AKIACCCCCCCCCCCCCCCC"
DEACTIVATE, DELETE, ROTATE = ActionKind.DEACTIVATE, ActionKind.DELETE, ActionKind.ROTATE
HOLD, BLOCKED, WARN = ActionKind.HOLD, ActionKind.BLOCKED, ActionKind.WARN


def planned(u: object) -> list[Step]:
    return steps(plan(u, POLICY, now=NOW))  # type: ignore[arg-type]


# a leaked key ------------------------------------------------------------------------------
def test_a_compromised_young_key_is_deactivated_at_once_and_replaced() -> None:
    a = key(A, 30, used_days_ago=0)
    u = replace(user(a, state=held_by_secret(a)), compromised=True)
    assert planned(u) == [
        Step(DEACTIVATE, A, Reason.COMPROMISED, NOW),
        Step(ROTATE, A, Reason.COMPROMISED, NOW),
    ]


def test_a_compromised_user_with_two_active_keys_loses_both_and_waits_for_a_slot() -> None:
    a, b = key(A, 101, used_days_ago=1), key(B, 11, used_days_ago=1)
    u = replace(user(a, b, state=held_by_secret(b)), compromised=True)
    assert planned(u) == [
        Step(DEACTIVATE, A, Reason.COMPROMISED, NOW),  # no HOLD, though A is still in use
        Step(DEACTIVATE, B, Reason.COMPROMISED, NOW),
        Step(BLOCKED, B, Reason.NO_FREE_SLOT, NOW + RECOVERY),
    ]


def test_a_compromised_rotation_first_deletes_an_inactive_key_that_is_due() -> None:
    a, b = key(A, 130, INACTIVE), key(B, 95, used_days_ago=1)
    u = replace(user(a, b, state=held_by_secret(b, **{A: 20})), compromised=True)
    assert [(s.kind, s.key_id) for s in planned(u)] == [(DELETE, A), (DEACTIVATE, B), (ROTATE, B)]


def test_a_compromised_rotation_never_deletes_an_inactive_key_inside_its_window() -> None:
    a, b = key(A, 30, INACTIVE), key(B, 20, used_days_ago=1)
    u = replace(user(a, b, state=held_by_secret(b, **{A: 2})), compromised=True)
    assert planned(u) == [
        Step(DEACTIVATE, B, Reason.COMPROMISED, NOW),
        Step(BLOCKED, B, Reason.NO_FREE_SLOT, ago(30) + POLICY.delete_after),
    ]


def test_a_leaked_key_is_deleted_one_recovery_window_after_its_deactivation_whatever_its_age() -> (
    None
):
    b, c = key(B, 20, INACTIVE), key(C, 10, used_days_ago=1)
    state = replace(held_by_secret(c, **{B: 10}), compromised_at={B: ago(10)})
    assert planned(user(b, c, state=state)) == [
        Step(DELETE, B, Reason.RECOVERY_ELAPSED, NOW),
    ]
    early = replace(state, deactivated_at={B: ago(9)}, compromised_at={B: ago(9)})
    assert planned(user(b, c, state=early)) == [
        Step(WARN, B, Reason.UPCOMING, NOW + DAY, DELETE),
    ]


def test_a_leaked_key_reactivated_by_hand_is_deactivated_again_even_in_use() -> None:
    b, c = key(B, 20, used_days_ago=0), key(C, 10, used_days_ago=0)
    state = replace(held_by_secret(c, **{B: 3}), compromised_at={B: ago(3)})
    assert planned(user(b, c, state=state)) == [Step(DEACTIVATE, B, Reason.COMPROMISED, NOW)]


def test_a_compromised_user_mid_rotation_still_loses_its_old_key_not_the_new_one() -> None:
    intent = NOW - timedelta(minutes=5)
    a = key(A, 30, used_days_ago=0)
    new = key(B, timedelta(minutes=4))  # the other run's key, created after its marker
    u = replace(user(a, new, state=KeyState(intent_at=intent)), compromised=True)
    assert planned(u) == [
        Step(DEACTIVATE, A, Reason.COMPROMISED, intent),
        Step(BLOCKED, B, Reason.ROTATION_IN_PROGRESS, intent + ORPHAN_WINDOW),
    ]


# a restored key (snooze) -------------------------------------------------------------------
def test_a_restored_previous_key_is_held_until_its_snooze_ends() -> None:
    a, b = key(A, 112, used_days_ago=9), key(B, 22, used_days_ago=1)
    state = replace(held_by_secret(b, **{A: 2}), snoozed_until={A: NOW + 3 * DAY})
    assert planned(user(a, b, state=state)) == [Step(HOLD, A, Reason.SNOOZED, NOW + 3 * DAY)]
    later = NOW + 3 * DAY
    assert [
        (x.kind, x.reason) for x in plan(user(a, b, state=state), POLICY, now=later).actions
    ] == [(DEACTIVATE, Reason.REPLACED)]


def test_a_restored_unused_current_key_is_held_not_deactivated_again() -> None:
    a = key(A, 95)  # never used: rule 2 deactivated it, the owner restored it
    state = KeyState(deactivated_at={A: ago(2)}, snoozed_until={A: NOW + 5 * DAY})
    assert planned(user(a, state=state)) == [Step(HOLD, A, Reason.SNOOZED, NOW + 5 * DAY)]


def test_a_snoozed_key_deactivated_by_hand_is_deleted_no_sooner_than_snooze_plus_recovery() -> None:
    a, b = key(A, 200, INACTIVE), key(B, 95, used_days_ago=1)
    until = NOW - DAY
    state = replace(held_by_secret(b, **{A: 30}), snoozed_until={A: until})
    assert planned(user(a, b, state=state)) == [
        Step(BLOCKED, B, Reason.NO_FREE_SLOT, until + RECOVERY),  # A stays till then
    ]


def test_a_key_reactivated_by_hand_and_used_since_is_snoozed_for_the_default_length() -> None:
    a, b = key(A, 112, used_days_ago=1), key(B, 22, used_days_ago=1)
    state = held_by_secret(b, **{A: 2})  # keyrotate deactivated A two days ago
    assert planned(user(a, b, state=state)) == [
        Step(HOLD, A, Reason.REACTIVATED_BY_HAND, NOW + DEFAULT_SNOOZE)
    ]


def test_a_recorded_deactivation_of_a_key_nobody_used_since_is_simply_done_again() -> None:
    # A deactivation whose record was written but whose UpdateAccessKey never happened.
    a, b = key(A, 112, used_days_ago=9), key(B, 22, used_days_ago=1)
    state = held_by_secret(b, **{A: 2})
    assert [(s.kind, s.reason) for s in planned(user(a, b, state=state))] == [
        (DEACTIVATE, Reason.REPLACED)
    ]


def test_an_expired_snooze_does_not_make_a_later_reactivation_by_hand_look_restored() -> None:
    a, b = key(A, 140, used_days_ago=1), key(B, 50, used_days_ago=1)
    state = replace(held_by_secret(b, **{A: 3}), snoozed_until={A: ago(20)})
    (only,) = planned(user(a, b, state=state))
    assert (only.kind, only.reason) == (HOLD, Reason.REACTIVATED_BY_HAND)


# properties --------------------------------------------------------------------------------
@st.composite
def incident_cases(draw: st.DrawFn) -> Case:
    """The engine property cases, some users reported compromised, some keys snoozed."""
    case = draw(cases(with_intent=draw(st.booleans())))
    u = case.user
    snoozed = {
        k.key_id: case.now + timedelta(hours=draw(st.integers(-30 * 24, 30 * 24)))
        for k in u.keys
        if draw(st.booleans())
    }
    compromised = draw(st.integers(0, 3)) == 0
    state = replace(u.state, snoozed_until=snoozed)
    return replace(case, user=replace(u, state=state, compromised=compromised))


@PROPERTY
@given(incident_cases())
def test_no_key_active_before_a_compromised_plan_is_active_after_it(case: Case) -> None:
    """Even when the rotation is BLOCKED: the leaked key is deactivated regardless.

    The one exception is a key made after a fresh intent marker: another run's new key,
    which this run must not touch while that run may still be storing it.
    """
    u = case.user
    if not u.compromised:
        return
    result = case.plan()
    after = apply_plan(u, result, case.now, NewKeyIds())
    before_active = {k.key_id for k in u.keys if k.active}
    still = {k.key_id for k in after.keys if k.active} & before_active
    intent = u.state.intent_at
    in_progress = intent is not None and case.now < intent + ORPHAN_WINDOW
    for key_id in still:
        created = next(k.created for k in u.keys if k.key_id == key_id)
        assert in_progress, (key_id, result)
        assert intent is not None
        assert created >= intent, (key_id, result)


@PROPERTY
@given(incident_cases())
def test_a_snoozed_key_is_never_deactivated_before_its_snooze_ends(case: Case) -> None:
    u, now = case.user, case.now
    if u.compromised:
        return
    for action in case.plan().actions:
        if action.kind is not ActionKind.DEACTIVATE:
            continue
        until = u.state.snoozed_until.get(action.key_id or "")
        deactivated = u.state.deactivated_at.get(action.key_id or "")
        if until is not None and (deactivated is None or until > deactivated):
            assert now >= until, action


@PROPERTY
@given(incident_cases())
def test_a_snoozed_key_is_never_deleted_before_its_snooze_and_a_recovery_window(case: Case) -> None:
    for action in case.plan().actions:
        if action.kind is ActionKind.DELETE and action.reason is not Reason.ORPHAN:
            until = case.user.state.snoozed_until.get(action.key_id or "")
            if until is not None:
                assert case.now >= until + case.policy.recovery_window


def test_the_forecast_of_a_compromised_user_deletes_the_leaked_key_one_window_later() -> None:
    a = key(A, 30, used_days_ago=0)
    u = replace(user(a, state=held_by_secret(a)), compromised=True)
    entries = forecast(u, POLICY, start=NOW, until=NOW + 40 * DAY)
    seen = [(e.kind, e.key_id, (e.when - NOW).days) for e in entries]
    assert seen == [(DEACTIVATE, A, 0), (ROTATE, A, 0), (DELETE, A, 10)]


def test_the_forecast_ends_the_default_snooze_of_a_key_reactivated_by_hand() -> None:
    a, b = key(A, 112, used_days_ago=1), key(B, 22, used_days_ago=1)
    u = user(a, b, state=held_by_secret(b, **{A: 2}))
    entries = forecast(u, POLICY, start=NOW, until=NOW + 30 * DAY)
    seen = [(e.kind, e.key_id, e.reason, (e.when - NOW).days) for e in entries]
    assert seen[0] == (HOLD, A, Reason.REACTIVATED_BY_HAND, 0)
    assert (DEACTIVATE, A) in [(kind, key_id) for kind, key_id, _, _ in seen]

"""400 days of daily runs under the default policy (SPEC.md rules 2-7): a consumer that switches
keys the day after, one that switches on day 3, one that never does, and two consumers of one
key of which only one switches. keyrotate's own check of each new key is part of the run.

Each day the run plans at ``T0 + day`` and the simulated executor applies the plan exactly as
enforce mode will, keeping KeyState the way the real one does (after ROTATE the secret holds
the new key and ``rotated_at = now``; after DEACTIVATE ``deactivated_at[key] = now``). An hour
after the run the consumer uses its key; that key must be active, or the consumer broke.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import pytest

from keyrotate.domain import (
    AccessKey,
    Action,
    ActionKind,
    KeyState,
    KeyStatus,
    Plan,
    Reason,
    RotationPolicy,
    UserKeys,
    plan,
)
from tests.unit.engine_support import DAY, NewKeyIds, apply_plan, use_key

T0 = datetime(2025, 1, 6, 2, 30, tzinfo=UTC)
USE_OFFSET = DAY / 24  # the consumer's daily call, an hour after the run
LAST_DAY = 400
FIRST_KEY = "AKIAFIRSTKEY0000000"

ROTATE = ActionKind.ROTATE
DEACTIVATE = ActionKind.DEACTIVATE
DELETE = ActionKind.DELETE
WARN = ActionKind.WARN
HOLD = ActionKind.HOLD
BLOCKED = ActionKind.BLOCKED


@dataclass(frozen=True)
class Run:
    day: int
    plan: Plan

    def of_kind(self, kind: ActionKind) -> list[Action]:
        return [a for a in self.plan.actions if a.kind is kind]


VERIFY_OFFSET = DAY / (24 * 360)  # keyrotate's own STS check, 10 s after the rotation


def simulate(*switch_after_days: int | None, days: int = LAST_DAY) -> list[Run]:
    """One run a day from day 0 to ``days``; key A is created at the day-0 run.

    Each argument is one consumer of the user's key: it switches to a new key this many days
    after the key appeared (``None``: never). Right after each rotation keyrotate checks the
    new key with STS, which IAM records as the key's last use, and records that moment as its
    own use (``self_used_at``), as enforce mode does.
    """
    u = UserKeys("svc-app", (AccessKey(FIRST_KEY, KeyStatus.ACTIVE, T0, None),), KeyState())
    new_key_id = NewKeyIds("AKIAROTATED")
    in_use = [FIRST_KEY] * len(switch_after_days)
    runs: list[Run] = []
    for day in range(days + 1):
        now = T0 + day * DAY
        result = plan(u, RotationPolicy(), now=now)
        runs.append(Run(day, result))
        u = apply_plan(u, result, now, new_key_id)
        assert len(u.keys) <= 2
        if any(a.kind is ROTATE for a in result.actions):
            checked = now + VERIFY_OFFSET
            assert u.state.secret_key_id is not None
            u = use_key(u, u.state.secret_key_id, checked)
            u = replace(u, state=replace(u.state, self_used_at=checked))

        newest = u.state.secret_key_id
        for consumer, delay in enumerate(switch_after_days):
            if delay is not None and newest is not None and newest != in_use[consumer]:
                created = next(k.created for k in u.keys if k.key_id == newest)
                if created <= now - delay * DAY:
                    in_use[consumer] = newest
        for key_id in in_use:
            used = next((k for k in u.keys if k.key_id == key_id), None)
            assert used is not None, f"day {day}: a consumer's key {key_id} was deleted"
            assert used.active, f"day {day}: a consumer's key {key_id} was deactivated"
            u = use_key(u, key_id, now + USE_OFFSET)
    return runs


def days_with(runs: Iterable[Run], kind: ActionKind) -> list[int]:
    return [r.day for r in runs if r.of_kind(kind)]


@pytest.fixture(scope="module")
def switching() -> list[Run]:
    return simulate(1)


@pytest.fixture(scope="module")
def switching_on_day_3() -> list[Run]:
    return simulate(3)


@pytest.fixture(scope="module")
def never_switching() -> list[Run]:
    return simulate(None)


@pytest.fixture(scope="module")
def half_switching() -> list[Run]:
    """Two consumers share the key: one switches the day after, the other never does."""
    return simulate(1, None)


def test_switching_consumer_rotates_deactivates_deletes_on_exactly_the_policy_days(
    switching: list[Run],
) -> None:
    assert days_with(switching, ROTATE) == [90, 180, 270, 360]
    assert days_with(switching, DEACTIVATE) == [100, 190, 280, 370]
    assert days_with(switching, DELETE) == [110, 200, 290, 380]
    changing = [r.day for r in switching if r.plan.changes]
    assert changing == sorted([90, 180, 270, 360, 100, 190, 280, 370, 110, 200, 290, 380])
    for r in switching:
        assert len(r.plan.changes) <= 1, f"day {r.day}: one change at a time"


def test_switching_consumer_retires_each_key_for_the_right_reason_in_order(
    switching: list[Run],
) -> None:
    """Each cycle retires the key that the previous cycle replaced, never the current one."""
    rotated = [r.of_kind(ROTATE)[0].key_id for r in switching if r.of_kind(ROTATE)]
    deactivated = [r.of_kind(DEACTIVATE)[0] for r in switching if r.of_kind(DEACTIVATE)]
    deleted = [r.of_kind(DELETE)[0] for r in switching if r.of_kind(DELETE)]
    assert rotated[0] == FIRST_KEY
    assert [a.key_id for a in deactivated] == rotated
    assert [a.key_id for a in deleted] == rotated
    assert {a.reason for a in deactivated} == {Reason.REPLACED}
    assert {a.reason for a in deleted} == {Reason.RECOVERY_ELAPSED}
    assert {a.reason for r in switching for a in r.of_kind(ROTATE)} == {Reason.ROTATION_DUE}


def test_switching_consumer_is_warned_seven_days_ahead_of_each_change(
    switching: list[Run],
) -> None:
    expected: list[int] = []
    for change_day in (90, 100, 110, 180, 190, 200, 270, 280, 290, 360, 370, 380):
        expected += range(change_day - 7, change_day)
    assert days_with(switching, WARN) == sorted(expected)
    for r in switching:
        for warn in r.of_kind(WARN):
            assert warn.due is not None
            assert warn.due - (T0 + r.day * DAY) <= 7 * DAY


def test_switching_consumer_is_never_held_nor_blocked(switching: list[Run]) -> None:
    assert days_with(switching, HOLD) == []
    assert days_with(switching, BLOCKED) == []


def test_never_switching_consumer_holds_every_run_from_day_100_and_says_why(
    never_switching: list[Run],
) -> None:
    assert days_with(never_switching, HOLD) == list(range(100, LAST_DAY + 1))
    for r in never_switching[100:]:
        (hold,) = r.of_kind(HOLD)
        assert hold.key_id == FIRST_KEY
        assert hold.reason is Reason.CONSUMER_NOT_SWITCHED
        assert "the consumer has not switched" in hold.reason.sentence
        assert hold.due == T0 + 100 * DAY
        # overdue only once older than hold_escalate_after_days (14)
        assert hold.overdue is (r.day > 114)


def test_never_switching_consumer_sees_nothing_changed_after_day_90(
    never_switching: list[Run],
) -> None:
    changing = [(r.day, a.kind) for r in never_switching for a in r.plan.changes]
    assert changing == [(90, ROTATE)]


def test_never_switching_consumer_blocks_the_new_keys_rotation_from_day_180(
    never_switching: list[Run],
) -> None:
    """Rule 7: while a HOLD lasts, the current key's own rotation is BLOCKED (rule 2)."""
    assert days_with(never_switching, BLOCKED) == list(range(180, LAST_DAY + 1))
    for r in never_switching[180:]:
        (blocked,) = r.of_kind(BLOCKED)
        assert blocked.key_id == r.plan.current_key_id != FIRST_KEY
        assert blocked.reason is Reason.NO_FREE_SLOT


def test_a_consumer_switching_on_day_3_changes_keys_on_exactly_the_policy_days(
    switching_on_day_3: list[Run],
) -> None:
    """The old key's last use is day 92 of its cycle: 8 days unused by day 100, so no HOLD."""
    assert days_with(switching_on_day_3, ROTATE) == [90, 180, 270, 360]
    assert days_with(switching_on_day_3, DEACTIVATE) == [100, 190, 280, 370]
    assert days_with(switching_on_day_3, DELETE) == [110, 200, 290, 380]
    assert days_with(switching_on_day_3, HOLD) == []


def test_keyrotates_own_check_of_the_new_key_never_counts_as_the_consumer_switching(
    never_switching: list[Run],
) -> None:
    """The new key's only use is keyrotate's STS check: still 'the consumer has not switched'."""
    for r in never_switching[100:]:
        (hold,) = r.of_kind(HOLD)
        assert hold.reason is Reason.CONSUMER_NOT_SWITCHED


def test_a_key_still_used_by_one_of_two_consumers_is_held_as_in_use_alongside_the_new_one(
    half_switching: list[Run],
) -> None:
    assert days_with(half_switching, HOLD) == list(range(100, LAST_DAY + 1))
    changing = [(r.day, a.kind) for r in half_switching for a in r.plan.changes]
    assert changing == [(90, ROTATE)]
    for r in half_switching[100:]:
        (hold,) = r.of_kind(HOLD)
        assert hold.key_id == FIRST_KEY
        assert hold.reason is Reason.STILL_IN_USE
        assert "still in use alongside the new key" in hold.reason.sentence

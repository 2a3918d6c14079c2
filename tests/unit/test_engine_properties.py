"""Hypothesis properties of the engine: the safety promises of SPEC.md over generated users.

A generated case is one user (0-2 keys, random statuses, ages 0-500 days to the microsecond,
random last use, random recorded state), a valid random policy and ``now``. Plans are applied
with the same simulated executor as the other engine tests (DELETE removes, DEACTIVATE flips
and records ``deactivated_at``, ROTATE adds an active key created at ``now``).
"""

from __future__ import annotations

import ast
import inspect
import sys
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import keyrotate.domain
from keyrotate.domain import (
    ORPHAN_WINDOW,
    SELF_USE_MARGIN,
    AccessKey,
    ActionKind,
    KeyState,
    KeyStatus,
    Plan,
    Reason,
    RotationPolicy,
    UnusedKeyAction,
    UserKeys,
    consumer_last_used,
    plan,
)
from tests.unit.engine_support import NewKeyIds, apply_plan

# Sized so the whole file runs in a few seconds on a busy 2-core machine.
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

BASE = datetime(2025, 1, 1, tzinfo=UTC)
KEY_IDS = ("AKIAKEYFIRST0000000", "AKIAKEYSECOND000000")
CHANGING = (ActionKind.ROTATE, ActionKind.DEACTIVATE, ActionKind.DELETE)


@dataclass(frozen=True)
class Case:
    user: UserKeys
    policy: RotationPolicy
    now: datetime

    def plan(self) -> Plan:
        return plan(self.user, self.policy, now=self.now)


@st.composite
def policies(draw: st.DrawFn) -> RotationPolicy:
    rotate = draw(st.integers(2, 200))
    deactivate = rotate + draw(st.integers(1, 60))
    return RotationPolicy(
        rotate_after_days=rotate,
        deactivate_after_days=deactivate,
        delete_after_days=deactivate + draw(st.integers(1, 60)),
        warn_before_days=draw(st.integers(1, rotate - 1)),
        unused_key_action=draw(st.sampled_from(UnusedKeyAction)),
        hold_if_previous_in_use=draw(st.booleans()),
        hold_escalate_after_days=draw(st.integers(1, 30)),
        in_use_days=draw(st.integers(1, 30)),
    )


def _age(draw: st.DrawFn, policy: RotationPolicy) -> timedelta:
    """0-500 days to the microsecond; often within a day of one of the policy's thresholds."""
    if draw(st.booleans()):
        days = draw(st.integers(0, 500))
    else:
        near = (
            policy.rotate_after_days,
            policy.deactivate_after_days,
            policy.delete_after_days,
            policy.rotate_after_days - policy.warn_before_days,
            policy.deactivate_after_days - policy.rotate_after_days,
        )
        days = min(500, max(0, draw(st.sampled_from(near)) + draw(st.integers(-1, 1))))
    micro = draw(st.sampled_from([0, 1, 86_399_999_999])) if draw(st.booleans()) else None
    if micro is None:
        micro = draw(st.integers(0, 86_399_999_999))
    return min(timedelta(days=days, microseconds=micro), timedelta(days=500))


@st.composite
def cases(draw: st.DrawFn, *, with_intent: bool = False) -> Case:
    policy = draw(policies())
    now = BASE + timedelta(seconds=draw(st.integers(0, 10**8)))
    count = draw(st.sampled_from((1, 2, 0, 2)))
    ids = list(KEY_IDS[:count])
    if count == 2 and draw(st.booleans()):
        ids.reverse()  # so the key id tie-break and the creation order disagree sometimes
    keys: list[AccessKey] = []
    same_created = count == 2 and draw(st.integers(0, 9)) == 0
    for key_id in ids:
        created = keys[0].created if same_created and keys else now - _age(draw, policy)
        last_used = None
        if draw(st.booleans()):  # never before the key existed
            last_used = max(created, now - _age(draw, policy))
        status = draw(st.sampled_from(KeyStatus))
        keys.append(AccessKey(key_id, status, created, last_used))

    secret_key_id = draw(st.sampled_from([None, "AKIAGONE00000000000", *ids]))
    rotated_at = None
    if secret_key_id is not None and draw(st.booleans()):
        held = next((k for k in keys if k.key_id == secret_key_id), None)
        if held is not None and draw(st.booleans()):
            rotated_at = held.created  # as a rotation records it
        else:
            rotated_at = now - _age(draw, policy)
    deactivated_at = {
        k.key_id: max(k.created, now - _age(draw, policy)) for k in keys if draw(st.booleans())
    }
    intent_at = None
    if with_intent and keys:
        anchor = draw(st.sampled_from(keys)).created
        intent_at = anchor - timedelta(seconds=draw(st.integers(-3600, 3600)))
    self_used_at = None
    if rotated_at is not None and draw(st.booleans()):  # the tool's check after its rotation
        self_used_at = rotated_at + timedelta(seconds=draw(st.integers(0, 600)))
    state = KeyState(secret_key_id, rotated_at, deactivated_at, intent_at, self_used_at)
    user = UserKeys("bob", tuple(keys), state, forced=draw(st.integers(0, 9)) == 0)
    return Case(user, policy, now)


def _key(u: UserKeys, key_id: str | None) -> AccessKey:
    return next(k for k in u.keys if k.key_id == key_id)


def _replacement_created(case: Case, current_id: str | None) -> datetime:
    """SPEC "rotated at": recorded in the secret's metadata, else the current key's creation."""
    current = _key(case.user, current_id)
    state = case.user.state
    if state.secret_key_id == current.key_id and state.rotated_at is not None:
        return state.rotated_at
    return current.created


@PROPERTY
@given(cases())
def test_applying_a_plan_never_leaves_more_than_two_keys_nor_creates_a_third(case: Case) -> None:
    result = case.plan()
    # apply_plan raises if a ROTATE would run while two keys are still there
    after = apply_plan(case.user, result, case.now, NewKeyIds())
    assert len(after.keys) <= 2
    assert sum(a.kind is ActionKind.ROTATE for a in result.actions) <= 1
    touched = [a.key_id for a in result.actions if a.kind in CHANGING[1:]]
    assert len(touched) == len(set(touched)), "a key is changed at most once per plan"


@PROPERTY
@given(cases())
def test_an_active_key_is_never_deleted(case: Case) -> None:
    for action in case.plan().actions:
        if action.kind is ActionKind.DELETE:
            assert not _key(case.user, action.key_id).active
            assert action.reason is Reason.RECOVERY_ELAPSED


@PROPERTY
@given(cases())
def test_nothing_is_deactivated_inside_the_install_window(case: Case) -> None:
    result = case.plan()
    policy, now = case.policy, case.now
    for action in result.actions:
        if action.kind is not ActionKind.DEACTIVATE:
            continue
        target = _key(case.user, action.key_id)
        assert target.active
        if action.reason is Reason.UNUSED:  # the current key itself, which nobody waits for
            assert target.key_id == result.current_key_id
            # never used by a consumer: at most by keyrotate's own check (SPEC rule 7)
            assert consumer_last_used(target, case.user.state) is None
            assert not any(k.active and k is not target for k in case.user.keys)
            assert now >= target.created + policy.rotate_after
        else:
            assert action.reason is Reason.REPLACED
            assert target.key_id != result.current_key_id
            assert now >= _replacement_created(case, result.current_key_id) + policy.install_window
            assert now >= target.created + policy.deactivate_after


@PROPERTY
@given(cases())
def test_nothing_is_deleted_inside_the_recovery_window(case: Case) -> None:
    policy, now = case.policy, case.now
    for action in case.plan().actions:
        if action.kind is not ActionKind.DELETE:
            continue
        target = _key(case.user, action.key_id)
        assert now >= target.created + policy.delete_after
        recorded = case.user.state.deactivated_at.get(target.key_id)
        if recorded is not None:
            assert now >= recorded + policy.recovery_window


@PROPERTY
@given(cases(), st.data())
def test_the_tools_own_use_of_the_key_it_stored_never_changes_a_plan(
    case: Case, data: st.DataObject
) -> None:
    """Rule 7: a last use no later than the tool's own (plus the margin) is no consumer's."""
    state = case.user.state
    own = state.self_used_at or state.rotated_at
    held = [k for k in case.user.keys if k.key_id == state.secret_key_id]
    if own is None or not held:
        return
    lag = timedelta(seconds=data.draw(st.integers(0, int(SELF_USE_MARGIN.total_seconds()))))
    checked_only = replace(held[0], last_used=own + lag)
    never = replace(held[0], last_used=None)
    keys_checked = tuple(checked_only if k is held[0] else k for k in case.user.keys)
    keys_never = tuple(never if k is held[0] else k for k in case.user.keys)
    with_check = plan(replace(case.user, keys=keys_checked), case.policy, now=case.now)
    untouched = plan(replace(case.user, keys=keys_never), case.policy, now=case.now)
    assert with_check == untouched


@PROPERTY
@given(cases())
def test_a_previous_key_used_recently_after_its_replacement_is_never_deactivated(
    case: Case,
) -> None:
    """Rule 7: used after the current key was created and within in_use_days -> not touched."""
    result = case.plan()
    if not case.policy.hold_if_previous_in_use or result.current_key_id is None:
        return
    current = _key(case.user, result.current_key_id)
    for action in result.actions:
        if action.kind is not ActionKind.DEACTIVATE or action.key_id == current.key_id:
            continue
        previous = _key(case.user, action.key_id)
        last = previous.last_used
        assert last is None or last <= current.created or case.now - last > case.policy.in_use


@PROPERTY
@given(cases())
def test_a_plan_does_not_depend_on_the_order_keys_are_listed_in(case: Case) -> None:
    keys = list(case.user.keys)
    reordered = replace(case.user, keys=tuple(reversed(keys)))
    assert plan(reordered, case.policy, now=case.now) == case.plan()


@PROPERTY
@given(cases())
def test_plan_is_deterministic_so_audit_and_enforce_see_the_same_actions(case: Case) -> None:
    first = case.plan()
    time.sleep(0)  # let the real clock move on between the two calls
    assert case.plan() == first
    assert plan(case.user, case.policy, now=case.now) == first


def test_plan_takes_no_mode_only_the_user_the_policy_and_now() -> None:
    """Audit and enforce cannot differ: there is nothing to tell the engine which one runs."""
    assert list(inspect.signature(plan).parameters) == ["user", "policy", "now"]


@PROPERTY
@given(cases())
def test_warn_changes_nothing_and_is_due_within_warn_before(case: Case) -> None:
    for action in case.plan().actions:
        if action.kind is ActionKind.WARN:
            assert not action.kind.changes_keys
            assert action.upcoming in CHANGING
            assert action.due is not None
            assert timedelta(0) < action.due - case.now <= case.policy.warn_before
            assert action.key_id in {k.key_id for k in case.user.keys}


@PROPERTY
@given(cases(with_intent=True))
def test_every_changing_action_is_due_now_or_earlier(case: Case) -> None:
    for action in case.plan().actions:
        if action.kind in CHANGING:
            assert action.due is not None
            assert action.due <= case.now


@PROPERTY
@given(cases())
def test_a_blocked_rotation_names_a_future_date_and_excludes_rotating(case: Case) -> None:
    result = case.plan()
    blocked = [a for a in result.actions if a.kind is ActionKind.BLOCKED]
    if blocked:
        assert blocked[0].due is not None
        assert blocked[0].due > case.now
        assert not any(a.kind is ActionKind.ROTATE for a in result.actions)
        assert len(case.user.keys) == 2


@PROPERTY
@given(cases())
def test_after_applying_a_plan_planning_again_at_once_never_touches_the_new_key(
    case: Case,
) -> None:
    result = case.plan()
    after = apply_plan(case.user, result, case.now, NewKeyIds())
    if any(a.kind is ActionKind.ROTATE for a in result.actions):
        again = plan(after, case.policy, now=case.now)
        new_id = after.state.secret_key_id
        assert again.current_key_id == new_id
        assert [a for a in again.actions if a.kind in CHANGING and a.key_id == new_id] == []
        assert not any(a.kind is ActionKind.ROTATE for a in again.actions)


@PROPERTY
@given(cases(with_intent=True))
def test_only_keys_created_within_15_minutes_of_the_marker_and_held_by_no_secret_are_orphans(
    case: Case,
) -> None:
    state = case.user.state
    assert state.intent_at is not None or not case.user.keys
    if state.intent_at is not None and case.now < state.intent_at + ORPHAN_WINDOW:
        return  # another run may still be storing its key: see the in-progress property
    orphans = {
        k.key_id
        for k in case.user.keys
        if state.intent_at is not None
        and state.intent_at <= k.created <= state.intent_at + ORPHAN_WINDOW
        and k.key_id != state.secret_key_id
    }
    result = case.plan()
    orphan_deletes = [a for a in result.actions if a.reason is Reason.ORPHAN]
    assert {a.key_id for a in orphan_deletes} == orphans
    assert all(a.kind is ActionKind.DELETE for a in orphan_deletes)
    assert result.actions[: len(orphan_deletes)] == tuple(orphan_deletes)  # they come first
    # Then the user is planned as if the orphans were already gone.
    rest = replace(case.user, keys=tuple(k for k in case.user.keys if k.key_id not in orphans))
    assert plan(rest, case.policy, now=case.now).actions == result.actions[len(orphans) :]


@PROPERTY
@given(cases(with_intent=True))
def test_a_marker_younger_than_15_minutes_means_nothing_is_changed(case: Case) -> None:
    """Another run may sit between creating a key and storing it: its key is not an orphan."""
    intent = case.user.state.intent_at
    result = case.plan()
    if (
        intent is None
        or case.now >= intent + ORPHAN_WINDOW
        or result.actions[0].kind is (ActionKind.EXEMPT)
    ):
        return
    assert [(a.kind, a.reason, a.due) for a in result.actions] == [
        (ActionKind.BLOCKED, Reason.ROTATION_IN_PROGRESS, intent + ORPHAN_WINDOW)
    ]


# --- The engine reads no clock, no environment ---------------------------------------------------

_CLOCK_READS = {"now", "utcnow", "today", "time", "time_ns", "monotonic", "perf_counter"}
_ENV_READS = {"getenv", "getenviron", "environ"}


@settings(max_examples=40, deadline=None)
@given(cases(with_intent=True))
def test_plan_calls_no_clock_and_no_environment(case: Case) -> None:
    """Every call made from keyrotate code during plan(), C builtins included, is traced: none
    reads time or the environment. (Calls made by the test machinery itself are ignored.)"""
    called: set[str] = set()
    ours = str(Path(keyrotate.domain.__file__).parent.parent)

    def trace(frame: FrameType, event: str, arg: object) -> None:
        if event == "c_call" and frame.f_code.co_filename.startswith(ours):
            called.add(getattr(arg, "__name__", ""))
        elif event == "call":
            caller = frame.f_back
            if caller is not None and caller.f_code.co_filename.startswith(ours):
                called.add(frame.f_code.co_name)

    sys.setprofile(trace)
    try:
        result = case.plan()
    finally:
        sys.setprofile(None)
    assert called, "the profiler saw no calls: the test would prove nothing"
    assert not called & (_CLOCK_READS | _ENV_READS)
    assert result == case.plan()


def test_the_engine_modules_import_only_the_standard_library_and_no_clock_or_env() -> None:
    forbidden = {"os", "time", "random", "secrets", "sys", "zoneinfo"}
    domain = Path(keyrotate.domain.__file__).parent
    for path in (domain / "engine.py", domain / "models.py", domain / "policy.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                root = name.split(".")[0]
                if name.startswith("keyrotate.domain"):
                    continue
                assert root in sys.stdlib_module_names, (path, name)
                assert root not in forbidden, (path, name)


def test_the_engine_source_never_mentions_a_clock_read() -> None:
    source = Path(inspect.getfile(plan)).read_text()
    tree = ast.parse(source)
    attributes = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert not attributes & (_CLOCK_READS | _ENV_READS)

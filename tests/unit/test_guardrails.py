"""The guardrails' arithmetic and shared state: caps, the failure breaker, the kill switch.

Through the CLI against the emulator: tests/functional/test_guardrails.py.
"""

from __future__ import annotations

import threading
import time

import pytest

from keyrotate.domain.errors import AccessDenied, AwsError
from keyrotate.domain.guardrails import Cap, Tally, allot, tally
from keyrotate.domain.models import Action, ActionKind, Reason
from keyrotate.domain.results import ActionResult, Outcome
from keyrotate.domain.summary import ActionCounts, RunSummary
from keyrotate.service.guardrails import KillSwitch, RunBudget, RunGuard, run_notes
from tests.run_options import run_options


# -- caps ------------------------------------------------------------------------------------
def test_units_are_granted_as_a_prefix_within_the_account_cap() -> None:
    allotment = allot([("ann", 1), ("bob", 2), ("cy", 1)], account_cap=2, run_left=10)
    # cy's one change would fit, but what is done stays a prefix: the next run takes up there
    assert (allotment.granted, allotment.used, allotment.deferred) == ({"ann"}, 1, 3)
    assert allotment.cause is Cap.ACCOUNT


def test_a_delete_then_rotate_is_never_split() -> None:
    allotment = allot([("ann", 1), ("bob", 2)], account_cap=100, run_left=2)
    assert (allotment.granted, allotment.deferred, allotment.cause) == ({"ann"}, 2, Cap.RUN)


def test_the_run_cap_is_named_when_both_caps_are_reached() -> None:
    assert allot([("ann", 3)], account_cap=2, run_left=2).cause is Cap.RUN


def test_everything_fits_under_the_caps() -> None:
    allotment = allot([("ann", 2), ("bob", 2)], account_cap=4, run_left=4)
    assert (allotment.granted, allotment.used, allotment.deferred) == ({"ann", "bob"}, 4, 0)
    assert allotment.cause is None
    assert allot([], account_cap=2, run_left=0).cause is None


def test_the_run_budget_is_granted_in_account_id_order_whatever_the_arrival_order() -> None:
    budget = RunBudget(3, ["222222222222", "111111111111"])
    assert budget.order == ["111111111111", "222222222222"]
    granted: dict[str, set[str]] = {}

    def account(account_id: str, user: str) -> None:
        with budget.turn(account_id) as turn:
            granted[account_id] = set(turn.take([(user, 2)], account_cap=100).granted)

    later = threading.Thread(target=account, args=("222222222222", "bob"))
    later.start()  # arrives first, and must wait for the lower account id
    time.sleep(0.05)
    assert later.is_alive()
    account("111111111111", "ann")
    later.join(timeout=5)
    assert granted == {"111111111111": {"ann"}, "222222222222": set()}
    assert budget.cap_reached


def test_an_account_that_never_takes_its_turn_passes_it_on() -> None:
    budget = RunBudget(10, ["111111111111", "222222222222"])
    with budget.turn("111111111111"):
        pass  # its scan failed, or the kill switch was on
    with budget.turn("222222222222") as turn:
        assert turn.take([("bob", 2)], account_cap=100).granted == {"bob"}


def test_once_the_run_cap_is_reached_no_later_account_gets_anything() -> None:
    budget = RunBudget(3, ["111111111111", "222222222222", "333333333333"])
    shares = []
    for account_id, cost in (("111111111111", 2), ("222222222222", 2), ("333333333333", 1)):
        with budget.turn(account_id) as turn:
            shares.append(turn.take([("user", cost)], account_cap=100))
    assert [bool(s.granted) for s in shares] == [True, False, False]
    assert [s.cause for s in shares] == [None, Cap.RUN, Cap.RUN]


def test_a_turn_is_taken_once() -> None:
    budget = RunBudget(10)
    with budget.turn("111111111111") as turn:
        turn.take([], account_cap=2)
        with pytest.raises(RuntimeError, match="took its share already"):
            turn.take([], account_cap=2)


# -- the breaker -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("attempted", "failed", "trips"),
    [(4, 4, False), (5, 3, True), (6, 3, False), (10, 6, True), (5, 5, True)],
)
def test_the_breaker_trips_past_the_share_once_enough_changes_were_attempted(
    attempted: int, failed: int, trips: bool
) -> None:
    assert Tally(attempted, failed).trips(50, 5) is trips


def test_a_breaker_at_100_percent_never_trips() -> None:
    assert not Tally(100, 100).trips(100, 1)


def _result(kind: ActionKind, outcome: Outcome) -> ActionResult:
    return ActionResult(Action(kind, "ann", "AKIA1", Reason.ROTATION_DUE, None), outcome)


def test_only_changes_that_were_attempted_count() -> None:
    results = [
        _result(ActionKind.DELETE, Outcome.DONE),
        _result(ActionKind.ROTATE, Outcome.FAILED),
        _result(ActionKind.DEACTIVATE, Outcome.SKIPPED),
        _result(ActionKind.DEACTIVATE, Outcome.DEFERRED),
        _result(ActionKind.WARN, Outcome.NOTICE),
    ]
    assert tally(results) == Tally(attempted=2, failed=1)
    assert Tally(1, 0) + Tally(2, 2) == Tally(3, 2)


def test_the_run_breaker_latches_with_the_first_reason() -> None:
    guard = RunGuard.for_run(run_options(dry_run=False, failure_breaker_min_actions=2))
    guard.breaker.add(Tally(1, 1))
    assert guard.breaker.tripped is None
    guard.breaker.add(Tally(1, 1))
    first = guard.breaker.tripped
    assert first is not None
    assert "2 of 2 changes failed in this run" in first
    guard.breaker.add(Tally(100, 0))  # a later success does not reset it
    assert guard.breaker.tripped == first


# -- the kill switch -------------------------------------------------------------------------
PARAMETER = "/keyrotate/kill-switch"


def switch(value: str | AwsError | None) -> KillSwitch:
    def read(name: str) -> str | None:
        assert name == PARAMETER
        if isinstance(value, AwsError):
            raise value
        return value

    return KillSwitch(PARAMETER, read)


@pytest.mark.parametrize("value", ["off", "OFF", " false ", "no", "0"])
def test_a_switch_that_says_off_lets_the_account_be_enforced(value: str) -> None:
    assert switch(value).check() is None


@pytest.mark.parametrize(
    ("value", "said"),
    [("on", "is on"), ("TRUE", "is on"), ("1", "is on"), ("maybe", "is 'maybe' (not off)")],
)
def test_a_switch_that_is_not_clearly_off_audits_the_account(value: str, said: str) -> None:
    note = switch(value).check()
    assert note is not None
    assert f"the kill switch {PARAMETER} {said}" in note
    assert "audited" in note


def test_a_missing_switch_counts_as_on_and_says_how_to_enforce() -> None:
    note = switch(None).check()
    assert note is not None
    assert "does not exist: treated as on" in note
    assert "create it with the value off" in note


def test_a_switch_that_cannot_be_read_counts_as_on() -> None:
    note = switch(AccessDenied("ssm:GetParameter", "AccessDenied", "no")).check()
    assert note is not None
    assert "could not be read" in note
    assert "ssm:GetParameter" in note


def test_the_switch_is_read_only_when_enforcing_with_a_parameter_and_a_reader() -> None:
    def read(name: str) -> str | None:
        return "on"

    enforcing = run_options(dry_run=False, kill_switch_parameter=PARAMETER)
    assert RunGuard.for_run(enforcing, read_parameter=read).kill_switch_note() is not None
    auditing = run_options(dry_run=True, kill_switch_parameter=PARAMETER)
    assert RunGuard.for_run(auditing, read_parameter=read).kill_switch_note() is None
    unset = run_options(dry_run=False)
    assert RunGuard.for_run(unset, read_parameter=read).kill_switch_note() is None


# -- what the run says -----------------------------------------------------------------------
def test_a_quiet_run_has_no_notes() -> None:
    assert run_notes(RunSummary(), run_options(dry_run=False)) == ()


def test_the_run_notes_name_each_guardrail_that_acted() -> None:
    options = run_options(dry_run=False, kill_switch_parameter=PARAMETER, max_actions_per_run=3)
    summary = RunSummary(
        kill_switch_accounts=2,
        breaker_trips=1,
        actions=ActionCounts.of(
            {
                (ActionKind.ROTATE, Outcome.DEFERRED): 4,
                (ActionKind.ROTATE, Outcome.DONE): 3,
                (ActionKind.DELETE, Outcome.FAILED): 1,
            }
        ),
    )
    kill, breaker, deferred, over = run_notes(summary, options)
    assert kill.startswith(f"the kill switch ({PARAMETER}) was on: 2 account(s) were audited")
    assert "failure breaker stopped the changes of 1 account(s)" in breaker
    assert deferred.startswith("4 change(s) were deferred")
    # only where accounts run in separate functions can a run go past its cap
    assert "attempted 4 changes, more than MaxActionsPerRun (3)" in over

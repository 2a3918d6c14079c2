"""The run's stop (keyrotate.service.stop): a deadline and an interrupt, read before each user
and each account. On fakes; through the CLI and the emulator: tests/functional/test_run_stop.
"""

from __future__ import annotations

import os
import signal
import threading

import pytest

from keyrotate.cli.run_command import _interrupts
from keyrotate.domain.guardrails import Tally
from keyrotate.domain.models import Account as OrgAccount
from keyrotate.domain.results import Outcome
from keyrotate.service.account import run_account
from keyrotate.service.guardrails import RunGuard
from keyrotate.service.stop import RunStop, format_duration, parse_duration
from tests.unit.test_cli_errors import assert_clean_input_error, invoke
from tests.unit.test_guarded import NOW, Account, outcomes


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_deadline_says_why_once_it_has_passed_and_not_before() -> None:
    ticks = Ticks()
    stop = RunStop(clock=ticks)
    assert stop.reason() is None
    assert stop.remaining() is None
    stop.set_deadline(30, "out of time")
    ticks.now += 29.5
    assert stop.reason() is None
    assert stop.remaining() == pytest.approx(0.5)
    ticks.now += 0.5
    assert stop.reason() == "out of time"


def test_an_interrupt_wins_over_the_deadline_and_the_first_one_is_kept() -> None:
    ticks = Ticks()
    stop = RunStop(clock=ticks)
    stop.set_deadline(1, "out of time")
    stop.interrupt("the run was interrupted (SIGINT)")
    stop.interrupt("the run was interrupted (SIGTERM)")
    ticks.now += 5
    assert stop.interrupted
    assert stop.reason() == "the run was interrupted (SIGINT)"


def test_halt_reason_is_the_breakers_first_then_the_stops() -> None:
    account = Account("u1")
    guard = RunGuard.for_run(account.options)
    assert guard.halt_reason() is None
    guard.stop.interrupt("interrupted")
    assert guard.halt_reason() == "interrupted"
    guard.breaker.add(Tally(attempted=5, failed=5))
    assert (guard.halt_reason() or "").startswith("the failure breaker tripped")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("600", 600), ("90s", 90), ("10m", 600), ("1h", 3600), ("1h30m", 5400), (" 2.5m ", 150)],
)
def test_durations_are_read_in_seconds_minutes_and_hours(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "-5", "10x", "m", "1h30", "1..5m", "ten minutes"])
def test_a_duration_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_duration(text)


def test_durations_are_written_back_in_whole_units() -> None:
    assert [format_duration(s) for s in (0, 0.3, 59, 90, 3600, 5400.4)] == [
        "0s",
        "0.3s",
        "59s",
        "1m30s",
        "1h",
        "1h30m",
    ]


def test_users_after_the_stop_are_deferred_untouched_and_it_is_no_breaker_trip() -> None:
    names = [f"u{i}" for i in range(1, 7)]
    account = Account(*names)
    guard = RunGuard.for_run(account.options)
    deletes = account.iam.delete_key

    def delete_then_interrupt(user_name: str, key_id: str) -> None:
        deletes(user_name, key_id)
        guard.stop.interrupt("the run was interrupted (SIGINT)")

    account.iam.delete_key = delete_then_interrupt  # type: ignore[method-assign]
    guarded = account.enforce(guard)
    done = [n for n in names if outcomes(guarded)[n] is Outcome.DONE]
    deferred = [n for n in names if outcomes(guarded)[n] is Outcome.DEFERRED]
    assert done
    assert deferred
    assert sorted(done + deferred) == names
    assert sorted(account.deleted()) == done  # a deferred user saw no call at all
    for name in deferred:
        assert guarded.results[name][0].note == "the run was interrupted (SIGINT)"
    assert guarded.cut_short
    assert not guarded.breaker_tripped
    (note,) = guarded.notes
    assert note.startswith("cut short: the run was interrupted (SIGINT)")
    assert f"{len(deferred)} change(s) were deferred to the next run" in note


def test_an_account_not_started_before_the_stop_is_reported_deferred_without_a_call() -> None:
    account = Account("u1")
    guard = RunGuard.for_run(account.options, ["111122223333", "999988887777"])
    guard.stop.interrupt("the run was interrupted (SIGINT)")
    released: list[str] = []

    class Sessions:  # run_account must not open the account: any other use fails the test
        def release(self, account_id: str) -> None:
            released.append(account_id)

    later = threading.Event()

    def second() -> None:  # waits for the first account's turn: it must be passed on
        with guard.budget.turn("999988887777") as turn:
            turn.take([], 1)
        later.set()

    waiter = threading.Thread(target=second)
    waiter.start()
    result = run_account(
        OrgAccount("111122223333", "a", "a@example.com"),
        Sessions(),  # type: ignore[arg-type]
        account.options,
        now=NOW,
        clock=lambda: NOW,
        guard=guard,
    )
    waiter.join(timeout=5)
    assert later.is_set()
    assert result.status.value == "skipped"
    assert result.cut_short
    assert result.reason == (
        "not started: the run was interrupted (SIGINT); deferred to the next run "
        "(nothing was read or changed)"
    )
    assert released == ["111122223333"]


@pytest.mark.parametrize("budget", ["soon", "0", "-1m", "10 minutes"])
def test_a_time_budget_that_is_no_duration_exits_2_before_any_call(budget: str) -> None:
    # No AWS here: a run that went on would fail on credentials (exit 1), not exit 2.
    result = invoke(["run", "--enforce", "--time-budget", budget])
    assert_clean_input_error(result, "--time-budget", repr(budget), "600, 90s, 10m or 1h")


def test_the_first_signal_stops_the_run_and_the_old_handlers_come_back() -> None:
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    stop = RunStop()
    with _interrupts(stop):
        assert signal.getsignal(signal.SIGINT) is not before[signal.SIGINT]
        os.kill(os.getpid(), signal.SIGTERM)  # handled at once, in this (the main) thread
        assert stop.reason() == "the run was interrupted (SIGTERM)"
    assert {sig: signal.getsignal(sig) for sig in before} == before

"""The guardrails of one enforce run, shared by the accounts of one process (docs/guardrails.md).

- :class:`RunBudget`: ``MaxActionsPerRun``, thread-safe. Accounts scan in parallel, but take
  their share in account-id order, so the same organization gets the same first N changes
  however the threads interleave (each account's own grant is
  :func:`keyrotate.domain.guardrails.allot`).
- :class:`RunBreaker`: the run's failure breaker, over every account's attempted changes.
- :class:`KillSwitch`: an SSM parameter read before each account; ``on`` turns the rest of
  the run into an audit.
- :class:`~keyrotate.service.stop.RunStop`: the run's deadline and interrupt (time budget,
  Lambda's remaining time, Ctrl-C); :meth:`RunGuard.halt_reason` reads it with the breaker.
- :func:`run_notes`: what the run as a whole says about them (report, digest, console).

One process holds one :class:`RunGuard`. In the Step Functions deployment every account runs
in a function of its own, so there the run's cap and breaker can only hold per account: each
account gets ``min(MaxActionsPerAccount, MaxActionsPerRun)``, and the digest says when the
run's total went past ``MaxActionsPerRun``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from keyrotate.domain.errors import AwsError
from keyrotate.domain.guardrails import Allotment, Cap, Tally, allot
from keyrotate.domain.results import Outcome
from keyrotate.domain.summary import RunSummary
from keyrotate.service.options import RunOptions
from keyrotate.service.stop import RunStop

ParameterReader = Callable[[str], "str | None"]  # SSM value by name; None: no such parameter

# What turns the run into an audit. Anything that is not clearly "off" counts as on: a
# switch that cannot be read, is missing or says something unexpected is a reason to stop,
# never a reason to go on changing keys.
_OFF = frozenset({"off", "false", "no", "0"})


class KillSwitch:
    """Reads the kill switch; says why an account must be audited, or ``None``."""

    def __init__(self, parameter: str, read: ParameterReader) -> None:
        self.parameter = parameter
        self._read = read

    def check(self) -> str | None:
        """``None`` when the switch says off; else the account's note (nothing changes)."""
        try:
            value = self._read(self.parameter)
        except AwsError as exc:
            return (
                f"the kill switch {self.parameter} could not be read ({exc}): treated as on, "
                "this account was audited and nothing was changed"
            )
        if value is None:
            return (
                f"the kill switch {self.parameter} does not exist: treated as on, this account "
                "was audited and nothing was changed (create it with the value off to enforce)"
            )
        word = value.strip().lower()
        if word in _OFF:
            return None
        said = "on" if word in {"on", "true", "yes", "1"} else f"{value.strip()!r} (not off)"
        return (
            f"the kill switch {self.parameter} is {said}: this account was audited and "
            "nothing was changed"
        )


class RunBudget:
    """``MaxActionsPerRun`` for the accounts of one process, granted in account-id order.

    Every account of ``order`` must :meth:`turn` exactly once (its context manager passes the
    turn if the account never took it: a failed scan, the kill switch). An account waits for
    the accounts before it to take or pass theirs, so the caller must start accounts in
    :meth:`order` (a FIFO pool does): then every account waited for is already running, and
    none of them waits for a later one. An account not in ``order`` takes its share at once.
    """

    def __init__(self, limit: int, order: Iterable[str] = ()) -> None:
        self._limit = limit
        self._left = limit
        self._cap_reached = False
        self._position = {account: index for index, account in enumerate(sorted(set(order)))}
        self._next = 0  # position of the first account whose turn is not over
        self._over: set[int] = set()
        self._changed = threading.Condition()

    @property
    def order(self) -> list[str]:
        """The accounts in the order they take their shares (by account id)."""
        return sorted(self._position, key=self._position.__getitem__)

    @property
    def cap_reached(self) -> bool:
        with self._changed:
            return self._cap_reached

    @contextmanager
    def turn(self, account_id: str) -> Iterator[AccountTurn]:
        turn = AccountTurn(self, account_id)
        try:
            yield turn
        finally:
            if not turn.taken:
                self._end_turn(account_id)

    def _take(
        self, account_id: str, demands: Sequence[tuple[str, int]], account_cap: int
    ) -> Allotment:
        position = self._position.get(account_id)
        with self._changed:
            if position is not None:
                self._changed.wait_for(lambda: self._next >= position)
            left = 0 if self._cap_reached else self._left
            allotment = allot(demands, account_cap=account_cap, run_left=left)
            self._left -= allotment.used
            if allotment.cause is Cap.RUN:
                self._cap_reached = True  # what is done stays a prefix of the run's order
        self._end_turn(account_id)
        return allotment

    def _end_turn(self, account_id: str) -> None:
        position = self._position.get(account_id)
        if position is None:
            return
        with self._changed:
            self._over.add(position)
            while self._next in self._over:
                self._next += 1
            self._changed.notify_all()


class AccountTurn:
    """One account's single chance at the run's budget."""

    def __init__(self, budget: RunBudget, account_id: str) -> None:
        self._budget = budget
        self._account_id = account_id
        self.taken = False

    def take(self, demands: Sequence[tuple[str, int]], account_cap: int) -> Allotment:
        """Wait for the accounts before this one, then grant ``demands`` (in their order)."""
        if self.taken:
            raise RuntimeError(f"account {self._account_id} took its share already")
        self.taken = True
        return self._budget._take(self._account_id, demands, account_cap)


class RunBreaker:
    """The run's failure breaker: latched once tripped, read before each user's changes.

    One account's own breaker is one too (``where="in this account"``: keyrotate.service.guarded).
    """

    def __init__(self, percent: int, min_actions: int, *, where: str = "in this run") -> None:
        self.percent = percent
        self.min_actions = min_actions
        self._where = where
        self._tally = Tally()
        self._why: str | None = None
        self._lock = threading.Lock()

    def add(self, more: Tally) -> None:
        with self._lock:
            self._tally += more
            if self._why is None and self._tally.trips(self.percent, self.min_actions):
                self._why = breaker_sentence(self._tally, self.percent, self._where)

    @property
    def tripped(self) -> str | None:
        """Why changes stop, once the run's share of failures is too high; else ``None``."""
        with self._lock:
            return self._why

    def could_trip(self, pending: Tally) -> bool:
        """Whether ``pending`` changes (under way, their outcome unknown) could trip it: the
        worst case of each is ``pending`` as given (keyrotate.service.guarded)."""
        with self._lock:
            worst = self._tally + pending
            return self._why is None and worst.trips(self.percent, self.min_actions)


def breaker_sentence(tally: Tally, percent: int, where: str) -> str:
    return (
        f"the failure breaker tripped: {tally.failed} of {tally.attempted} changes failed "
        f"{where} (more than FailureBreakerPercent, {percent}%)"
    )


@dataclass(frozen=True, slots=True)
class RunGuard:
    """The guardrails one process shares between the accounts of a run."""

    options: RunOptions
    budget: RunBudget
    breaker: RunBreaker
    kill_switch: KillSwitch | None = None
    stop: RunStop = field(default_factory=RunStop)

    @classmethod
    def for_run(
        cls,
        options: RunOptions,
        account_ids: Iterable[str] = (),
        read_parameter: ParameterReader | None = None,
        stop: RunStop | None = None,
    ) -> RunGuard:
        """The run's guard; the kill switch is read only when one is configured and a reader
        given (an audit never reads it: there is nothing to stop). ``stop``: the run's
        deadline and interrupt (none set: the run goes on until it is done)."""
        parameter = options.kill_switch_parameter
        switch = (
            KillSwitch(parameter, read_parameter)
            if parameter and read_parameter is not None and options.enforce
            else None
        )
        return cls(
            options,
            RunBudget(options.max_actions_per_run, account_ids),
            RunBreaker(options.failure_breaker_percent, options.failure_breaker_min_actions),
            switch,
            stop if stop is not None else RunStop(),
        )

    def halt_reason(self) -> str | None:
        """Read before each user's changes: why none may start (the breaker tripped, the
        time budget ran out, the run was interrupted), or ``None``."""
        return self.breaker.tripped or self.stop.reason()

    def kill_switch_note(self) -> str | None:
        """Read before each account: why it must be audited, or ``None``."""
        return self.kill_switch.check() if self.kill_switch is not None else None


def deferral_note(cause: Cap, options: RunOptions) -> str:
    """The note on a change a cap held back."""
    if cause is Cap.RUN:
        return (
            f"MaxActionsPerRun ({options.max_actions_per_run}) was reached; the next run carries on"
        )
    return (
        f"MaxActionsPerAccount ({options.max_actions_per_account}) was reached in "
        "this account; the next run carries on"
    )


def run_notes(
    summary: RunSummary, options: RunOptions, stopped: str | None = None
) -> tuple[str, ...]:
    """What the run as a whole must say about its guardrails (empty for a quiet run).

    ``stopped``: why the run's stop fired, when one process knows it (the CLI); the Lambda
    digest knows only how many accounts say they were cut short.
    """
    notes: list[str] = []
    if summary.cut_short_accounts:  # a stop that came after the last change cut nothing
        why = f" ({stopped})" if stopped else ""
        notes.append(
            f"the run was cut short{why}: {summary.cut_short_accounts} account(s) stopped "
            f"before all their changes or were not started, {summary.deferred} change(s) "
            "deferred; changes under way were finished and the next run carries on"
        )
    if summary.kill_switch_accounts:
        notes.append(
            f"the kill switch ({options.kill_switch_parameter}) was on: "
            f"{summary.kill_switch_accounts} account(s) were audited instead of enforced"
        )
    if summary.breaker_trips:
        notes.append(
            f"the failure breaker stopped the changes of {summary.breaker_trips} account(s): "
            f"more than {options.failure_breaker_percent}% of at least "
            f"{options.failure_breaker_min_actions} attempted changes failed (see their notes)"
        )
    if summary.deferred:
        last = (
            "the failure breaker or the run being cut short"
            if summary.cut_short_accounts
            else "or the failure breaker"
        )
        notes.append(
            f"{summary.deferred} change(s) were deferred by the guardrails "
            f"(MaxActionsPerRun {options.max_actions_per_run}, MaxActionsPerAccount "
            f"{options.max_actions_per_account}, {last}); the next run carries on"
        )
    outcomes = summary.change_outcomes()
    attempted = sum(outcomes.get(o, 0) for o in (Outcome.DONE, Outcome.PARTIAL, Outcome.FAILED))
    if attempted > options.max_actions_per_run:
        notes.append(
            f"the run attempted {attempted} changes, more than MaxActionsPerRun "
            f"({options.max_actions_per_run}): where accounts run in separate functions "
            "(Step Functions), each is held to MaxActionsPerAccount only"
        )
    return tuple(notes)

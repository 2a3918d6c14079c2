"""The arithmetic of an enforce run's guardrails: the action caps and the failure breaker.
Pure: no clock, no threads (the shared, thread-safe state is keyrotate.service.guardrails).

**Caps.** A change is an action that changes IAM (ROTATE, DEACTIVATE, DELETE). A user's
changes are one unit: the engine's safe sequence (DELETE the key in the way, then ROTATE) is
never split, so a user whose unit does not fit what is left is deferred whole. Units are
granted in a stable order (users by name within an account, accounts by id across the run)
and as a prefix: the first unit that does not fit ends the grants, so the same organization
gives the same first N changes whatever else is due. An account's cap ends the grants in that
account only; the run's cap ends them for the rest of the run. With an account cap of 2,
demands ann 1, bob 2 (DELETE then ROTATE), cy 1 grant ann's change and defer bob's two and
cy's one: cy's would fit, but what is done stays a prefix of the order, so the next run
takes up exactly where this one stopped.

**Breaker.** Once at least ``min_actions`` changes were attempted (done or failed) and more
than ``percent`` of them failed, no further change is made: the remaining ones are deferred.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from keyrotate.domain.results import ActionResult, Outcome


class Cap(StrEnum):
    """Which cap deferred a change; the value is the setting's name, as people know it."""

    ACCOUNT = "MaxActionsPerAccount"
    RUN = "MaxActionsPerRun"


@dataclass(frozen=True, slots=True)
class Allotment:
    """The users whose changes may be made, and why the others may not (``cause``)."""

    granted: frozenset[str]
    used: int  # changes granted
    deferred: int  # changes not granted
    cause: Cap | None  # None: every unit fitted


def allot(demands: Sequence[tuple[str, int]], *, account_cap: int, run_left: int) -> Allotment:
    """Grant ``demands`` (user name, changes), in the order given, as a prefix that fits both
    the account's cap and what is left of the run's."""
    granted: set[str] = set()
    used = 0
    cause: Cap | None = None
    for index, (user, cost) in enumerate(demands):
        if used + cost > run_left:
            cause = Cap.RUN
        elif used + cost > account_cap:
            cause = Cap.ACCOUNT
        else:
            granted.add(user)
            used += cost
            continue
        deferred = sum(cost for _, cost in demands[index:])
        return Allotment(frozenset(granted), used, deferred, cause)
    return Allotment(frozenset(granted), used, 0, None)


@dataclass(frozen=True, slots=True)
class Tally:
    """Changes attempted and failed, in an account or a run. Adds up."""

    attempted: int = 0
    failed: int = 0

    def __add__(self, other: Tally) -> Tally:
        if not isinstance(other, Tally):
            return NotImplemented
        return Tally(self.attempted + other.attempted, self.failed + other.failed)

    def trips(self, percent: int, min_actions: int) -> bool:
        """More than ``percent`` of at least ``min_actions`` attempted changes failed."""
        return self.attempted >= min_actions and self.failed * 100 > percent * self.attempted


def tally(results: Iterable[ActionResult]) -> Tally:
    """The changes among ``results`` that were attempted (done or failed), and failed."""
    attempted = failed = 0
    for result in results:
        if not result.action.kind.changes_keys:
            continue
        if result.outcome is Outcome.DONE or result.outcome is Outcome.PARTIAL:
            attempted += 1  # a partial change was made: the IAM change itself worked
        elif result.outcome is Outcome.FAILED:
            attempted += 1
            failed += 1
    return Tally(attempted, failed)

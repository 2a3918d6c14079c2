"""One account's enforce pass within the run's guardrails (docs/guardrails.md).

The account's plans are known (every read is done) before its first change: it takes its
share of the run's budget, then carries out its users' plans one user at a time until the
budget or a failure breaker says stop. Whatever is not done is deferred
(:func:`keyrotate.service.execute.defer`): reported, not failed, planned again next run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from keyrotate.domain.guardrails import Tally, tally
from keyrotate.domain.models import Plan
from keyrotate.domain.results import ActionResult
from keyrotate.service.account_context import WritingAccount
from keyrotate.service.execute import defer, enforce
from keyrotate.service.guardrails import AccountTurn, RunGuard, breaker_sentence, deferral_note
from keyrotate.service.scan import ScannedUser
from keyrotate.service.stop import cut_short_note

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Guarded:
    """Each user's results, and what the guardrails did to the account's changes."""

    results: dict[str, tuple[ActionResult, ...]]
    notes: tuple[str, ...] = ()
    breaker_tripped: bool = False
    cut_short: bool = False  # the run's stop deferred some of its changes


def enforce_guarded(
    users: Sequence[ScannedUser],
    plans: Mapping[str, Plan],
    account: WritingAccount,
    guard: RunGuard,
    turn: AccountTurn,
) -> Guarded:
    """Enforce the plans within the caps until a breaker trips.

    The account takes its share of the run's budget once its plans are known, granted to
    its users by name (an order IAM's listings do not promise); the users beyond it are
    deferred whole. The granted ones are changed in ``users``' order (the scan's, as when
    no guardrail acts). Before each user the run's breaker is read and after it the
    account's is judged: once either trips, every later user is deferred, with no write at
    all (not even housekeeping tags).
    """
    options = account.options
    by_name = sorted(users, key=lambda u: u.name)
    demands = [(u.name, len(plans[u.name].changes)) for u in by_name if plans[u.name].changes]
    allotment = turn.take(demands, options.max_actions_per_account)
    capped = deferral_note(allotment.cause, options) if allotment.cause else None
    own = Tally()
    stop: str | None = None
    own_tripped = False
    results: dict[str, tuple[ActionResult, ...]] = {}
    by_cap = by_breaker = 0
    for user in users:
        user_plan = plans[user.name]
        stop = stop or guard.halt_reason()  # the breaker, the time budget, an interrupt
        if stop is not None:
            results[user.name] = defer(user_plan, stop)
            by_breaker += len(user_plan.changes)
        elif capped is not None and user_plan.changes and user.name not in allotment.granted:
            results[user.name] = defer(user_plan, capped)
            by_cap += len(user_plan.changes)
        else:
            done = enforce(user_plan, user, account)
            results[user.name] = done
            counted = tally(done)
            own += counted
            guard.breaker.add(counted)
            if own.trips(options.failure_breaker_percent, options.failure_breaker_min_actions):
                stop = breaker_sentence(own, options.failure_breaker_percent, "in this account")
                own_tripped = True
    notes: list[str] = []
    if by_cap:
        notes.append(f"{by_cap} change(s) deferred: {capped}")
    # Users deferred by the run's stop (its time budget, an interrupt) are no breaker trip.
    tripped = own_tripped or (by_breaker > 0 and guard.breaker.tripped is not None)
    cut_short = by_breaker > 0 and not tripped
    if cut_short:
        notes.append(cut_short_note(stop or "", by_breaker))
        log.warning("account %s: %s", account.account_id, notes[-1])
    if tripped:
        notes.append(
            f"{stop}: no further change was made in this account, {by_breaker} change(s) "
            "deferred to the next run"
        )
        log.warning("account %s: %s", account.account_id, notes[-1])
    return Guarded(results, tuple(notes), tripped, cut_short)

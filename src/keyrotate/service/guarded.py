"""One account's enforce pass within the run's guardrails (docs/guardrails.md).

The account's plans are known (every read is done) before its first change: it takes its
share of the run's budget, then carries out its users' plans, several users at once
(``UserWorkers``), until the budget, a failure breaker or the run's stop says stop. Whatever
is not done is deferred (:func:`keyrotate.service.execute.defer`): reported, not failed,
planned again next run.

Why users of one account run at once, and how (issue 12; docs/performance.md):

- **Each user's sequence stays serial**, as :mod:`keyrotate.service.execute` has it (intent
  marker -> create -> store -> verify -> self-used tag -> grant read -> clear marker): only
  different users overlap. They share nothing but the account's clients (botocore clients
  are thread-safe; the IAM and Secrets Manager adapters hold no state of their own), and the
  crash-safety protocol is per user, so a run killed at any moment leaves each user as a
  one-at-a-time run killed in that user's sequence would.
- **A user waiting for STS lends its place.** IAM takes seconds to accept a new key
  everywhere and the check retries with backoff until it does: one user after another, a run
  would wait that delay once per key. At most ``UserWorkers`` users call AWS at once; a user
  whose new key is being verified steps out of that count while it waits, and back in (ahead
  of any user not started yet) to finish its sequence. So the waits of many new keys overlap
  while the calls IAM's per-account rate limits see stay bounded (adaptive retries absorb a
  throttle). At most :data:`IN_FLIGHT_PER_WORKER` x ``UserWorkers`` users are under way
  (:data:`MOST_UNDER_WAY` at most).
- **The guardrails decide as one user at a time would.** A user starts only when nothing
  under way could trip a breaker before it, every change under way counted as failed (a
  rotation whose key is being verified is done already: a failed check is reported, not
  failed). So the users done and the users deferred are those of the scan's order one at a
  time: exactly for the account's breaker, and for the run's as far as this account's
  changes go (other accounts run at their own pace, as before). The run's breaker and its
  stop (time budget, interrupt: :meth:`RunGuard.halt_reason`) are read as each user is about
  to start; users under way then finish their sequence.

Results are keyed by user in the scan's order, whatever order the users finished in.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from keyrotate.domain.guardrails import Tally, tally
from keyrotate.domain.models import ActionKind, Plan
from keyrotate.domain.results import ActionResult
from keyrotate.domain.secret import SecretText
from keyrotate.service.account_context import WritingAccount
from keyrotate.service.execute import Enforced, defer, enforce
from keyrotate.service.guardrails import AccountTurn, RunBreaker, RunGuard, deferral_note
from keyrotate.service.scan import ScannedUser
from keyrotate.service.stop import cut_short_note

log = logging.getLogger(__name__)

# Users under way per place among the UserWorkers: the ones beyond are waiting for STS to
# accept their new key (seconds each), which costs a sleeping thread and no IAM call. A user
# holds a place for a second or less of calls (about ten, at AWS's tens of milliseconds) and
# waits for STS several: eight per place keep the places busy through a 6-second delay.
IN_FLIGHT_PER_WORKER = 8
MOST_UNDER_WAY = 128  # threads per account, whatever UserWorkers says
# How often a waiting decision looks again regardless of news (a safety net, not a poll the
# logic relies on: every change of state notifies).
_RECHECK_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Guarded:
    """Each user's results, and what the guardrails did to the account's changes."""

    results: dict[str, tuple[ActionResult, ...]]
    notes: tuple[str, ...] = ()
    breaker_tripped: bool = False
    cut_short: bool = False  # the run's stop deferred some of its changes
    # Users whose step owed from an earlier run (the read grant) failed again: why.
    owed: Mapping[str, str] = field(default_factory=dict)


def enforce_guarded(
    users: Sequence[ScannedUser],
    plans: Mapping[str, Plan],
    account: WritingAccount,
    guard: RunGuard,
    turn: AccountTurn,
) -> Guarded:
    """Enforce the plans within the caps until a breaker trips or the run stops.

    The account takes its share of the run's budget once its plans are known, granted to
    its users by name (an order IAM's listings do not promise); the users beyond it are
    deferred whole. The granted ones are started in ``users``' order (the scan's, as when no
    guardrail acts), several at once (module docstring). Before each user starts the run's
    breaker and stop are read, and the account's breaker is judged after each user; once
    either trips, every later user is deferred, with no write at all (not even housekeeping
    tags).
    """
    options = account.options
    by_name = sorted(users, key=lambda u: u.name)
    demands = [(u.name, len(plans[u.name].changes)) for u in by_name if plans[u.name].changes]
    allotment = turn.take(demands, options.max_actions_per_account)
    capped = deferral_note(allotment.cause, options) if allotment.cause else None
    lanes = _Lanes(account, guard)
    stop: str | None = None
    results: dict[str, tuple[ActionResult, ...]] = {}
    started: dict[str, Future[Enforced]] = {}
    by_cap = by_breaker = 0
    with ThreadPoolExecutor(
        max_workers=lanes.most_under_way, thread_name_prefix=f"keyrotate-{account.account_id}"
    ) as pool:
        for user in users:
            user_plan = plans[user.name]
            held = capped is not None and bool(user_plan.changes)
            held = held and user.name not in allotment.granted
            if stop is None:  # the breakers, the time budget, an interrupt
                stop = lanes.admit(len(user_plan.changes), start=not held)
            if stop is not None:
                results[user.name] = defer(user_plan, stop)
                by_breaker += len(user_plan.changes)
            elif held:
                results[user.name] = defer(user_plan, capped or "")
                by_cap += len(user_plan.changes)
            else:
                started[user.name] = pool.submit(lanes.run, user_plan, user)
    owed: dict[str, str] = {}
    for name, future in started.items():
        enforced = future.result()
        results[name] = enforced.results
        if enforced.owed is not None:
            owed[name] = enforced.owed
    own_tripped = lanes.own_stop is not None
    stop = stop or lanes.own_stop  # tripped by the last users: nobody was left to defer
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
    ordered = {u.name: results[u.name] for u in users}
    return Guarded(ordered, tuple(notes), tripped, cut_short, owed)


class _Lanes:
    """Who of one account's users may start, and the places they call AWS from.

    One condition guards every count: the main thread waits in :meth:`admit`, users' threads
    in :meth:`_come_back`; every change of a count notifies both.
    """

    def __init__(self, account: WritingAccount, guard: RunGuard) -> None:
        options = account.options
        self._account = account
        self._guard = guard
        self._places = max(1, options.user_workers)
        self.most_under_way = min(self._places * IN_FLIGHT_PER_WORKER, MOST_UNDER_WAY)
        self._changed = threading.Condition()
        self._calling = 0  # users holding a place: calling AWS, or about to
        self._returning = 0  # users back from a verification, waiting for a place
        self._under_way = 0  # users started and not finished
        self._unknown = 0  # changes under way whose outcome is not known yet
        self._known_done = 0  # changes under way that will end done (their key is verifying)
        self._own = RunBreaker(
            options.failure_breaker_percent,
            options.failure_breaker_min_actions,
            where="in this account",
        )
        self._crash: BaseException | None = None

    @property
    def own_stop(self) -> str | None:
        """Why the account's breaker tripped, or ``None``."""
        return self._own.tripped

    # the main thread ---------------------------------------------------------------------
    def admit(self, changes: int, *, start: bool) -> str | None:
        """Wait until the next user can be judged as one user at a time would; then why it
        must not start (a breaker, the run's stop), or ``None``: it may, and when ``start``
        it holds a place from now on (:meth:`run` gives it back)."""
        with self._changed:
            while True:
                if self._crash is not None:
                    raise self._crash  # a bug in a user's thread: the account fails, as before
                if self.own_stop is not None:
                    return self.own_stop
                if self._settled():
                    why = self._guard.halt_reason()
                    if why is not None or not start:
                        return why
                    if self._free_place() and self._under_way < self.most_under_way:
                        self._calling += 1
                        self._under_way += 1
                        self._unknown += changes
                        return None
                self._changed.wait(_RECHECK_SECONDS)

    def _settled(self) -> bool:
        """Nothing under way could trip the account's or the run's breaker (worst case:
        every change whose outcome is unknown fails)."""
        pending = Tally(self._unknown + self._known_done, self._unknown)
        if self._own.could_trip(pending):
            return False
        return not self._guard.breaker.could_trip(pending)

    def _free_place(self) -> bool:
        """A place for a new user: users coming back from a verification go first."""
        return self._calling + self._returning < self._places

    # the users' threads ------------------------------------------------------------------
    def run(self, plan: Plan, user: ScannedUser) -> Enforced:
        """One admitted user's plan, in full; its place is given back and its changes
        counted whatever happens."""
        lane = _Lane(self, plan)
        done = Enforced(())
        try:
            done = enforce(plan, user, replace(self._account, verifier=lane.verify))
        except BaseException as exc:
            with self._changed:
                self._crash = self._crash or exc
            raise
        finally:
            self._finish(lane, tally(done.results))
        return done

    def _finish(self, lane: _Lane, counted: Tally) -> None:
        with self._changed:
            self._calling -= 1
            self._under_way -= 1
            self._unknown -= lane.changes - lane.known_done
            self._known_done -= lane.known_done
            self._own.add(counted)
            self._guard.breaker.add(counted)
            self._changed.notify_all()

    def _step_out(self, known_done: int) -> None:
        """A user waits for STS: its place is free meanwhile; its first ``known_done``
        changes have a known outcome (done)."""
        with self._changed:
            self._calling -= 1
            self._unknown -= known_done
            self._known_done += known_done
            self._changed.notify_all()

    def _come_back(self) -> None:
        with self._changed:
            self._returning += 1
            while self._calling >= self._places:
                self._changed.wait(_RECHECK_SECONDS)
            self._returning -= 1
            self._calling += 1
            self._changed.notify_all()


class _Lane:
    """One user under way: its verifier lends the user's place while STS is waited for."""

    def __init__(self, lanes: _Lanes, plan: Plan) -> None:
        self._lanes = lanes
        changes = plan.changes
        self.changes = len(changes)
        # The rotation and the changes before it are done once its key is being verified:
        # a change that failed would have skipped the rotation (execute.enforce).
        self._done_by_then = next(
            (i + 1 for i, a in enumerate(changes) if a.kind is ActionKind.ROTATE), 0
        )
        self.known_done = 0

    def verify(
        self,
        key_id: str,
        secret: SecretText,
        *,
        region: str,
        expected_arn: str | None = None,
        first_wait: float = 1.0,
    ) -> str | None:
        lanes = self._lanes
        newly_known = self._done_by_then - self.known_done
        self.known_done += newly_known
        lanes._step_out(newly_known)
        try:
            return lanes._account.verifier(
                key_id, secret, region=region, expected_arn=expected_arn, first_wait=first_wait
            )
        finally:
            lanes._come_back()

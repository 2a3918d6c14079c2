"""A run's counts, counted once: :class:`RunSummary`, frozen and addable. Pure.

Every reader of a run's numbers reads this one record: the console's summary table, the
exit code, the report's ``summary`` object, the admin digest and the Lambda steps. An
account's summary is made by :func:`summarize_account`; a run's is the sum of its
accounts' and its notifications' (:func:`summarize_run`), which is also how the Lambda
digest adds up the summaries its rotate_account steps returned.

Keys past rotation depend on the policy and on the moment. To keep the count a plain number
that adds up, the caller gives the cutoff (:func:`past_rotation_cutoff`) and the summary
keeps only the count. Summaries added together should share one cutoff: the one-process run
counts every account at the run's start; the Lambda split counts each account when its
step starts, minutes apart at most.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime

from keyrotate.domain.models import ActionKind
from keyrotate.domain.policy import RotationPolicy
from keyrotate.domain.results import (
    AccountResult,
    NotificationResult,
    Outcome,
    RunReport,
    RunStatus,
)

_KIND_ORDER = {kind: index for index, kind in enumerate(ActionKind)}

Entry = tuple[ActionKind, Outcome, int]


@dataclass(frozen=True, slots=True)
class ActionCounts:
    """How many actions ended how: one entry per (kind, outcome) seen, never a zero.

    Kept sorted (``ActionKind`` order, then outcome name), so that equal counts are equal
    records however they were added up, and the digest lists them in that order.
    """

    entries: tuple[Entry, ...] = ()

    @classmethod
    def of(cls, counts: Mapping[tuple[ActionKind, Outcome], int]) -> ActionCounts:
        kept = ((kind, outcome, n) for (kind, outcome), n in counts.items() if n)
        return cls(tuple(sorted(kept, key=lambda e: (_KIND_ORDER[e[0]], e[1].value))))

    @classmethod
    def from_nested(cls, nested: Mapping[ActionKind, Mapping[Outcome, int]]) -> ActionCounts:
        """The inverse of :meth:`nested` (what a Lambda step returned, parsed)."""
        return cls.of({(k, o): n for k, outcomes in nested.items() for o, n in outcomes.items()})

    def __add__(self, other: ActionCounts) -> ActionCounts:
        if not isinstance(other, ActionCounts):
            return NotImplemented
        total = Counter(self.as_dict())
        total.update(other.as_dict())
        return ActionCounts.of(total)

    def as_dict(self) -> dict[tuple[ActionKind, Outcome], int]:
        return {(kind, outcome): n for kind, outcome, n in self.entries}

    def nested(self) -> dict[str, dict[str, int]]:
        """``{kind: {outcome: n}}``: the shape the Lambda steps return."""
        nested: dict[str, dict[str, int]] = {}
        for kind, outcome, n in self.entries:
            nested.setdefault(kind.value, {})[outcome.value] = n
        return nested

    def count(self, kind: ActionKind, outcome: Outcome | None = None) -> int:
        """Actions of ``kind`` (that ended ``outcome``, if given)."""
        return sum(n for k, o, n in self.entries if k is kind and (outcome is None or o is outcome))


@dataclass(frozen=True, slots=True)
class RunSummary:
    """The counts of a run, or of one account's part of it. ``RunSummary()`` is zero.

    Every field adds up under ``+``; ``holds``, ``blocked`` and ``failed_actions`` are read
    from ``actions``, so they cannot disagree with it.
    """

    accounts: int = 0  # accounts run, whether they succeeded or failed; skipped ones are not
    accounts_failed: int = 0
    accounts_skipped: int = 0
    users: int = 0
    keys: int = 0
    exempt_users: int = 0
    # Every action with an outcome. NONE is a key record's "no action"; no action ends so.
    actions: ActionCounts = ActionCounts()
    overdue_holds: int = 0  # HOLDs past hold_escalate_after_days: the digest flags them
    keys_past_rotation: int = 0  # counted against the cutoff given to summarize_account
    notifications_sent: int = 0
    notifications_failed: int = 0
    kill_switch_accounts: int = 0  # accounts an enforce run audited: the kill switch was on
    breaker_trips: int = 0  # accounts whose changes the failure breaker stopped
    cut_short_accounts: int = 0  # accounts the run's stop cut short or kept from starting
    # Users whose read grant, owed by an earlier run's rotation, failed again (UserResult.owed):
    # that rotation is still partial, so partial_actions counts them too.
    owed_grants: int = 0

    def __add__(self, other: RunSummary) -> RunSummary:
        if not isinstance(other, RunSummary):
            return NotImplemented
        return RunSummary(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )

    @property
    def holds(self) -> int:
        return self.actions.count(ActionKind.HOLD)

    @property
    def blocked(self) -> int:
        return self.actions.count(ActionKind.BLOCKED)

    @property
    def deferred(self) -> int:
        """Changes a guardrail held back for the next run (no failure: not in the exit code)."""
        return self.change_outcomes().get(Outcome.DEFERRED, 0)

    @property
    def failed_actions(self) -> int:
        """Changes to IAM that failed (a notice cannot fail)."""
        return self.change_outcomes().get(Outcome.FAILED, 0)

    @property
    def partial_actions(self) -> int:
        """Changes made whose later step failed (the key stored, its read grant not): this
        run's, and earlier runs' whose owed grant failed again in this one."""
        return self.change_outcomes().get(Outcome.PARTIAL, 0) + self.owed_grants

    def change_outcomes(self) -> dict[Outcome, int]:
        """How the changes to IAM (ROTATE, DEACTIVATE, DELETE) ended, by outcome."""
        outcomes: Counter[Outcome] = Counter()
        for kind, outcome, n in self.actions.entries:
            if kind.changes_keys:
                outcomes[outcome] += n
        return dict(outcomes)

    @property
    def failed(self) -> bool:
        """An account or a change failed, or a change was only partly made: the run exits 1."""
        return bool(self.accounts_failed or self.failed_actions or self.partial_actions)


def total(summaries: Iterable[RunSummary]) -> RunSummary:
    return sum(summaries, RunSummary())


def past_rotation_cutoff(policy: RotationPolicy, at: datetime) -> datetime:
    """A key created at or before this moment is past the rotation age at ``at``."""
    return at - policy.rotate_after


def summarize_account(account: AccountResult, cutoff: datetime | None = None) -> RunSummary:
    """One account's counts; keys past rotation only when ``cutoff`` is given."""
    status = account.status
    results = [r for u in account.users for r in u.results if r.outcome is not Outcome.NONE]
    keys = [k for u in account.users for k in u.keys]
    return RunSummary(
        accounts=int(status is not RunStatus.SKIPPED),
        accounts_failed=int(status is RunStatus.FAILED),
        accounts_skipped=int(status is RunStatus.SKIPPED),
        users=len(account.users),
        keys=len(keys),
        exempt_users=sum(1 for u in account.users if u.exempt),
        actions=ActionCounts.of(Counter((r.action.kind, r.outcome) for r in results)),
        overdue_holds=sum(
            1 for r in results if r.action.kind is ActionKind.HOLD and r.action.overdue
        ),
        keys_past_rotation=0 if cutoff is None else sum(1 for k in keys if k.created <= cutoff),
        kill_switch_accounts=int(account.kill_switch),
        breaker_trips=int(account.breaker_tripped),
        cut_short_accounts=int(account.cut_short),
        owed_grants=sum(1 for u in account.users if u.owed is not None),
    )


def summarize_notifications(notifications: Iterable[NotificationResult]) -> RunSummary:
    sent = [n.sent for n in notifications]
    return RunSummary(notifications_sent=sum(sent), notifications_failed=sent.count(False))


def summarize_run(report: RunReport, cutoff: datetime | None = None) -> RunSummary:
    """The whole run: its accounts' summaries and its notifications, in one pass."""
    accounts = total(summarize_account(a, cutoff) for a in report.accounts)
    return accounts + summarize_notifications(report.notifications)

"""Run many accounts with bounded concurrency; every account finishes, failures recorded.

Like c7n-org: one top-level function per account, results collected with ``as_completed``,
and the run goes on past any one account's failure. Each account is counted once, as it
finishes (:class:`~keyrotate.domain.summary.RunSummary`): the admin digest, the console,
the report file and the exit code all read those counts.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace

from keyrotate.aws.organizations import Inventory
from keyrotate.domain.results import AccountResult, RunReport
from keyrotate.domain.summary import (
    RunSummary,
    past_rotation_cutoff,
    summarize_account,
    summarize_notifications,
    total,
)
from keyrotate.service.account import run_account
from keyrotate.service.context import RunContext
from keyrotate.service.guardrails import run_notes
from keyrotate.service.results import ResultStore

AccountDone = Callable[[AccountResult], None]


@dataclass(frozen=True, slots=True)
class OrganizationRun:
    """A finished run: its report and its counts, every account counted once.

    ``accounts``: each account's summary by id (skipped ones too), keys past rotation at
    the run's start; ``summary``: theirs added up, with the run's notifications.
    """

    report: RunReport
    accounts: dict[str, RunSummary]
    summary: RunSummary


def run_accounts(
    context: RunContext,
    inventory: Inventory,
    results: ResultStore,
    *,
    on_account_done: AccountDone | None = None,
) -> OrganizationRun:
    """Run every account in scope (at most ``options.workers`` at once) into ``results``,
    which becomes the report's ``accounts``, in the inventory's order."""
    options, sessions, clock = context.options, context.sessions, context.clock
    now = clock()
    cutoff = past_rotation_cutoff(options.policy, now)
    counted: dict[str, RunSummary] = {}
    # Started in account-id order, the order the run's budget is granted in (RunBudget: an
    # account waits only for accounts started before it, so no worker waits on a queued one).
    ordered = sorted(inventory.accounts, key=lambda a: a.account_id)
    guard = context.guard(a.account_id for a in ordered)

    def keep(result: AccountResult) -> None:
        counted[result.account.account_id] = summarize_account(result, cutoff)
        results.append(result)

    with ThreadPoolExecutor(max_workers=max(1, options.workers)) as pool:
        futures = [
            pool.submit(run_account, account, sessions, options, now=now, clock=clock, guard=guard)
            for account in ordered
        ]
        done = as_completed(futures)
        del futures  # as_completed lets go of each future once yielded: so must we
        for future in done:
            result = context.publish(future.result())
            if on_account_done is not None:
                on_account_done(result)
            keep(result)
    for account, reason in inventory.skipped:
        keep(AccountResult(account, skipped=reason))
    results.reorder(
        [a.account_id for a in inventory.accounts] + [a.account_id for a, _ in inventory.skipped]
    )
    summary = total(counted.values())
    report = RunReport(
        mode="enforce" if options.enforce else "audit",
        started=now,
        finished=clock(),
        accounts=results,
        notes=run_notes(summary, options, guard.stop.reason()),
    )
    return OrganizationRun(report, counted, summary)


def run_organization(
    context: RunContext,
    inventory: Inventory,
    results: ResultStore,
    *,
    on_account_done: AccountDone | None = None,
    notify: bool = True,
) -> OrganizationRun:
    """Run every account in the inventory, then tell owners and the admin what happened."""
    # Made before any account is run: a bad template stops every run, plans included.
    notifier = context.notifier
    run = run_accounts(context, inventory, results, on_account_done=on_account_done)
    if not notify:
        return run
    notifications = notifier.notify_run(run.report, context.options.policy, run.accounts)
    return OrganizationRun(
        replace(run.report, notifications=notifications),
        run.accounts,
        run.summary + summarize_notifications(notifications),
    )

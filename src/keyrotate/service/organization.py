"""Run many accounts with bounded concurrency; every account finishes, failures recorded.

Like c7n-org: one top-level function per account, results collected with ``as_completed``,
and the run goes on past any one account's failure.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import replace

from keyrotate.aws.organizations import Inventory
from keyrotate.domain.results import AccountResult, RunReport
from keyrotate.service.account import run_account
from keyrotate.service.context import RunContext
from keyrotate.service.results import ResultStore

AccountDone = Callable[[AccountResult], None]


def run_accounts(
    context: RunContext,
    inventory: Inventory,
    results: ResultStore,
    *,
    on_account_done: AccountDone | None = None,
) -> RunReport:
    """Run every account in scope (at most ``options.workers`` at once) into ``results``,
    which becomes the report's ``accounts``, in the inventory's order."""
    options, sessions, clock = context.options, context.sessions, context.clock
    now = clock()
    with ThreadPoolExecutor(max_workers=max(1, options.workers)) as pool:
        futures = [
            pool.submit(run_account, account, sessions, options, now=now, clock=clock)
            for account in inventory.accounts
        ]
        done = as_completed(futures)
        del futures  # as_completed lets go of each future once yielded: so must we
        for future in done:
            result = future.result()
            if on_account_done is not None:
                on_account_done(result)
            results.append(result)
    for account, reason in inventory.skipped:
        results.append(AccountResult(account, skipped=reason))
    results.reorder(
        [a.account_id for a in inventory.accounts] + [a.account_id for a, _ in inventory.skipped]
    )
    return RunReport(
        mode="enforce" if options.enforce else "audit",
        started=now,
        finished=clock(),
        accounts=results,
    )


def run_organization(
    context: RunContext,
    inventory: Inventory,
    results: ResultStore,
    *,
    on_account_done: AccountDone | None = None,
    notify: bool = True,
) -> RunReport:
    """Run every account in the inventory, then tell owners and the admin what happened."""
    # Made before any account is run: a bad mail setting stops every run, plans included.
    notifier = context.notifier
    report = run_accounts(context, inventory, results, on_account_done=on_account_done)
    if not notify:
        return report
    notifications = notifier.notify_run(report, context.options.policy)
    return replace(report, notifications=notifications)

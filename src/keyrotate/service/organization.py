"""Run many accounts with bounded concurrency; every account finishes, failures recorded.

Like c7n-org: one top-level function per account, results collected with ``as_completed``,
and the run goes on past any one account's failure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime
from typing import TYPE_CHECKING

from keyrotate.domain.models import Account
from keyrotate.domain.results import AccountResult, RunReport
from keyrotate.service.account import run_account
from keyrotate.service.options import Clock, RunOptions

if TYPE_CHECKING:
    from keyrotate.aws.session import AccountSessions

AccountDone = Callable[[AccountResult], None]


def run_accounts(
    accounts: Sequence[Account],
    skipped: Iterable[tuple[Account, str]],
    sessions: AccountSessions,
    options: RunOptions,
    *,
    now: datetime,
    clock: Clock,
    on_account_done: AccountDone | None = None,
) -> RunReport:
    """Run every account (at most ``options.workers`` at once) into one report."""
    results: dict[str, AccountResult] = {}
    with ThreadPoolExecutor(max_workers=max(1, options.workers)) as pool:
        futures = [
            pool.submit(run_account, account, sessions, options, now=now, clock=clock)
            for account in accounts
        ]
        for future in as_completed(futures):
            result = future.result()
            results[result.account.account_id] = result
            if on_account_done is not None:
                on_account_done(result)
    ordered = [results[a.account_id] for a in accounts]
    ordered.extend(AccountResult(account, skipped=reason) for account, reason in skipped)
    return RunReport(
        mode="enforce" if options.enforce else "audit",
        started=now,
        finished=clock(),
        accounts=tuple(ordered),
    )

"""Run many accounts with bounded concurrency; every account finishes, failures recorded.

Like c7n-org: one top-level function per account, results collected with ``as_completed``,
and the run goes on past any one account's failure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from keyrotate.aws.organizations import (
    Inventory,
    inventory_client,
    inventory_principal,
    list_accounts,
)
from keyrotate.aws.session import AccountSessions, base_session, role_session_name
from keyrotate.domain.models import Account
from keyrotate.domain.results import AccountResult, RunReport
from keyrotate.notify import Notifier, NotifyOptions
from keyrotate.service.account import run_account
from keyrotate.service.options import Clock, RunOptions, utc_now
from keyrotate.service.spill import SpilledAccounts

if TYPE_CHECKING:
    from keyrotate.config import Settings

DEFAULT_REGION = "us-east-1"

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
    spill: bool = True,
) -> RunReport:
    """Run every account (at most ``options.workers`` at once) into one report.

    ``spill``: each finished account goes to a temporary file (:class:`SpilledAccounts`), so
    memory follows the accounts in flight, not the organization; ``False`` keeps results in
    memory with each user's engine inputs (``keyrotate plan`` replays them).
    """
    kept: dict[str, AccountResult] = {}
    spilled = SpilledAccounts() if spill else None
    with ThreadPoolExecutor(max_workers=max(1, options.workers)) as pool:
        futures = [
            pool.submit(run_account, account, sessions, options, now=now, clock=clock)
            for account in accounts
        ]
        done = as_completed(futures)
        del futures  # as_completed lets go of each future once yielded: so must we
        for future in done:
            result = future.result()
            if on_account_done is not None:
                on_account_done(result)
            if spilled is not None:
                spilled.append(result)
            else:
                kept[result.account.account_id] = result
    left_out = [AccountResult(account, skipped=reason) for account, reason in skipped]
    order = [a.account_id for a in accounts] + [r.account.account_id for r in left_out]
    if spilled is not None:
        for result in left_out:
            spilled.append(result)
        spilled.reorder(order)
        results: Sequence[AccountResult] = spilled
    else:
        kept.update((r.account.account_id, r) for r in left_out)
        results = tuple(kept[account_id] for account_id in order)
    return RunReport(
        mode="enforce" if options.enforce else "audit",
        started=now,
        finished=clock(),
        accounts=results,
    )


def notify_options_from(settings: Settings) -> NotifyOptions:
    return NotifyOptions(
        admin_email_address=settings.admin_email_address or "",
        email_transport=settings.email_transport.value,
        email_sender=settings.email_sender or "",
        ses_region=settings.effective_ses_region,
        smtp_host=settings.smtp_host or "",
        smtp_port=settings.smtp_port,
        smtp_security=settings.smtp_security.value,
        smtp_user_param_name=settings.smtp_user_param_name or "",
        smtp_password_param_name=settings.smtp_password_param_name or "",
        mail_dir=settings.mail_dir,
        email_template_audit=settings.email_template_audit or "",
        email_template_enforce=settings.email_template_enforce or "",
        email_template_digest=settings.email_template_digest or "",
        email_footer=settings.email_footer,
    )


@dataclass(frozen=True, slots=True)
class Organization:
    """The connections of one run: sessions per account, the inventory, the notifier."""

    sessions: AccountSessions
    inventory: Inventory
    options: RunOptions
    notifier: Notifier


def open_sessions(settings: Settings, run_id: str = "run") -> AccountSessions:
    """Sessions of one run: the caller's own (``.base``) and the member roles (no AWS call yet)."""
    base = base_session(settings.profile, settings.region)
    region = settings.region or base.region_name or DEFAULT_REGION
    return AccountSessions(
        base,
        settings.iam_role_name,
        region=region,
        session_name=role_session_name(run_id, settings.session_name),
        external_id=settings.external_id,
        assume_in_own_account=False,
    )


def list_inventory(settings: Settings, sessions: AccountSessions) -> Inventory:
    """The accounts in scope, through OrgListRole when one is set (no change anywhere)."""
    base = sessions.base
    client = inventory_client(base, settings.org_list_account, settings.org_list_role, sessions)
    return list_accounts(
        client,
        ou_ids=settings.organizational_units,
        include=settings.include_accounts,
        exclude=settings.exclude_accounts,
        principal=inventory_principal(settings.org_list_account, settings.org_list_role, sessions),
    )


def connect(settings: Settings, *, run_id: str = "run") -> Organization:
    """Build the sessions and list the accounts in scope (no change anywhere)."""
    sessions = open_sessions(settings, run_id)
    inventory = list_inventory(settings, sessions)
    # Templates and transport first: a bad mail setting stops the run before any change.
    notifier = Notifier.from_options(notify_options_from(settings), sessions.base)
    options = RunOptions.from_settings(settings, sessions.region)
    return Organization(sessions, inventory, options, notifier)


def run_organization(
    organization: Organization,
    *,
    clock: Clock = utc_now,
    on_account_done: AccountDone | None = None,
    notify: bool = True,
    spill: bool = True,
) -> RunReport:
    """Run every account in the inventory, then tell owners and the admin what happened."""
    report = run_accounts(
        organization.inventory.accounts,
        organization.inventory.skipped,
        organization.sessions,
        organization.options,
        now=clock(),
        clock=clock,
        on_account_done=on_account_done,
        spill=spill,
    )
    if not notify:
        return report
    notifications = organization.notifier.notify_run(report, organization.options.policy)
    return replace(report, notifications=notifications)

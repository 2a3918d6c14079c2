"""``keyrotate cleanup``: orphaned secrets (their user or key gone), listed; with
``--enforce``, marked and, after the grace period, deleted into Secrets Manager's recovery
window (keyrotate.service.cleanup)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich import box
from rich.table import Table

from keyrotate.cli.app import EXIT_FAILURE, CommandInput, main, settings_options
from keyrotate.cli.output import refuse, stdout_console
from keyrotate.domain.models import Account
from keyrotate.domain.orphans import RECOVERY_WINDOW_DAYS
from keyrotate.service.account import open_account
from keyrotate.service.cleanup import (
    CleanupAccount,
    Opened,
    cleanup_accounts,
    cleanup_record,
)
from keyrotate.service.context import LOCAL_RUN_ID, RunContext

_SAID = {
    ("mark", "planned"): "would mark: its grace period starts with the first enforce run",
    ("mark", "done"): "marked: its grace period starts now",
    ("wait", "planned"): "kept until its grace period is over",
    ("delete", "planned"): "would be scheduled for deletion",
    ("delete", "done"): f"scheduled for deletion ({RECOVERY_WINDOW_DAYS}-day recovery window)",
    ("delete", "kept"): "kept: no longer orphaned on a fresh read",
}


def _document(
    accounts: tuple[CleanupAccount, ...], mode: str, grace_days: int, now: datetime
) -> dict[str, Any]:
    return {
        "mode": mode,
        "at": now.isoformat(),
        "grace_days": grace_days,
        "recovery_window_days": RECOVERY_WINDOW_DAYS,
        "secrets": [cleanup_record(item, now) for a in accounts for item in a.items],
        "accounts_failed": [
            {"account_id": a.account.account_id, "error": a.error}
            for a in accounts
            if a.error is not None
        ],
    }


def _table(document: dict[str, Any]) -> Table:
    table = Table(
        title=f"keyrotate cleanup ({document['mode']}): orphaned secrets, grace "
        f"{document['grace_days']} days",
        box=box.SIMPLE,
    )
    for column in ("account", "secret", "user", "why", "orphaned since", "age (days)", "what"):
        table.add_column(column, overflow="fold")
    for row in document["secrets"]:
        what = _SAID.get((row["action"], row["outcome"]), f"{row['action']} {row['outcome']}")
        if row["action"] == "wait" and row["when"]:
            what = f"kept until {row['when'][:10]}, then deletable"
        if row["error"]:
            what = f"{row['action']} FAILED: {row['error']}"
        table.add_row(
            row["account_id"],
            row["secret_name"],
            row["user_name"],
            row["why"],
            (row["orphaned_at"] or "not yet marked")[:10],
            "" if row["age_days"] is None else f"{row['age_days']:.0f}",
            what,
        )
    for failed in document["accounts_failed"]:
        table.add_row(failed["account_id"], "", "", "", "", "", f"FAILED: {failed['error']}")
    return table


@main.command("cleanup")
@settings_options
def cleanup_command(cli: CommandInput) -> None:
    """Orphaned secrets: those whose user no longer exists, or no longer has the key they
    hold. Audit (default) lists them; --enforce marks new ones (their grace period,
    OrphanGracePeriod days, starts) and schedules the deletion of those orphaned longer, into
    Secrets Manager's recovery window. A living user's secret holding one of its keys is never
    touched.
    """
    settings = cli.settings
    refuse(cli, ("table", "json"))  # before any call: the others are run reports
    context = RunContext.from_settings(settings, LOCAL_RUN_ID)
    inventory = context.list_inventory()
    now = context.clock()

    def opener(account: Account) -> Opened:
        return open_account(account.account_id, context.sessions, context.options, context.clock)

    accounts = cleanup_accounts(
        inventory.accounts,
        opener,
        now=now,
        enforce=settings.enforce,
        workers=settings.workers,
    )
    document = _document(accounts, settings.mode, settings.orphan_grace_days, now)
    if cli.report_path is not None:  # JSON, whatever the suffix: the run's formats are its own
        _write(cli.report_path, document)
    if cli.output == "json":
        click.echo(json.dumps(document, indent=2))
    else:
        stdout_console().print(_table(document))
    failed = document["accounts_failed"] or any(r["error"] for r in document["secrets"])
    if failed:
        raise click.exceptions.Exit(EXIT_FAILURE)


def _write(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")

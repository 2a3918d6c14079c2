"""``keyrotate plan``: the calendar of every action due up to a date."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta

import click
from rich import box
from rich.console import Console
from rich.table import Table

from keyrotate.cli.app import CommandInput, main, settings_options
from keyrotate.console import account_progress
from keyrotate.domain.errors import InputError
from keyrotate.service.calendar import calendar_rows
from keyrotate.service.context import LOCAL_RUN_ID, RunContext
from keyrotate.service.organization import run_organization
from keyrotate.service.report import write_report
from keyrotate.service.results import KeptAccounts

DEFAULT_CALENDAR_DAYS = 30
MAX_CALENDAR_DAYS = 3 * 366


def _as_of(value: str | None, now: datetime) -> datetime:
    if value is None:
        return now + timedelta(days=DEFAULT_CALENDAR_DAYS)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InputError("--as-of", value, "use a date such as 2027-03-31") from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if moment < now:
        raise InputError("--as-of", value, "use a date in the future")
    if moment > now + timedelta(days=MAX_CALENDAR_DAYS):
        raise InputError("--as-of", value, f"use a date at most {MAX_CALENDAR_DAYS} days ahead")
    return moment


@main.command("plan")
@settings_options
@click.option("--as-of", "as_of", default=None, metavar="DATE", help="Last day of the calendar.")
def plan_command(cli: CommandInput, as_of: str | None) -> None:
    """The organization's calendar: every action due up to --as-of (default: 30 days).

    An audit run (nothing changes), replayed forward assuming each consumer switches to a new
    key the day after it appears.
    """
    settings = cli.settings.model_copy(update={"dry_run": True})
    until = _as_of(as_of, datetime.now(UTC))
    context = RunContext.from_settings(settings, LOCAL_RUN_ID)
    inventory = context.list_inventory()
    total = len(inventory.accounts)
    with account_progress(Console(stderr=True), total, "audit") as tick:
        # In memory: the calendar replays each user's engine inputs, which a spill drops.
        run = run_organization(
            context, inventory, KeptAccounts(), on_account_done=tick, notify=False
        )
    rows = calendar_rows(run.report, context.options.policy, until)
    if cli.report_path is not None:
        write_report(run.report, cli.report_path, run.summary)
    if cli.output == "json":
        click.echo(json.dumps({"until": until.isoformat(), "calendar": rows}, indent=2))
        return
    table = Table(title=f"keyrotate calendar until {until:%Y-%m-%d}", box=box.SIMPLE)
    for column in ("date", "account", "user", "key", "action", "reason"):
        table.add_column(column, overflow="fold")
    for row in rows:
        key = row["access_key_id"] or f"(key {row['access_key_slot']})"
        table.add_row(
            row["date"], row["account_id"], row["user_name"], key, row["action"], row["reason"]
        )
    Console(width=None if sys.stdout.isatty() else 160).print(table)

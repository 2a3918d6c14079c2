"""``keyrotate plan``: the calendar of every action due up to a date."""

from __future__ import annotations

import csv
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import click
from rich import box
from rich.console import Console

from keyrotate.cli.app import CommandInput, main, settings_options
from keyrotate.cli.output import echo_lines, run_meta, stdout_console
from keyrotate.console import Column, account_progress, fitted_table, text_line
from keyrotate.domain.errors import InputError
from keyrotate.service.calendar import calendar_rows, shown_key
from keyrotate.service.context import LOCAL_RUN_ID, RunContext
from keyrotate.service.organization import run_organization
from keyrotate.service.report_files import RunDocument, html_page, write_report_file
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
    document = RunDocument(run.report, run.summary, run_meta(cli, LOCAL_RUN_ID))
    if cli.report_path is not None:
        write_report_file(document, cli.report_path)
    if cli.output == "json":
        click.echo(json.dumps({"until": until.isoformat(), "calendar": rows}, indent=2))
    elif cli.output == "html":  # the run's report page: its calendar, chart and actions
        click.echo(html_page(document), nl=False)
    elif cli.output == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=CALENDAR_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    elif cli.output == "text":
        echo_lines(text_line(_cells(row)) for row in rows)
    else:
        console = stdout_console()
        console.print(
            fitted_table(
                f"keyrotate calendar until {until:%Y-%m-%d}",
                CALENDAR_COLUMNS,
                ((_cells(row), None) for row in rows),
                console.width,
                box=box.SIMPLE,
            )
        )


# The calendar's columns by priority: when, which key and what happens are never dropped;
# the user next, then the account (the key id names it), then the reason.
CALENDAR_COLUMNS = (
    Column("date", 0, no_wrap=True),
    Column("account", 2, no_wrap=True),
    Column("user", 1, min_width=12),
    Column("key", 0, no_wrap=True),
    Column("action", 0, no_wrap=True),
    Column("reason", 3, min_width=16),
)
CALENDAR_FIELDS = (
    "date",
    "account_id",
    "user_name",
    "access_key_id",
    "access_key_slot",
    "action",
    "reason",
)
# --output text: date, account id, user, key, action, reason (tab-separated).
_TEXT_FIELDS = ("date", "account_id", "user_name", "key", "action", "reason")


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    """The row with its key as people read it: the id, or which slot when it was not read."""
    return {**row, "key": shown_key(row)}


def _cells(row: dict[str, Any]) -> tuple[str, ...]:
    """The row's :data:`_TEXT_FIELDS`, as the table and ``--output text`` show them."""
    shown = _shown(row)
    return tuple(shown[f] or "" for f in _TEXT_FIELDS)

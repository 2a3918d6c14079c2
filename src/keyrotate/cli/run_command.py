"""``keyrotate run``: audit or enforce every account in scope, print and write the report."""

from __future__ import annotations

import os
import sys

import click
from rich.console import Console

from keyrotate.cli.app import CommandInput, main, settings_options
from keyrotate.console import account_progress, actions_table, summary_table
from keyrotate.service.context import LOCAL_RUN_ID, RunContext
from keyrotate.service.organization import OrganizationRun, run_organization
from keyrotate.service.report import exit_code, write_document, write_report
from keyrotate.service.spill import SpilledAccounts


def _finish(cli: CommandInput, run: OrganizationRun, console: Console) -> None:
    """Print the run (table or JSON), write the report file, exit 1 if anything failed.

    The summary is the one the run counted as its accounts finished: every pass over a
    spilled run reads it back from disk, so none of them counts again.
    """
    report, summary = run.report, run.summary
    if cli.report_path is not None:
        write_report(report, cli.report_path, summary)
    if cli.output == "json":
        write_document(report, sys.stdout, summary)
    else:
        console.print(actions_table(report))
        console.print(summary_table(report.mode, summary))
        if cli.report_path is not None:
            console.print(f"report written to {cli.report_path}")
    for note in report.notes:  # the guardrails that acted: a kill switch, a breaker, a cap
        click.secho(f"guardrails: {note}", err=True, fg="yellow")
    code = exit_code(summary)
    if code:
        raise click.exceptions.Exit(code)


def _announce_enforce(cli: CommandInput) -> None:
    """Say on stderr, before anything is done, that keys will change and what said so.

    ``--enforce`` on the command line is its own announcement, so it gets a quiet line; enforce
    mode from the environment or a file may be a leftover nobody meant for this run, so it
    gets a loud one naming where it came from.
    """
    settings = cli.settings
    if not settings.enforce:
        return
    source = settings.source_of("dry_run")
    if source == "flag":
        click.echo("enforce mode (--enforce): keys will be changed", err=True)
        return
    if source == "env":
        (row,) = (r for r in settings.describe() if r.field == "dry_run")
        where = f"the environment variable {row.env_name}={os.environ.get(row.env_name, '')}"
    else:
        where = f"dry_run: false in {cli.config_path}"
    click.secho(f"ENFORCE MODE: keys will be changed ({where})", err=True, fg="red", bold=True)


@main.command("run")
@settings_options
def run_command(cli: CommandInput) -> None:
    """Audit (default) or --enforce every account of the organization in scope."""
    _announce_enforce(cli)
    console = Console(stderr=False, width=None if sys.stdout.isatty() else 160)
    context = RunContext.from_settings(cli.settings, LOCAL_RUN_ID)
    inventory = context.list_inventory()
    total = len(inventory.accounts)
    with account_progress(Console(stderr=True), total, f"{cli.settings.mode} run") as tick:
        run = run_organization(context, inventory, SpilledAccounts(), on_account_done=tick)
    _finish(cli, run, console)

"""The ``keyrotate`` command line: parse, call the service, format. No AWS calls of its own.

Adding a command (``run``, ``plan``, ``demo``, ...) takes two lines of plumbing:

    @main.command()
    @settings_options                       # --config --profile --region --enforce/--audit
    @click.option("--as-of", default=None)  # --accounts --ou --force-user --workers
    def plan(cli: CommandInput, as_of: str | None) -> None:    # --report --output
        settings = cli.settings             # validated; flag > env > file > default
        ...
        if cli.output == "json": ...
        if cli.report_path: ...

- ``settings_options`` adds the common options and hands the command a :class:`CommandInput`
  as its first argument. Only flags that were actually given override the environment and
  the config file; ``--enforce`` sets ``dry_run`` to False (audit is the default everywhere).
- Errors: raise (or let through) any :class:`KeyrotateError`. The group catches it and prints
  ``error: <message>`` on stderr, one line per problem, without a traceback, and exits with
  :func:`exit_code_for` (2 for an :class:`InputError`, 1 for anything else of ours). Nothing
  else is needed in a command. Outside this group, wrap code in :func:`report_errors`.
- Exit codes: 0 success, 1 an AWS or run failure, 2 bad input (click's usage errors too).
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any, Literal, TypeVar, cast

import click
from click.core import ParameterSource
from rich import box
from rich.console import Console
from rich.table import Table

from keyrotate.config import Settings, load_settings
from keyrotate.console import account_progress, actions_table, summary_table
from keyrotate.domain.errors import InputError, KeyrotateError
from keyrotate.logredact import LOG_LEVEL_ENV, LOG_LEVELS, cli_logging
from keyrotate.service.calendar import calendar_rows
from keyrotate.service.context import LOCAL_RUN_ID, RunContext
from keyrotate.service.organization import OrganizationRun, run_organization
from keyrotate.service.report import exit_code, write_document, write_report
from keyrotate.service.results import KeptAccounts
from keyrotate.service.spill import SpilledAccounts

OutputFormat = Literal["table", "json"]
R = TypeVar("R")

DEFAULT_CALENDAR_DAYS = 30
MAX_CALENDAR_DAYS = 3 * 366
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2


@dataclass(frozen=True, slots=True)
class CommandInput:
    """What every command receives from the common options."""

    settings: Settings
    report_path: Path | None
    output: OutputFormat
    config_path: Path | None = None


def exit_code_for(exc: KeyrotateError) -> int:
    return EXIT_BAD_INPUT if isinstance(exc, InputError) else EXIT_FAILURE


@contextmanager
def report_errors() -> Iterator[None]:
    """Turn a KeyrotateError into ``error: ...`` on stderr and a clean exit, no traceback.

    Bugs (any other exception) still raise with their traceback: hiding them helps no one.
    """
    try:
        yield
    except KeyrotateError as exc:
        for line in str(exc).splitlines() or [type(exc).__name__]:
            click.echo(f"error: {line}", err=True)
        raise click.exceptions.Exit(exit_code_for(exc)) from None


class KeyrotateGroup(click.Group):
    """A click group whose every subcommand reports KeyrotateError the same way."""

    def invoke(self, ctx: click.Context) -> Any:
        with report_errors():
            return super().invoke(ctx)


def _split_list(values: Sequence[str]) -> list[str]:
    """``--accounts a,b --accounts c`` -> [a, b, c]."""
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


# Common option -> how it becomes a Settings override. Options not listed here (config,
# report, output) are not settings of the run itself.
_TO_SETTINGS: dict[str, tuple[str, Callable[[Any], object]]] = {
    "profile": ("profile", str),
    "region": ("region", str),
    "enforce": ("dry_run", lambda enforce: not enforce),
    "accounts": ("include_accounts", _split_list),
    "ou": ("organizational_units", _split_list),
    "force_user": ("force_users", list),
    "workers": ("workers", str),  # validated by Settings so the message names MaxWorkers too
}

_COMMON_OPTIONS: tuple[Callable[[Callable[..., Any]], Callable[..., Any]], ...] = (
    click.option(
        "--config",
        "config_path",
        type=click.Path(path_type=Path, dir_okay=True),
        default=None,
        help="YAML file of settings (snake_case keys). Flags and environment override it.",
    ),
    click.option("--profile", default=None, help="AWS profile (else AWS_PROFILE)."),
    click.option("--region", default=None, help="Home region (else AWS_REGION)."),
    click.option(
        "--enforce/--audit",
        default=None,
        help="Make the changes (--enforce) or only report them (--audit, the default).",
    ),
    click.option(
        "--accounts",
        multiple=True,
        metavar="ID[,ID...]",
        help="Only these account IDs (comma list or repeated).",
    ),
    click.option(
        "--ou",
        multiple=True,
        metavar="OU[,OU...]",
        help="Only accounts under these OUs (or root), children included.",
    ),
    click.option(
        "--force-user",
        multiple=True,
        metavar="ACCOUNT:USER",
        help="Rotate this user's key now, whatever its age (repeatable).",
    ),
    click.option("--workers", default=None, metavar="N", help="Accounts in parallel (1-64)."),
    click.option(
        "--report",
        "report_path",
        type=click.Path(path_type=Path, dir_okay=False),
        default=None,
        help="Also write the full report (JSON) to this file.",
    ),
    click.option(
        "--output",
        type=click.Choice(["table", "json"]),
        default="table",
        show_default=True,
        help="How to print results.",
    ),
)


def settings_options(command: Callable[..., R]) -> Callable[..., R]:
    """Add the common options to a command and pass it a :class:`CommandInput` first."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> R:
        ctx = click.get_current_context()
        config_path = cast("Path | None", kwargs.pop("config_path"))
        report_path = cast("Path | None", kwargs.pop("report_path"))
        output = cast("OutputFormat", kwargs.pop("output"))
        overrides: dict[str, object] = {}
        for option, (field, convert) in _TO_SETTINGS.items():
            value = kwargs.pop(option)
            if ctx.get_parameter_source(option) is ParameterSource.COMMANDLINE:
                overrides[field] = convert(value)
        settings = load_settings(config_path, os.environ, overrides)
        return command(CommandInput(settings, report_path, output, config_path), *args, **kwargs)

    decorated: Callable[..., R] = wrapper
    for option in reversed(_COMMON_OPTIONS):
        decorated = option(decorated)
    return decorated


@click.group(cls=KeyrotateGroup)
@click.version_option(package_name="keyrotate")
@click.option(
    "--log-level",
    envvar=LOG_LEVEL_ENV,
    type=click.Choice(LOG_LEVELS, case_sensitive=False),
    default=None,
    help=f"Log to stderr from this level (else {LOG_LEVEL_ENV}; default WARNING). "
    "DEBUG shows every AWS call; secrets are redacted at every level.",
)
@click.pass_context
def main(ctx: click.Context, log_level: str | None) -> None:
    """Rotate AWS IAM user access keys across an AWS Organization.

    Audit mode is the default: nothing changes without --enforce (or DryRunFlag=false).
    """
    # Undone when the command ends: click's test runner calls main again in one process.
    ctx.call_on_close(cli_logging(log_level))


@main.command("config")
@settings_options
def show_config(cli: CommandInput) -> None:
    """Print the resolved settings and where each came from (flag, env, file, default).

    Exits 2 with the problems listed if the configuration is invalid, so it doubles as a check.
    """
    rows = cli.settings.describe()
    if cli.output == "json":
        click.echo(json.dumps([row._asdict() for row in rows], indent=2))
        return
    table = Table(title=f"keyrotate settings ({cli.settings.mode} mode)", box=box.SIMPLE)
    table.add_column("setting", no_wrap=True)
    table.add_column("environment", no_wrap=True)
    table.add_column("value", overflow="fold")  # never cut a value short with "…"
    table.add_column("source", no_wrap=True)
    for row in rows:
        shown = "" if row.value is None else json.dumps(row.value)
        table.add_row(row.field, row.env_name, shown, row.source)
    # Piped or captured output has no width of its own; rich would assume 80 and fold values.
    Console(width=None if sys.stdout.isatty() else 160).print(table)


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


@main.command("demo")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("keyrotate-demo"),
    show_default=True,
    help="Where the reports and the mails of both passes are written.",
)
def demo_command(out_dir: Path) -> None:
    """Run the whole pipeline offline against an embedded AWS emulator (moto)."""
    _load_demo().main(out_dir)


EMULATOR_EXTRA = "pip install 'keyrotate[emulator]'"


def _load_demo() -> ModuleType:
    """The demo, which lives with the emulator (``keyrotate_emulator.demo``), loaded by name.

    By design the only way into the emulator: the product never imports it (pyproject's
    import contracts), so the Lambda zip can leave it and moto out. Without the ``emulator``
    extra this exits 2 naming the extra, instead of a bare ModuleNotFoundError.
    """
    try:
        return importlib.import_module("keyrotate_emulator.demo")
    except ModuleNotFoundError as exc:
        missing = exc.name or "?"
        if missing.partition(".")[0] == "keyrotate":  # the product itself: a bug, not an extra
            raise
        click.echo(
            f"error: keyrotate demo needs the emulator ({missing} is not installed): "
            f"{EMULATOR_EXTRA}",
            err=True,
        )
        raise click.exceptions.Exit(EXIT_BAD_INPUT) from None

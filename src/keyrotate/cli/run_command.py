"""``keyrotate run``: audit or enforce every account in scope, print and write the report.

Stopping early (keyrotate.service.stop): ``--time-budget`` sets the run's deadline; the first
SIGINT/SIGTERM (Ctrl-C) stops new changes, lets those under way finish, defers the rest and
still writes the report and the table, then exits 130; a second one exits 130 at once (a
rotation cut there is finished by the next run: the intent marker says where it stopped).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import FrameType

import click
from rich.console import Console

from keyrotate.cli.app import CommandInput, main, settings_options
from keyrotate.cli.output import print_run, run_meta, stdout_console
from keyrotate.console import account_progress
from keyrotate.domain.errors import InputError
from keyrotate.domain.problems import problem_lines
from keyrotate.service.context import LOCAL_RUN_ID, RunContext
from keyrotate.service.incident import check_forced_users
from keyrotate.service.organization import OrganizationRun, run_organization
from keyrotate.service.report import exit_code
from keyrotate.service.report_files import RunDocument
from keyrotate.service.spill import SpilledAccounts
from keyrotate.service.stop import (
    RunStop,
    budget_sentence,
    format_duration,
    parse_duration,
    signal_sentence,
)

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a command stopped by Ctrl-C
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def finish_run(
    cli: CommandInput, run: OrganizationRun, console: Console, *, interrupted: bool = False
) -> None:
    """Print the run (table or JSON), write the report file, exit 1 if anything failed
    (130 when the run was interrupted: it says what was done and what was not).

    The summary is the one the run counted as its accounts finished: every pass over a
    spilled run reads it back from disk, so none of them counts again.
    """
    report, summary = run.report, run.summary
    print_run(cli, RunDocument(report, summary, run_meta(cli, LOCAL_RUN_ID)), console)
    for note in report.notes:  # the guardrails that acted: a kill switch, a breaker, a cap
        click.secho(f"guardrails: {note}", err=True, fg="yellow")
    for line in problem_lines(report.accounts):  # the same failure of many users: one line
        click.secho(f"problem: {line}", err=True, fg="red")
    code = EXIT_INTERRUPTED if interrupted else exit_code(summary)
    if code:
        raise click.exceptions.Exit(code)


def check_report_path(path: Path) -> None:
    """Refuse a report file that could not be written, before anything is read or changed.

    Tried the way the report is written at the end: missing folders made, the file opened
    for appending (nothing in it is lost); whatever the check made is removed again.
    """
    fix = "give a file path in a folder you can write to"
    if path.is_dir():
        raise InputError("report", str(path), f"{fix} (this is a folder)")
    missing = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
    above = next(p for p in (path.parent, *path.parent.parents) if p.exists())
    if not above.is_dir():
        raise InputError("report", str(path), f"{fix} ({above} is a file, not a folder)")
    created = False
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        created = not path.exists()
        with path.open("a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise InputError("report", str(path), f"{fix} ({exc.strerror or exc})") from None
    finally:
        with suppress(OSError):  # only what the check made, never a file that was there
            if created:
                path.unlink(missing_ok=True)
            for folder in missing:  # deepest first: each is empty once the one below is gone
                folder.rmdir()


def _time_budget(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return parse_duration(text)
    except ValueError:
        raise InputError(
            "--time-budget", text, "give a duration above zero such as 600, 90s, 10m or 1h"
        ) from None


@contextmanager
def _interrupts(stop: RunStop) -> Iterator[None]:
    """SIGINT/SIGTERM while the run goes: the first stops new changes, a second exits now.

    The previous handlers come back when the run is over (click's test runner, and any
    caller in the same process, keep theirs).
    """

    def handle(signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if stop.interrupted:
            # os.write, not click: no lock a thread may hold; os._exit: no waiting for the
            # accounts' threads. A rotation cut here is finished by the next run.
            os.write(2, f"{name} again: exiting now ({EXIT_INTERRUPTED}), no report\n".encode())
            os._exit(EXIT_INTERRUPTED)
        stop.interrupt(signal_sentence(name))
        os.write(
            2,
            (
                f"{name}: no new change will start; changes under way finish, the rest is "
                "deferred to the next run and the report is written (once more: exit at once)\n"
            ).encode(),
        )

    previous = {sig: signal.signal(sig, handle) for sig in _SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


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
@click.option(
    "--time-budget",
    default=None,
    metavar="DURATION",
    help="Start no new change after this long (600, 90s, 10m, 1h): changes under way "
    "finish, the rest is deferred to the next run and the report says so.",
)
def run_command(cli: CommandInput, time_budget: str | None) -> None:
    """Audit (default) or --enforce every account of the organization in scope.

    Ctrl-C (SIGINT) or SIGTERM once: no new change starts, the report is written, exit 130;
    twice: exit 130 at once.
    """
    budget = _time_budget(time_budget)
    if cli.report_path is not None:
        check_report_path(cli.report_path)
    _announce_enforce(cli)
    console = stdout_console()
    context = RunContext.from_settings(cli.settings, LOCAL_RUN_ID)
    stop = context.stop
    if budget is not None:
        stop.set_deadline(budget, budget_sentence(budget))
        click.echo(f"time budget: no new change starts after {format_duration(budget)}", err=True)
    with _interrupts(stop):
        inventory = context.list_inventory()
        check_forced_users(context, inventory)  # an unknown user is an error, not a silent 0
        total = len(inventory.accounts)
        with account_progress(Console(stderr=True), total, f"{cli.settings.mode} run") as tick:
            run = run_organization(context, inventory, SpilledAccounts(), on_account_done=tick)
        finish_run(cli, run, console, interrupted=stop.interrupted)

"""How a command prints what it made, for every ``--output`` choice, and where its report
goes (``--report``: the format its suffix names, :mod:`keyrotate.service.report_files`).

``--output`` choices: ``table`` (rich tables fitted to the terminal, the default), ``text``
(one line per row, tab-separated, for grep and cut), ``json``, ``html`` and ``csv`` (the
report's own formats, on stdout). A command that has no use for a choice says so (exit 2).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence

import click
from rich.console import Console

from keyrotate.cli.app import CommandInput
from keyrotate.console import action_lines, actions_table, summary_table
from keyrotate.domain.errors import InputError
from keyrotate.service.report_files import RunDocument, write_format, write_report_file
from keyrotate.service.report_meta import RunMeta

PIPED_WIDTH = 160  # output that is not a terminal: wide enough for a log, no folding


def stdout_console() -> Console:
    """The console tables print to: the terminal's width, or ``COLUMNS`` when set, or
    :data:`PIPED_WIDTH` when piped (rich would assume 80 and squeeze every table)."""
    if sys.stdout.isatty() or os.environ.get("COLUMNS", "").isdigit():
        return Console()
    return Console(width=PIPED_WIDTH)


def refuse(cli: CommandInput, allowed: Sequence[str]) -> None:
    """Exit 2 when ``--output`` is a choice this command has no use for."""
    if cli.output not in allowed:
        raise InputError("--output", cli.output, f"this command prints {', '.join(allowed)}")


def echo_lines(lines: Iterable[str]) -> None:
    for line in lines:
        click.echo(line)


def print_run(cli: CommandInput, document: RunDocument, console: Console) -> None:
    """Print the run as ``--output`` asks, and write ``--report`` if given."""
    if cli.report_path is not None:
        write_report_file(document, cli.report_path)
    report = document.report
    if cli.output in ("json", "html", "csv"):
        write_format(cli.output, document, sys.stdout)
    elif cli.output == "text":
        echo_lines(action_lines(report))
    else:
        console.print(actions_table(report, width=console.width))
        console.print(summary_table(report.mode, document.counted))
        if cli.report_path is not None:
            console.print(f"report written to {cli.report_path}")


def run_meta(cli: CommandInput, run_id: str) -> RunMeta:
    """The report's ``run`` object for a command run here: its id, version, policy, sources."""
    settings = cli.settings
    return RunMeta.of(run_id, settings.policy(), settings.describe())

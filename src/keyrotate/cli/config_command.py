"""``keyrotate config``: the resolved settings and where each came from."""

from __future__ import annotations

import json

import click
from rich import box

from keyrotate.cli.app import CommandInput, main, settings_options
from keyrotate.cli.output import echo_lines, refuse, stdout_console
from keyrotate.console import Column, fitted_table, text_line

# By priority: the setting and its value are never dropped; where it came from next, and
# the environment variable's name (the longest column, and in --help) first.
CONFIG_COLUMNS = (
    Column("setting", 0, no_wrap=True),
    Column("environment", 2, no_wrap=True),
    Column("value", 0, min_width=16),  # folded, never cut short with "…"
    Column("source", 1, no_wrap=True),
)


@main.command("config")
@settings_options
def show_config(cli: CommandInput) -> None:
    """Print the resolved settings and where each came from (flag, env, file, default).

    Exits 2 with the problems listed if the configuration is invalid, so it doubles as a check.
    """
    refuse(cli, ("table", "text", "json"))
    rows = cli.settings.describe()
    if cli.output == "json":
        click.echo(json.dumps([row._asdict() for row in rows], indent=2))
        return
    shown = [
        (row.field, row.env_name, "" if row.value is None else json.dumps(row.value), row.source)
        for row in rows
    ]
    if cli.output == "text":  # setting, environment name, value (JSON), source
        echo_lines(text_line(cells) for cells in shown)
        return
    console = stdout_console()
    console.print(
        fitted_table(
            f"keyrotate settings ({cli.settings.mode} mode)",
            CONFIG_COLUMNS,
            ((cells, None) for cells in shown),
            console.width,
            box=box.SIMPLE,
        )
    )

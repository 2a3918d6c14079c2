"""``keyrotate config``: the resolved settings and where each came from."""

from __future__ import annotations

import json
import sys

import click
from rich import box
from rich.console import Console
from rich.table import Table

from keyrotate.cli.app import CommandInput, main, settings_options


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

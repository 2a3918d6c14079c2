"""``keyrotate demo``: the whole pipeline offline, against the embedded emulator."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import click

from keyrotate.cli.app import EXIT_BAD_INPUT, main


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

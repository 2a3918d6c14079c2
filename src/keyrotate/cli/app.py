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
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

import click
from click.core import ParameterSource

from keyrotate.cli import help_text
from keyrotate.config import Settings, load_settings
from keyrotate.domain.errors import InputError, KeyrotateError
from keyrotate.logredact import LOG_LEVEL_ENV, LOG_LEVELS, cli_logging

OutputFormat = Literal["table", "text", "json", "html", "csv"]
OUTPUT_FORMATS: tuple[OutputFormat, ...] = ("table", "text", "json", "html", "csv")
R = TypeVar("R")

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
    """A click group whose every subcommand reports KeyrotateError the same way, and whose
    every subcommand's help ends with the exit codes (and, for a command that reads the
    settings, the environment names): :mod:`keyrotate.cli.help_text`."""

    def invoke(self, ctx: click.Context) -> Any:
        with report_errors():
            return super().invoke(ctx)

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        if cmd.epilog is None:
            reads_settings = getattr(cmd.callback, _READS_SETTINGS, False)
            cmd.epilog = help_text.epilog(settings=bool(reads_settings))
        super().add_command(cmd, name)


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
    "user_workers": ("user_workers", str),
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
        "--user-workers",
        default=None,
        metavar="N",
        help="Users of one account changed at once (1-32); their key checks overlap beyond it.",
    ),
    click.option(
        "--report",
        "report_path",
        type=click.Path(path_type=Path, dir_okay=False),
        default=None,
        help="Also write the full report to this file: HTML if it ends in .html, CSV in "
        ".csv, else JSON.",
    ),
    click.option(
        "--output",
        type=click.Choice(OUTPUT_FORMATS),
        default="table",
        show_default=True,
        help="How to print results: table (fitted to the terminal), text (one line per row, "
        "tab-separated, for grep), json, html or csv (the report's formats).",
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

    setattr(wrapper, _READS_SETTINGS, True)  # its help lists the environment names
    decorated: Callable[..., R] = wrapper
    for option in reversed(_COMMON_OPTIONS):
        decorated = option(decorated)
    return decorated


_READS_SETTINGS = "_keyrotate_reads_settings"


@click.group(cls=KeyrotateGroup, epilog=help_text.epilog(settings=True))
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

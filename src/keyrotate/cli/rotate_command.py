"""``keyrotate rotate ACCOUNT:USER [--compromised]``: one user's key, now (incident response).

Audit unless ``--enforce`` is given on the command line: this command exists to change a
key, so enforce mode from the environment or a config file (DryRunFlag=false, a leftover
of a scheduled setup) is not taken for the operator's word here; the command says so.
"""

from __future__ import annotations

import click

from keyrotate.cli.app import CommandInput, main, settings_options
from keyrotate.cli.output import stdout_console
from keyrotate.cli.run_command import finish_run
from keyrotate.service.context import LOCAL_RUN_ID, RunContext
from keyrotate.service.incident import (
    narrow,
    no_new_key,
    parse_target,
    quiet_audit,
    target_user,
)
from keyrotate.service.organization import run_organization
from keyrotate.service.results import KeptAccounts


def acts(cli: CommandInput, what: str) -> bool:
    """Whether this command may change keys: only with ``--enforce`` on its command line."""
    settings = cli.settings
    if settings.enforce and settings.source_of("dry_run") == "flag":
        click.echo(f"enforce mode (--enforce): {what}", err=True)
        return True
    if settings.enforce:
        click.secho(
            f"audit: {what} only with --enforce on the command line (enforce mode from the "
            "environment or a config file is not enough for this command); nothing is changed",
            err=True,
            fg="yellow",
        )
    return False


@main.command("rotate")
@settings_options
@click.argument("target", metavar="ACCOUNT:USER")
@click.option(
    "--compromised",
    is_flag=True,
    help="The key is leaked: deactivate every active key of the user at once (no install "
    "window, no hold), store a new key, tell the owners; deletion follows the recovery window.",
)
def rotate_command(cli: CommandInput, target: str, compromised: bool) -> None:
    """Rotate one user's key now, whatever its age. Audit unless --enforce.

    Without --compromised this is --force-user for one user: a new key is stored and the old
    one retired on the usual schedule (install window, then recovery window). With it, the
    old key is deactivated in the same run (before the new key is made, so it is off even if
    storing the new key fails) and deleted once the recovery window from that moment is over.

    Exit 2 when the account is out of scope, the user does not exist or is exempt.
    """
    who = parse_target(target)
    enforce = acts(cli, "the user's keys will be changed")
    context = RunContext.from_settings(cli.settings, LOCAL_RUN_ID)
    inventory = narrow(context, who, forced=True, compromised=compromised)
    preview = quiet_audit(context, inventory)
    user = target_user(preview, who)
    run = preview
    if enforce and user is not None:
        run = run_organization(context, inventory, KeptAccounts())
    elif user is not None:
        click.echo("audit: nothing was changed; add --enforce to make these changes", err=True)
    missing = no_new_key(run, who)
    if missing is not None:  # the table says BLOCKED or nothing; an incident wants a louder word
        click.secho(f"warning: {missing}", err=True, fg="red", bold=True)
    finish_run(cli, run, stdout_console())

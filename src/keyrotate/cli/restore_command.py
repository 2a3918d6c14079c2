"""``keyrotate restore ACCOUNT:USER KEY_ID [--days N]``: undo a deactivation, for a while.

Only a key keyrotate deactivated (its record on the user), not as leaked, and inside its
recovery window. The snooze is recorded before the key is reactivated; the owners are then
told through an audit run of the user, which shows the key held until the snooze ends.
Audit unless ``--enforce`` is on the command line (see :mod:`keyrotate.cli.rotate_command`).
"""

from __future__ import annotations

import click

from keyrotate.cli.app import CommandInput, main, settings_options
from keyrotate.cli.output import stdout_console
from keyrotate.cli.rotate_command import acts
from keyrotate.cli.run_command import finish_run
from keyrotate.domain.engine import DEFAULT_SNOOZE_DAYS, MAX_SNOOZE_DAYS, MIN_SNOOZE_DAYS
from keyrotate.service.context import LOCAL_RUN_ID, RunContext
from keyrotate.service.incident import (
    check_days,
    check_key_id,
    narrow,
    parse_target,
    plan_restore,
    quiet_audit,
    restore_key,
    target_user,
    tell_owners,
)


@main.command("restore")
@settings_options
@click.argument("target", metavar="ACCOUNT:USER")
@click.argument("key_id", metavar="KEY_ID")
@click.option(
    "--days",
    type=int,
    default=DEFAULT_SNOOZE_DAYS,
    show_default=True,
    help=f"Keep the key from being deactivated again for this many days "
    f"({MIN_SNOOZE_DAYS}-{MAX_SNOOZE_DAYS}).",
)
def restore_command(cli: CommandInput, target: str, key_id: str, days: int) -> None:
    """Reactivate a key keyrotate deactivated, and snooze it. Audit unless --enforce.

    Only inside the key's recovery window, never a key deactivated as compromised. The next
    runs hold the key (SNOOZED) until the snooze ends; after that it is judged as any key,
    and deleted no sooner than one recovery window after its next deactivation.

    Exit 2 when the key cannot be restored (the message says why), the account is out of
    scope, or the user does not exist or is exempt.
    """
    who = parse_target(target)
    check_key_id(key_id)
    snooze = check_days(days)
    enforce = acts(cli, f"{key_id} will be reactivated")
    context = RunContext.from_settings(cli.settings, LOCAL_RUN_ID)
    inventory = narrow(context, who)
    preview = quiet_audit(context, inventory)
    user = target_user(preview, who)
    if user is None or user.inputs is None:  # the account failed: the run says why
        finish_run(cli, preview, stdout_console())
        return
    restore = plan_restore(
        user.inputs,
        who,
        key_id,
        snooze,
        now=context.clock(),
        recovery=context.options.policy.recovery_window,
    )
    until = f"{restore.until:%Y-%m-%d %H:%M} UTC"
    verb = "record the snooze of" if restore.was_active else "reactivate"
    if not enforce:
        click.echo(
            f"audit: would {verb} {key_id} of {who} and keep it from deactivation until "
            f"{until}; add --enforce to do it. Nothing was changed.",
            err=True,
        )
        return
    restore_key(context, restore)
    done = "snooze recorded for" if restore.was_active else "reactivated"
    click.echo(f"{done} {key_id} of {who}: not deactivated again before {until}", err=True)
    finish_run(cli, tell_owners(context, inventory), stdout_console())

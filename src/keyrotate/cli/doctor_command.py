"""``keyrotate doctor``: check, before any change, that every account in scope is ready."""

from __future__ import annotations

import json

import click
from rich import box
from rich.table import Table

from keyrotate.cli.app import EXIT_FAILURE, CommandInput, main, settings_options
from keyrotate.cli.output import echo_lines, refuse, stdout_console
from keyrotate.cli.run_command import check_report_path
from keyrotate.service.context import LOCAL_RUN_ID, RunContext
from keyrotate.service.doctor import Check, DoctorReport, Status, run_doctor

_STYLE = {Status.OK: "green", Status.WARN: "yellow", Status.FAIL: "bold red"}
OUTPUTS = ("table", "text", "json")  # html and csv are the run report's formats


def text_line(check: Check) -> str:
    """One check on one line, tab-separated (account, check, status, reason, what to do):
    ``grep -P '\\tfail\\t'`` finds what a run would fail on."""
    fields = (check.account_id, check.check, check.status.value, check.reason, check.fix)
    return "\t".join(" ".join(f.split()) for f in fields)  # no tab or newline inside a field


def _table(report: DoctorReport) -> Table:
    table = Table(title=f"keyrotate doctor ({report.mode})", box=box.SIMPLE)
    for column in ("account", "check", "status", "reason", "what to do"):
        table.add_column(column, overflow="fold")
    for check in report.checks:
        status = f"[{_STYLE[check.status]}]{check.status.value}[/]"
        table.add_row(check.account_id, check.check, status, check.reason, check.fix)
    return table


@main.command("doctor")
@settings_options
def doctor_command(cli: CommandInput) -> None:
    """Check every account in scope is ready for a run; change nothing.

    The member role can be assumed, the run's actions are allowed, the read-own-secret policy
    and the exemption group exist, Secrets Manager and the KMS key answer in every region;
    then the mail transport (no mail is sent) and the templates. Exit 1 when any check
    fails (a run would fail on it), 0 otherwise; warnings do not fail. Write permissions
    fail only with --enforce: an audit run makes no write. The clean-up's deletions
    (keyrotate cleanup --enforce) only warn. --output table, text (one tab-separated line per
    check) or json.
    """
    refuse(cli, OUTPUTS)  # before any account is looked at: exit 2 naming the choices
    if cli.report_path is not None:  # refused before any account is looked at, as run does
        check_report_path(cli.report_path)
    context = RunContext.from_settings(cli.settings, LOCAL_RUN_ID)
    inventory = context.list_inventory()
    report = run_doctor(context, inventory)
    if cli.report_path is not None:
        cli.report_path.parent.mkdir(parents=True, exist_ok=True)
        cli.report_path.write_text(json.dumps(report.to_json(), indent=2) + "\n", "utf-8")
    if cli.output == "json":
        click.echo(json.dumps(report.to_json(), indent=2))
    elif cli.output == "text":
        echo_lines(text_line(c) for c in report.checks)
    else:
        console = stdout_console()
        console.print(_table(report))
        counts = report.counts()
        console.print(
            f"{counts['ok']} ok, {counts['warn']} warn, {counts['fail']} fail: "
            + ("a run would fail (see the fail rows)" if report.failed else "ready")
        )
    if report.failed:
        raise click.exceptions.Exit(EXIT_FAILURE)

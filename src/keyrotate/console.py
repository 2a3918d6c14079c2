"""What people see on a terminal: progress, the summary table, the actions table (rich).

Presentation only: it reads result records and the run's summary, never AWS.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from keyrotate.domain.exemptions import describe as describe_exemption
from keyrotate.domain.models import ActionKind
from keyrotate.domain.results import AccountResult, Outcome, RunReport, RunStatus
from keyrotate.domain.summary import RunSummary

Tick = Any  # the callable handed to the service: called once per finished account


@contextmanager
def account_progress(console: Console, total: int, label: str) -> Iterator[Tick]:
    """A progress bar over accounts on a terminal; silent when output is piped."""
    if not console.is_terminal or total == 0:
        yield lambda _result: None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(label, total=total)

        def tick(result: AccountResult) -> None:
            progress.advance(task)

        yield tick


def summary_table(mode: str, summary: RunSummary) -> Table:
    """The run's counts as a table: the rows of the report's ``summary`` object."""
    table = Table(title=f"keyrotate {mode} run: summary", box=box.SIMPLE_HEAVY)
    table.add_column("what")
    table.add_column("count", justify="right")
    rows: list[tuple[str, int]] = [
        ("accounts run", summary.accounts),
        ("accounts failed", summary.accounts_failed),
        ("accounts skipped", summary.accounts_skipped),
        ("users", summary.users),
        ("keys", summary.keys),
        ("exempt users", summary.exempt_users),
    ]
    rows += [
        (f"actions: {kind.value}", summary.actions.count(kind))
        for kind in ActionKind
        if kind is not ActionKind.EXEMPT  # counted as exempt users
    ]
    rows += [
        ("holds", summary.holds),
        ("blocked", summary.blocked),
        ("failed actions", summary.failed_actions),
        ("partial actions (a later step failed)", summary.partial_actions),
        ("deferred actions", summary.deferred),
        ("accounts audited by the kill switch", summary.kill_switch_accounts),
        ("failure breaker trips", summary.breaker_trips),
        ("notifications failed", summary.notifications_failed),
    ]
    for what, count in rows:
        table.add_row(what, str(count), style="bold red" if "fail" in what and count else None)
    return table


_STYLE = {
    Outcome.DONE: "green",
    Outcome.PLANNED: "cyan",
    Outcome.FAILED: "bold red",
    Outcome.PARTIAL: "bold yellow",
    Outcome.SKIPPED: "red",
    Outcome.NOTICE: "yellow",
    Outcome.DEFERRED: "magenta",
}


def actions_table(report: RunReport) -> Table:
    """Every action of the run, by account and user; accounts that failed or were skipped."""
    table = Table(title=f"keyrotate {report.mode} run: actions", box=box.SIMPLE)
    for column in ("account", "user", "key", "action", "due", "outcome", "why"):
        table.add_column(column, overflow="fold")
    for account in report.accounts:
        label = f"{account.account.name} ({account.account.account_id})"
        if account.status is not RunStatus.OK:
            shown = "FAILED" if account.status is RunStatus.FAILED else "skipped"
            table.add_row(label, "", "", shown, "", "", account.reason or "")
            continue
        for user in account.users:
            for result in user.results:
                action = result.action
                what = action.kind.value
                if action.upcoming:
                    what = f"WARN {action.upcoming.value}"
                due = f"{action.due:%Y-%m-%d}" if action.due else ""
                why = result.error or result.note or action.reason.sentence
                if action.kind is ActionKind.EXEMPT and user.exemption is not None:
                    why = describe_exemption(user.exemption)  # source, end, reason
                if result.secret:
                    why = f"new key {result.new_key_id} in {result.secret.name}"
                table.add_row(
                    label,
                    user.user_name,
                    action.key_id or "",
                    what,
                    due,
                    result.outcome.value,
                    why,
                    style=_STYLE.get(result.outcome),
                )
    return table

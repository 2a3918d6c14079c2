"""What people see on a terminal: progress, the summary table, the actions table (rich).

Presentation only: it reads result records and the run's summary, never AWS.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from rich import box
from rich.cells import cell_len
from rich.console import Console, JustifyMethod
from rich.measure import Measurement
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from keyrotate.domain.exemptions import describe as describe_exemption
from keyrotate.domain.models import Action, ActionKind, Exemption
from keyrotate.domain.results import AccountResult, ActionResult, Outcome, RunReport, RunStatus
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
        ("accounts cut short (time budget, interrupted)", summary.cut_short_accounts),
        ("notifications failed", summary.notifications_failed),
    ]
    for what, count in rows:
        table.add_row(what, str(count), style="bold red" if "fail" in what and count else None)
    return table


_STYLE = {
    Outcome.DONE: "green",
    Outcome.PLANNED: "cyan",
    Outcome.FAILED: "bold red",
    Outcome.SKIPPED: "red",
    Outcome.NOTICE: "yellow",
    Outcome.DEFERRED: "magenta",
    Outcome.PARTIAL: "bold yellow",
}


@dataclass(frozen=True, slots=True)
class Column:
    """A table column and how much it matters when the terminal is narrow.

    ``priority`` 0 is always shown; the column with the highest number is dropped first,
    then the next, until the table fits. ``no_wrap`` columns (key ids, dates, kinds) are
    never broken across lines, and always get their widest value's width: a key id split
    in two cannot be searched or copied. Other columns wrap, but not below ``min_width``
    (or their widest value, when narrower): a column of three-letter shreds helps no one.
    """

    header: str
    priority: int
    no_wrap: bool = False
    min_width: int = 10
    justify: JustifyMethod = "left"

    def needs(self, cells: Iterable[str]) -> int:
        widest = max((cell_len(c) for c in (self.header, *cells)), default=0)
        return widest if self.no_wrap else min(widest, self.min_width)


def fitted_table(
    title: str,
    columns: Sequence[Column],
    rows: Iterable[tuple[Sequence[str], str | None]],
    width: int | None,
    **table_options: Any,
) -> Table:
    """A table of ``rows`` (cells, style) with as many ``columns`` as fit in ``width``.

    ``width`` None keeps every column (the caller does not know the width). The columns
    keep their given order; only which of them are shown depends on the width.
    """
    rows = list(rows)
    needs = [column.needs(cells[i] for cells, _ in rows) for i, column in enumerate(columns)]
    shown = list(range(len(columns)))
    while width is not None:
        droppable = [i for i in shown if columns[i].priority > 0]
        if not droppable or _width_of([needs[i] for i in shown], table_options) <= width:
            break
        shown.remove(max(droppable, key=lambda i: (columns[i].priority, i)))
    table = Table(title=title, **table_options)
    for index in shown:
        column = columns[index]
        table.add_column(
            column.header,
            no_wrap=column.no_wrap,
            min_width=needs[index] if column.no_wrap else None,
            overflow="ellipsis" if column.no_wrap else "fold",
            justify=column.justify,
        )
    for cells, style in rows:
        table.add_row(*(cells[i] for i in shown), style=style)
    return table


def _width_of(widths: Sequence[int], table_options: Mapping[str, Any]) -> int:
    """How wide a table of columns this wide is, borders and padding included (rich's own
    measure of a probe table: no guessing at what a box style adds)."""
    probe = Table(**table_options)
    for _ in widths:
        probe.add_column(no_wrap=True)
    probe.add_row(*("x" * w for w in widths))
    console = Console(width=10_000, file=io.StringIO(), color_system=None)
    return Measurement.get(console, console.options, probe).maximum


# The actions table's columns, by what matters most when space runs out: which key, what
# happens to it and how it went are never dropped; then the user, why, the account (by id:
# the key id already names it uniquely), the due date, and the new key's id first. Key ids
# only ever stand in no_wrap columns ("why" names the secret, not the new key's id).
ACTION_COLUMNS = (
    Column("account", 3, no_wrap=True),
    Column("user", 1, min_width=12),
    Column("key", 0, no_wrap=True),
    Column("action", 0, no_wrap=True),
    Column("due", 4, no_wrap=True),
    Column("outcome", 0, no_wrap=True),
    Column("new key", 5, no_wrap=True),
    Column("why", 2, min_width=14),
)


def _what(action: Action) -> str:
    return f"WARN {action.upcoming.value}" if action.upcoming else action.kind.value


def _why(result: ActionResult, exemption: Exemption | None = None) -> str:
    action = result.action
    if action.kind is ActionKind.EXEMPT and exemption is not None:  # source, end, reason
        return describe_exemption(exemption)
    if result.secret:
        return f"new key stored in secret {result.secret.name}"
    if action.upcoming and action.due:  # the engine's "falls due soon", said exactly
        return f"{action.upcoming.value} falls due on {action.due:%Y-%m-%d %H:%M} UTC"
    return result.error or result.note or action.reason.sentence


def action_rows(report: RunReport) -> Iterator[tuple[tuple[str, ...], str | None]]:
    """One row per action (and per failed or skipped account), with its style."""
    for account in report.accounts:
        account_id = account.account.account_id
        if account.status is not RunStatus.OK:
            shown = "FAILED" if account.status is RunStatus.FAILED else "skipped"
            why = f"account {account.account.name}: {account.reason or ''}"
            yield (
                (account_id, "", "", shown, "", account.status.value, "", why),
                ("bold red" if account.status is RunStatus.FAILED else None),
            )
            continue
        for user in account.users:
            for result in user.results:
                action = result.action
                yield (
                    (
                        account_id,
                        user.user_name,
                        action.key_id or "",
                        _what(action),
                        f"{action.due:%Y-%m-%d}" if action.due else "",
                        result.outcome.value,
                        result.new_key_id or "",
                        _why(result, user.exemption),
                    ),
                    _STYLE.get(result.outcome),
                )


def actions_table(report: RunReport, width: int | None = None) -> Table:
    """Every action of the run, by account and user; accounts that failed or were skipped.

    Fitted to ``width`` (the console's): see :data:`ACTION_COLUMNS` for what goes first.
    """
    return fitted_table(
        f"keyrotate {report.mode} run: actions",
        ACTION_COLUMNS,
        action_rows(report),
        width,
        box=box.SIMPLE,
    )


def _field(value: str) -> str:
    """A value as one field of a text line: no tab or line break inside, never empty."""
    return " ".join(value.split()) or "-"


def text_line(fields: Iterable[str]) -> str:
    """Fields joined by tabs: ``cut -f`` and ``awk -F'\\t'`` split them back."""
    return "\t".join(_field(f) for f in fields)


def action_lines(report: RunReport) -> Iterator[str]:
    """``--output text``: one line per action, tab-separated, in this order:
    account id, user, key id, action (``WARN:DEACTIVATE`` for a warning), due date,
    outcome, new key id, why. An empty field is ``-``. A failed or skipped account is one
    line with action ``ACCOUNT`` and its status as the outcome.
    """
    for cells, _style in action_rows(report):
        account_id, user, key, what, due, outcome, new_key, why = cells
        if not user and not key:  # an account line
            what = "ACCOUNT"
        what = what.replace(" ", ":")
        yield text_line((account_id, user, key, what, due, outcome, new_key, why))

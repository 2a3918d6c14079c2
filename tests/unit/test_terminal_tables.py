"""Terminal tables at 80 and 120 columns: every key id whole on one line, columns dropped by
priority, nothing wider than the terminal; ``--output text`` one stable line per action.
Snapshots in tests/unit/snapshots/terminal/ (UPDATE_SNAPSHOTS=1 regenerates them)."""

from __future__ import annotations

import io
import re

import pytest
from click.testing import CliRunner
from rich import box
from rich.console import Console
from rich.table import Table

from keyrotate.cli.app import main
from keyrotate.cli.plan_command import _TEXT_FIELDS, CALENDAR_COLUMNS, _shown
from keyrotate.console import ACTION_COLUMNS, action_lines, actions_table, fitted_table
from keyrotate.domain.results import RunReport
from keyrotate.service.calendar import calendar_rows
from tests.snapshot import assert_snapshot
from tests.unit.reader_scenarios import DAY, NOW, POLICY, scenario_report

KEY_ID = re.compile(r"AKIA[A-Z0-9]{16}")
WIDTHS = (80, 120)


def rendered(table: Table, width: int) -> str:
    console = Console(width=width, record=True, color_system=None, file=io.StringIO())
    console.print(table)
    return console.export_text()


def key_ids(report: RunReport) -> set[str]:
    found = set()
    for account in report.accounts:
        for user in account.users:
            found |= {k.key_id for k in user.keys}
            found |= {r.new_key_id for r in user.results if r.new_key_id}
    return found


def assert_fits_and_keys_whole(text: str, width: int) -> None:
    for line in text.splitlines():
        assert len(line.rstrip()) <= width, line
        # A key id cut at the end of a line would leave a partial AKIA... behind.
        for token in re.findall(r"AKIA[A-Z0-9]*", line):
            assert KEY_ID.fullmatch(token), f"key id split: {token!r} in {line!r}"


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("mode", ["audit", "enforce"])
def test_actions_table_fits_the_terminal_and_never_splits_a_key_id(mode: str, width: int) -> None:
    report = scenario_report(mode)
    text = rendered(actions_table(report, width=width), width)
    shown_keys = {k for k in key_ids(report) if k in text}
    assert_fits_and_keys_whole(text, width)
    # Every key that has an action is in the table, whole.
    for account in report.accounts:
        for user in account.users:
            for result in user.results:
                if result.action.key_id:
                    assert result.action.key_id in shown_keys
    assert_snapshot(f"terminal/actions-{mode}-{width}.txt", text)


def test_columns_are_dropped_by_priority_as_the_terminal_narrows() -> None:
    report = scenario_report("enforce")
    headers = {}
    for width in (60, 80, 120, 200):
        table = actions_table(report, width=width)
        headers[width] = [str(c.header) for c in table.columns]
    assert headers[200] == [c.header for c in ACTION_COLUMNS]
    assert headers[120] == ["account", "user", "key", "action", "due", "outcome", "why"]
    assert headers[80] == ["user", "key", "action", "outcome", "why"]
    assert headers[60] == ["key", "action", "outcome"]  # never fewer: the key and its fate


def test_a_table_with_no_width_keeps_every_column() -> None:
    table = actions_table(scenario_report("audit"))
    assert [str(c.header) for c in table.columns] == [c.header for c in ACTION_COLUMNS]


@pytest.mark.parametrize("width", WIDTHS)
def test_calendar_table_fits_and_never_splits_a_key_id(width: int) -> None:
    report = scenario_report("audit")
    rows = calendar_rows(report, POLICY, NOW + 30 * DAY)
    assert rows
    table = fitted_table(
        "keyrotate calendar",
        CALENDAR_COLUMNS,
        ((tuple(_shown(r)[f] or "" for f in _TEXT_FIELDS), None) for r in rows),
        width,
        box=box.SIMPLE,
    )
    text = rendered(table, width)
    assert_fits_and_keys_whole(text, width)
    for row in rows:
        if row["access_key_id"]:
            assert row["access_key_id"] in text
    assert_snapshot(f"terminal/calendar-{width}.txt", text)


@pytest.mark.parametrize("width", WIDTHS)
def test_config_table_fits_at_80_and_120_columns_through_the_cli(width: int) -> None:
    result = CliRunner().invoke(main, ["config"], env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert all(len(line.rstrip()) <= width for line in lines), max(lines, key=len)
    assert any(line.lstrip().startswith("rotate_after_days") for line in lines)
    assert "90" in result.stdout


def test_config_text_output_is_one_tab_separated_line_per_setting() -> None:
    result = CliRunner().invoke(main, ["config", "--output", "text"])
    assert result.exit_code == 0, result.output
    fields = {line.split("\t")[0]: line.split("\t") for line in result.stdout.splitlines()}
    assert fields["rotate_after_days"][2:] == ["90", "default"]
    assert all(len(f) == 4 for f in fields.values())


def test_config_refuses_an_output_it_has_no_use_for() -> None:
    result = CliRunner().invoke(main, ["config", "--output", "html"])
    assert result.exit_code == 2
    assert "--output" in result.stderr


@pytest.mark.parametrize("mode", ["audit", "enforce"])
def test_text_output_is_one_stable_tab_separated_line_per_action(mode: str) -> None:
    report = scenario_report(mode)
    lines = list(action_lines(report))
    actions = sum(len(u.results) for a in report.accounts for u in a.users)
    accounts_not_run = sum(1 for a in report.accounts if a.status.value != "ok")
    assert len(lines) == actions + accounts_not_run
    for line in lines:
        fields = line.split("\t")
        assert len(fields) == 8, line
        assert all(fields), line  # an empty field is "-", so columns never shift
    assert_snapshot(f"terminal/text-{mode}.txt", "\n".join(lines) + "\n")

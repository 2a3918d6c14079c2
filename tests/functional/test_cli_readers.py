"""`keyrotate run` and `plan` for people, against the emulator: --output text, the HTML and
CSV report files chosen by suffix, the JSON report's run metadata, tables at 80 columns."""

from __future__ import annotations

import csv
import json
import re
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner, Result

from keyrotate.cli import main
from keyrotate_emulator.seed import (
    MANAGEMENT_ACCOUNT_ID,
    KeySpec,
    OrganizationBuilder,
    UserSpec,
    seed_users,
)

ENV = {"IAMRoleName": "keyrotate-member", "EmailTransport": "none"}
USERS = ("svc-due", "svc-soon", "svc-young")


def _seed(endpoint: str) -> None:
    OrganizationBuilder(endpoint)  # the organization, with the management account only
    seed_users(
        endpoint,
        MANAGEMENT_ACCOUNT_ID,
        [
            UserSpec("svc-due", (KeySpec(95, True, 1.0),)),
            UserSpec("svc-soon", (KeySpec(86, True, 1.0),)),
            UserSpec("svc-young", (KeySpec(10, True, 1.0),)),
        ],
        datetime.now(UTC),
    )


def _invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env={**ENV, **(env or {})})


def test_run_prints_one_tab_separated_line_per_action_and_keeps_html_and_csv_reports(
    moto_endpoint: str, tmp_path: Path
) -> None:
    _seed(moto_endpoint)
    html, table = tmp_path / "run.html", tmp_path / "keys.csv"
    text = _invoke("run", "--output", "text", "--report", str(html))
    assert text.exit_code == 0, text.stderr
    lines = [line.split("\t") for line in text.stdout.splitlines()]
    by_user = {fields[1]: fields for fields in lines if fields[1] in USERS}
    assert by_user["svc-due"][3:6] == ["ROTATE", by_user["svc-due"][4], "planned"]
    assert by_user["svc-soon"][3] == "WARN:ROTATE"
    assert "svc-young" not in by_user  # no action, no line
    assert all(len(fields) == 8 for fields in lines)
    assert re.fullmatch(r"AKIA[A-Z0-9]{16}", by_user["svc-due"][2])

    page = html.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert page.count('<circle class="mark') >= len(USERS)
    assert "https://" not in page

    run = _invoke("run", "--output", "json", "--report", str(table))
    assert run.exit_code == 0, run.stderr
    document = json.loads(run.stdout)
    assert document["run"]["run_id"]
    assert document["run"]["policy"]["rotate_after_days"] == 90
    assert {"setting": "iam_role_name", "value": "keyrotate-member", "source": "env"} in (
        document["run"]["settings"]
    )
    rows = list(csv.DictReader(table.open(encoding="utf-8")))
    assert len(rows) == len(document["keys"])
    assert {r["user_name"] for r in rows} >= set(USERS)


def test_run_table_at_80_columns_keeps_every_key_id_whole(moto_endpoint: str) -> None:
    _seed(moto_endpoint)
    result = _invoke("run", env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert all(len(line.rstrip()) <= 80 for line in lines)
    keys = re.findall(r"AKIA[A-Z0-9]*", result.stdout)
    assert keys
    assert all(len(k) == 20 for k in keys)


def test_plan_prints_its_calendar_as_text_and_csv(moto_endpoint: str) -> None:
    _seed(moto_endpoint)
    text = _invoke("plan", "--output", "text")
    assert text.exit_code == 0, text.stderr
    due = [line.split("\t") for line in text.stdout.splitlines() if "\tsvc-due\t" in line]
    assert [fields[4] for fields in due] == ["ROTATE", "DEACTIVATE", "DELETE"]
    table = _invoke("plan", "--output", "csv")
    assert table.exit_code == 0, table.stderr
    rows = list(csv.DictReader(table.stdout.splitlines()))
    assert [r["action"] for r in rows if r["user_name"] == "svc-due"] == [
        "ROTATE",
        "DEACTIVATE",
        "DELETE",
    ]
    page = _invoke("plan", "--output", "html")
    assert page.exit_code == 0, page.stderr
    assert page.stdout.startswith("<!DOCTYPE html>")
    assert "svc-due" in page.stdout

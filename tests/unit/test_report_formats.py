"""The report's formats for people: the HTML page (valid, self-contained, one chart mark per
key), CSV (one row per key, the JSON's fields), and the run's metadata in the JSON."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest

from keyrotate.config import load_settings
from keyrotate.domain.models import Account
from keyrotate.domain.policy import RotationPolicy
from keyrotate.domain.results import AccountResult, RunReport
from keyrotate.service.report import to_document
from keyrotate.service.report_csv import write_csv
from keyrotate.service.report_files import RunDocument, format_for, html_page, write_report_file
from keyrotate.service.report_meta import RunMeta
from tests.unit.notify_support import HOSTILE, assert_no_secret
from tests.unit.reader_scenarios import NOW, scenario_report

VOID = {"meta", "br", "hr", "img", "input", "link", "col", "area", "base", "source", "wbr"}
SVG_LEAVES = {"line", "circle", "rect", "path"}  # may be written <x/> or <x></x>


class Page(HTMLParser):
    """What a test needs of a page: tags balanced, attributes, marks, text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.errors: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.marks = 0
        self.text: list[str] = []
        self.doctype = False

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl.lower() == "doctype html"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "circle" and "mark" in (attributes.get("class") or "").split():
            self.marks += 1
        if tag not in VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.open[-1] if self.open else 'nothing'}")
            return
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parsed(page: str) -> Page:
    parser = Page()
    parser.feed(page)
    parser.close()
    return parser


def meta(policy: RotationPolicy | None = None) -> RunMeta:
    return RunMeta("run-42", "9.9.9", policy or RotationPolicy(), (("dry_run", False, "flag"),))


@pytest.mark.parametrize("mode", ["audit", "enforce"])
def test_html_report_is_valid_and_self_contained_with_one_chart_mark_per_key(mode: str) -> None:
    report = scenario_report(mode)
    page = html_page(RunDocument(report, meta=meta()))
    html = parsed(page)
    assert html.doctype
    assert not html.errors, html.errors
    assert html.open == [], f"left open: {html.open}"
    names = [tag for tag, _ in html.tags]
    assert names.count("html") == names.count("head") == names.count("body") == 1
    assert names.count("title") >= 1
    assert names.count("svg") == 1
    # Self-contained: nothing is fetched, no script runs.
    assert "script" not in names
    assert "link" not in names
    assert "img" not in names
    for _, attributes in html.tags:
        assert "src" not in attributes
        assert not (attributes.get("href") or "").startswith(("http:", "https:", "//"))
    assert "http://" not in page
    assert "https://" not in page
    assert "@import" not in page
    assert "url(" not in page
    assert "@font-face" not in page
    # One mark per key of the report, and the JSON report counts the same keys.
    keys = to_document(report)["keys"]
    assert html.marks == len(keys) == sum(len(u.keys) for a in report.accounts for u in a.users)
    text = " ".join(html.text)
    for words in ("rotate at 90 days", "deactivate at 100 days", "delete at 110 days"):
        assert words in text
    assert "run-42" in text
    assert "Calendar: the next 30 days" in text
    assert_no_secret(page)


def test_the_chart_draws_the_policys_own_ages() -> None:
    policy = RotationPolicy(rotate_after_days=30, deactivate_after_days=45, delete_after_days=60)
    page = html_page(RunDocument(scenario_report("audit"), meta=meta(policy)))
    text = " ".join(parsed(page).text)
    assert "rotate at 30 days" in text
    assert "delete at 60 days" in text
    assert "rotate at 90 days" not in text


def test_html_escapes_every_value_from_aws() -> None:
    report = scenario_report("enforce")
    first = report.accounts[0]
    hostile_user = replace(first.users[0], user_name=HOSTILE)
    hostile = replace(
        first, account=Account("555555555555", HOSTILE, "x@example.com"), users=(hostile_user,)
    )
    page = html_page(RunDocument(replace(report, accounts=(hostile,))))
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert not parsed(page).errors


def test_an_empty_run_still_makes_a_valid_page_with_an_empty_chart() -> None:
    report = RunReport("audit", NOW, NOW, ())
    html = parsed(html_page(RunDocument(report)))
    assert not html.errors
    assert html.marks == 0
    assert "Nothing falls due." in " ".join(html.text)


@pytest.mark.parametrize("mode", ["audit", "enforce"])
def test_csv_has_one_row_per_key_with_the_json_records_fields(mode: str) -> None:
    report = scenario_report(mode)
    out = io.StringIO()
    count = write_csv(report, out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    records = to_document(report)["keys"]
    assert count == len(rows) == len(records)
    assert list(rows[0]) == list(records[0])
    by_key = {(r["user_name"], r["access_key_id"]): r for r in rows}
    for record in records:
        row = by_key[(record["user_name"], record["access_key_id"] or "")]
        assert row["action"] == (record["action"] or "")
        assert row["outcome"] == record["outcome"]
    assert_no_secret(out.getvalue())


def test_csv_of_a_run_without_keys_is_a_header_only() -> None:
    out = io.StringIO()
    empty = RunReport("audit", NOW, NOW, (AccountResult(Account("1", "a", "")),))
    assert write_csv(empty, out) == 0
    assert out.getvalue().startswith("account_id,user_name,")


def test_json_report_carries_the_runs_id_version_policy_and_settings_sources() -> None:
    settings = load_settings(None, {"RotationPeriod": "60", "InactivePeriod": "70"}, {})
    run_meta = RunMeta.of("run-7", settings.policy(), settings.describe())
    document = to_document(scenario_report("audit"), meta=run_meta)
    run = document["run"]
    assert run["run_id"] == "run-7"
    assert run["tool_version"]
    assert run["policy"]["rotate_after_days"] == 60
    assert run["policy"]["deactivate_after_days"] == 70
    sources = {s["setting"]: s["source"] for s in run["settings"]}
    assert sources["rotate_after_days"] == "env"
    assert "delete_after_days" not in sources or sources["delete_after_days"] != "default"
    json.dumps(document)  # plain JSON values only


def test_json_report_without_metadata_is_unchanged() -> None:
    assert "run" not in to_document(scenario_report("audit"))


@pytest.mark.parametrize(
    ("name", "kind"),
    [("r.html", "html"), ("r.HTM", "html"), ("r.csv", "csv"), ("r.json", "json"), ("r", "json")],
)
def test_report_file_format_follows_its_suffix(tmp_path: Path, name: str, kind: str) -> None:
    path = write_report_file(RunDocument(scenario_report("audit"), meta=meta()), tmp_path / name)
    assert format_for(path) == kind
    content = path.read_text(encoding="utf-8")
    starts = {"html": "<!DOCTYPE html>", "csv": "account_id,", "json": '{"schema_version"'}
    assert content.startswith(starts[kind])
    if kind == "json":
        assert json.loads(content)["run"]["run_id"] == "run-42"

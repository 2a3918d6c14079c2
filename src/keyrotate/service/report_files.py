"""One run report, any of its formats: JSON (the default), HTML, CSV, to a stream or a file.

``--report PATH`` writes the format its suffix names: ``.html``/``.htm`` the HTML page,
``.csv`` one row per key, anything else (``.json`` above all) the JSON report, as before.
So ``--output`` chooses what is printed and ``--report`` what is kept, independently:
``--output table --report run.html`` prints the table and keeps the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Literal, TextIO

from keyrotate.domain.policy import RotationPolicy
from keyrotate.domain.results import RunReport
from keyrotate.domain.summary import RunSummary, summarize_run
from keyrotate.service.calendar import calendar_rows
from keyrotate.service.report import write_document
from keyrotate.service.report_csv import write_csv
from keyrotate.service.report_html import CALENDAR_DAYS, render_html
from keyrotate.service.report_meta import RunMeta

ReportFormat = Literal["json", "html", "csv"]
_BY_SUFFIX: dict[str, ReportFormat] = {".html": "html", ".htm": "html", ".csv": "csv"}


def format_for(path: Path) -> ReportFormat:
    """The format a report file's name asks for (JSON unless it ends in .html, .htm, .csv)."""
    return _BY_SUFFIX.get(path.suffix.lower(), "json")


@dataclass(frozen=True, slots=True)
class RunDocument:
    """What every format of a run's report is made from."""

    report: RunReport
    summary: RunSummary | None = None
    meta: RunMeta | None = None

    @property
    def counted(self) -> RunSummary:
        return self.summary if self.summary is not None else summarize_run(self.report)

    @property
    def run_policy(self) -> RotationPolicy:
        """The meta's policy, else the default one."""
        return self.meta.policy if self.meta is not None else RotationPolicy()


def html_page(document: RunDocument) -> str:
    """The HTML report, with the calendar of the :data:`CALENDAR_DAYS` after the run."""
    report, policy = document.report, document.run_policy
    until = report.started + timedelta(days=CALENDAR_DAYS)
    rows = calendar_rows(report, policy, until)
    return render_html(report, document.counted, policy, rows, document.meta)


def write_format(kind: ReportFormat, document: RunDocument, out: TextIO) -> None:
    if kind == "html":
        out.write(html_page(document))
    elif kind == "csv":
        write_csv(document.report, out)
    else:
        write_document(document.report, out, document.summary, document.meta)


def write_report_file(document: RunDocument, path: Path) -> Path:
    """Write the report in the format ``path``'s suffix names (:func:`format_for`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # newline="" so the csv module's line ends are written as they are.
    with path.open("w", encoding="utf-8", newline="") as out:
        write_format(format_for(path), document, out)
    return path

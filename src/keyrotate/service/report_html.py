"""The run report as one self-contained HTML page (``--output html``, ``--report x.html``, the
Lambda digest's ``<run_id>/report.html``).

Self-contained: inline CSS, an inline SVG chart, no script, no font, image or link that
leaves the file, so it opens the same from a mail attachment, an S3 console or an
air-gapped laptop. Every value from AWS is escaped. No secret access key is in any result
record, so none can reach the page.

Sections: the run (id, version, policy, settings' sources), the summary, the chart of key
ages against the policy's rotation, deactivation and deletion ages (one mark per key), the
calendar of the next days, and the actions by account.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any

from keyrotate.domain.policy import RotationPolicy
from keyrotate.domain.results import RunReport, RunStatus
from keyrotate.domain.summary import RunSummary
from keyrotate.service.calendar import shown_key
from keyrotate.service.report import SECONDS_PER_DAY, public_key_id, summary_record
from keyrotate.service.report_meta import RunMeta

CALENDAR_DAYS = 30

_CSS = """
body { font-family: Arial, Helvetica, sans-serif; font-size: 14px; color: #1a1a1a;
       margin: 24px; max-width: 1200px; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 28px; } h3 { font-size: 15px; }
table { border-collapse: collapse; margin: 8px 0 16px 0; }
th, td { border: 1px solid #c8c8c8; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
td.n { text-align: right; }
code, .key { font-family: Consolas, Menlo, monospace; white-space: nowrap; }
.failed, .overdue { color: #b00020; font-weight: bold; }
.meta td:first-child { color: #555555; }
svg text { font-family: Arial, Helvetica, sans-serif; font-size: 11px; fill: #333333; }
.axis { stroke: #888888; stroke-width: 1; }
.limit { stroke-width: 1.5; stroke-dasharray: 5 3; }
.limit.rotate { stroke: #d98c00; } .limit.deactivate { stroke: #c05000; }
.limit.delete { stroke: #b00020; }
.mark { stroke: #ffffff; stroke-width: 0.5; }
.mark.young { fill: #2e7d32; } .mark.rotate { fill: #d98c00; }
.mark.deactivate { fill: #c05000; } .mark.delete { fill: #b00020; }
.mark.inactive { fill: #9e9e9e; }
.swatch.young { background: #2e7d32; } .swatch.rotate { background: #d98c00; }
.swatch.deactivate { background: #c05000; } .swatch.delete { background: #b00020; }
.swatch.inactive { background: #9e9e9e; }
.legend span { display: inline-block; margin-right: 14px; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 5px;
          margin-right: 4px; vertical-align: middle; }
"""


@dataclass(frozen=True, slots=True)
class KeyMark:
    """One key on the chart."""

    account_id: str
    user_name: str
    key_id: str | None
    age_days: float
    active: bool


def key_marks(report: RunReport) -> list[KeyMark]:
    """Every key of the run, oldest first, with its age at the run's start."""
    marks = [
        KeyMark(
            account.account.account_id,
            user.user_name,
            public_key_id(key.key_id),
            (report.started - key.created).total_seconds() / SECONDS_PER_DAY,
            key.active,
        )
        for account in report.accounts
        for user in account.users
        for key in user.keys
    ]
    marks.sort(key=lambda m: -m.age_days)
    return marks


def _band(mark: KeyMark, policy: RotationPolicy) -> str:
    """The mark's class: which of the policy's ages the key has passed."""
    if not mark.active:
        return "inactive"
    if mark.age_days >= policy.delete_after_days:
        return "delete"
    if mark.age_days >= policy.deactivate_after_days:
        return "deactivate"
    if mark.age_days >= policy.rotate_after_days:
        return "rotate"
    return "young"


_WIDTH, _HEIGHT = 900, 300
_LEFT, _RIGHT, _TOP, _BOTTOM = 50, 20, 48, 40


def age_chart(marks: Sequence[KeyMark], policy: RotationPolicy) -> str:
    """An SVG dot plot: x is the key's age in days, the keys stacked oldest at the top.

    The policy's three ages are dashed vertical lines; a key older than the axis shows at
    its right end (its title says its real age).
    """
    plot_w = _WIDTH - _LEFT - _RIGHT
    plot_h = _HEIGHT - _TOP - _BOTTOM
    oldest = max((m.age_days for m in marks), default=0.0)
    span = max(policy.delete_after_days * 1.2, min(oldest * 1.05, policy.delete_after_days * 4))
    span = max(span, 1.0)

    def x(days: float) -> float:
        return _LEFT + min(days, span) / span * plot_w

    parts = [
        f'<svg width="{_WIDTH}" height="{_HEIGHT}" '
        f'viewBox="0 0 {_WIDTH} {_HEIGHT}" role="img" aria-label="key ages">',
        f'<line class="axis" x1="{_LEFT}" y1="{_TOP + plot_h}" x2="{_LEFT + plot_w}" '
        f'y2="{_TOP + plot_h}"/>',
    ]
    step = _tick_step(span)
    tick = 0
    while tick <= span:
        parts.append(
            f'<text x="{x(tick):.1f}" y="{_TOP + plot_h + 16}" text-anchor="middle">{tick}</text>'
        )
        tick += step
    parts.append(
        f'<text x="{_LEFT + plot_w / 2:.1f}" y="{_HEIGHT - 6}" text-anchor="middle">'
        "key age (days) at the run's start</text>"
    )
    # The three labels on three heights: the ages are close (90/100/110) and would overlap.
    for row, (name, days) in enumerate(
        (
            ("rotate", policy.rotate_after_days),
            ("deactivate", policy.deactivate_after_days),
            ("delete", policy.delete_after_days),
        )
    ):
        parts.append(
            f'<line class="limit {name}" x1="{x(days):.1f}" y1="{_TOP}" x2="{x(days):.1f}" '
            f'y2="{_TOP + plot_h}"><title>{name} at {days} days</title></line>'
        )
        parts.append(
            f'<text x="{x(days) + 3:.1f}" y="{12 + 12 * row}">{name} at {days} days</text>'
        )
    radius = 4.0 if len(marks) <= 200 else 2.0
    for index, mark in enumerate(marks):
        y = _TOP + (index + 0.5) * plot_h / max(len(marks), 1)
        label = (
            f"{mark.account_id} {mark.user_name} {mark.key_id or '(key id not read)'}: "
            f"{mark.age_days:.1f} days, {'active' if mark.active else 'inactive'}"
        )
        parts.append(
            f'<circle class="mark {_band(mark, policy)}" cx="{x(mark.age_days):.1f}" '
            f'cy="{y:.1f}" r="{radius}"><title>{escape(label)}</title></circle>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def _tick_step(span: float) -> int:
    for step in (10, 20, 50, 100, 200, 500, 1000):
        if span / step <= 12:
            return step
    return 5000


def _cell(value: object, css: str = "") -> str:
    shown = "" if value is None else str(value)
    klass = f' class="{css}"' if css else ""
    return f"<td{klass}>{escape(shown)}</td>"


def _table(headers: Iterable[str], rows: Iterable[str]) -> Iterator[str]:
    yield "<table>"
    yield "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in headers) + "</tr>"
    for row in rows:
        yield f"<tr>{row}</tr>"
    yield "</table>"


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else ""


def _run_section(report: RunReport, meta: RunMeta | None) -> Iterator[str]:
    yield "<h2>The run</h2>"
    rows = [("mode", report.mode), ("started", _when(report.started))]
    rows.append(("finished", _when(report.finished)))
    if meta is not None:
        rows += [("run id", meta.run_id), ("keyrotate version", meta.tool_version)]
        rows += [(name, str(value)) for name, value in meta.policy_values().items()]
        rows += [
            (f"setting {name}", f"{value} (from {source})") for name, value, source in meta.settings
        ]
    yield '<table class="meta">'
    for name, value in rows:
        yield f"<tr>{_cell(name)}{_cell(value)}</tr>"
    yield "</table>"
    if report.notes:
        yield "<ul>" + "".join(f'<li class="failed">{escape(n)}</li>' for n in report.notes)
        yield "</ul>"


def _summary_section(summary: RunSummary) -> Iterator[str]:
    yield "<h2>Summary</h2>"
    rows: list[tuple[str, object]] = []
    for name, value in summary_record(summary).items():
        if isinstance(value, Mapping):
            rows += [(f"{name}: {k}", v) for k, v in value.items()]
        else:
            rows.append((name, value))
    yield from _table(
        ("what", "count"),
        (
            _cell(name) + _cell(value, "n" + (" failed" if "fail" in name and value else ""))
            for name, value in rows
        ),
    )


def _chart_section(marks: Sequence[KeyMark], policy: RotationPolicy) -> Iterator[str]:
    yield "<h2>Key ages</h2>"
    yield (
        f"<p>{len(marks)} key{'' if len(marks) == 1 else 's'}, one mark each, oldest at the "
        f"top. Keys are rotated at {policy.rotate_after_days} days, the previous key "
        f"deactivated at {policy.deactivate_after_days} and deleted at "
        f"{policy.delete_after_days} (at the earliest).</p>"
    )
    yield '<p class="legend">' + "".join(
        f'<span><span class="swatch {band}"></span>{escape(text)}</span>'
        for band, text in (
            ("young", f"younger than {policy.rotate_after_days} days"),
            ("rotate", "past rotation"),
            ("deactivate", "past deactivation"),
            ("delete", "past deletion"),
            ("inactive", "inactive"),
        )
    )
    yield "</p>"
    yield age_chart(marks, policy)


def _calendar_section(rows: Sequence[Mapping[str, Any]], days: int) -> Iterator[str]:
    yield f"<h2>Calendar: the next {days} days</h2>"
    if not rows:
        yield "<p>Nothing falls due.</p>"
        return
    yield from _table(
        ("date", "account", "user", "key", "action", "reason"),
        (
            _cell(r["date"])
            + _cell(r["account_id"])
            + _cell(r["user_name"])
            + _cell(shown_key(r), "key")
            + _cell(r["action"])
            + _cell(r["reason"])
            for r in rows
        ),
    )


def _actions_section(report: RunReport) -> Iterator[str]:
    yield "<h2>Actions by account</h2>"
    for account in report.accounts:
        identity = account.account
        yield f"<h3>{escape(identity.name)} ({escape(identity.account_id)})</h3>"
        if account.status is not RunStatus.OK:
            css = ' class="failed"' if account.status is RunStatus.FAILED else ""
            yield f"<p{css}>{escape(account.status.value)}: {escape(account.reason or '')}</p>"
            continue
        rows = [
            _cell(user.user_name)
            + _cell(result.action.key_id or "", "key")
            + _cell(
                result.action.kind.value
                + (f" {result.action.upcoming.value}" if result.action.upcoming else "")
            )
            + _cell(_when(result.action.due))
            + _cell(result.outcome.value, "failed" if result.outcome.value == "failed" else "")
            + _cell(
                f"new key {result.new_key_id} in secret {result.secret.name}"
                if result.secret
                else result.error or result.note or result.action.reason.sentence
            )
            for user in account.users
            for result in user.results
        ]
        if not rows:
            yield "<p>No action.</p>"
            continue
        yield from _table(("user", "key", "action", "due", "outcome", "why"), rows)


def render_html(
    report: RunReport,
    summary: RunSummary,
    policy: RotationPolicy,
    calendar: Sequence[Mapping[str, Any]] = (),
    meta: RunMeta | None = None,
    calendar_days: int = CALENDAR_DAYS,
) -> str:
    """The whole page. ``calendar``: :func:`keyrotate.service.calendar.calendar_rows` of
    the next ``calendar_days`` days."""
    title = f"keyrotate {report.mode} run, {report.started:%Y-%m-%d %H:%M} UTC"
    head = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{escape(title)}</h1>",
    ]
    body = [
        *_run_section(report, meta),
        *_summary_section(summary),
        *_chart_section(key_marks(report), policy),
        *_calendar_section(calendar, calendar_days),
        *_actions_section(report),
    ]
    return "\n".join([*head, *body, "</body>", "</html>", ""])

"""The IAM credential report, served from a per-account cache for up to four hours, as IAM does.

moto builds a fresh report on every GetCredentialReport and dates it 2015-02-02. IAM
generates one per account and reuses it: GenerateCredentialReport answers COMPLETE without
generating while the last report is under four hours old, GetCredentialReport returns that
report (with the time it was really generated), and a report past four hours is refused with
``ReportExpired`` until a new one is generated. So a tool reading the report sees keys as they
were up to four hours ago: it must never change a key on the report's word alone.

This module keeps, per account, the CSV moto would have answered at the moment of generation
and the wall-clock time of that moment; it rewrites moto's answers with them. Tests that
change keys after a report was generated (aging a key, say) and then expect a run to see the
change must expire the cache first (``POST /_keyrotate/credential-report/expire``), as they
would have to wait four hours in AWS.
"""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from keyrotate_emulator._wsgi import CapturedResponse, Refusal

MAX_AGE = timedelta(hours=4)
_CONTENT = re.compile(rb"<Content>[^<]*</Content>")
_GENERATED = re.compile(rb"<GeneratedTime>[^<]*</GeneratedTime>")
_STATE = re.compile(rb"<State>COMPLETE</State>")
EXPIRED = Refusal(
    "ReportExpired",
    "The request was rejected because the most recent credential report has expired. "
    "To generate a new credential report, use GenerateCredentialReport.",
    410,
)

Clock = Callable[[], datetime]


def _wall_clock() -> datetime:
    # IAM reports the generation time to the second.
    return datetime.now(UTC).replace(microsecond=0)


@dataclass(frozen=True, slots=True)
class _Report:
    content: bytes  # the CSV as moto built it at generation time
    generated: datetime


class CredentialReportCache:
    """Per-account reports: made at GenerateCredentialReport, reused for :data:`MAX_AGE`."""

    def __init__(self, clock: Clock = _wall_clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._reports: dict[str, _Report] = {}

    def fresh(self, account_id: str) -> bool:
        """Whether a report under four hours old exists (Generate then generates nothing)."""
        with self._lock:
            report = self._reports.get(account_id)
        return report is not None and self._clock() - report.generated < MAX_AGE

    def generated(self, account_id: str, response: CapturedResponse, *, was_fresh: bool) -> bytes:
        """After moto's GenerateCredentialReport: keep a new report unless one was fresh.

        Returns the body to answer: COMPLETE when the cached report is reused, STARTED when a
        new one is generated (moto says COMPLETE once it has made any report before).
        """
        if not response.status.startswith("200"):
            return response.body
        if was_fresh:
            return response.body
        self._snapshot(account_id)
        return _STATE.sub(b"<State>STARTED</State>", response.body)

    def answer(self, account_id: str, response: CapturedResponse) -> bytes | Refusal:
        """moto's GetCredentialReport answer with the cached report and its real time."""
        if not response.status.startswith("200"):
            return response.body  # ReportNotPresent: nothing was ever generated
        with self._lock:
            report = self._reports.get(account_id)
        if report is None:  # generated while the cache was off: date it now
            report = self._snapshot(account_id)
        if self._clock() - report.generated >= MAX_AGE:
            return EXPIRED
        content = base64.b64encode(report.content)
        body = _CONTENT.sub(b"<Content>" + content + b"</Content>", response.body, count=1)
        stamp = report.generated.strftime("%Y-%m-%dT%H:%M:%SZ").encode("ascii")
        return _GENERATED.sub(b"<GeneratedTime>" + stamp + b"</GeneratedTime>", body, count=1)

    def age(self, by: timedelta, account_id: str | None = None) -> int:
        """Move cached reports' generation ``by`` into the past; how many were moved."""
        with self._lock:
            chosen = [a for a in self._reports if account_id in (None, a)]
            for account in chosen:
                report = self._reports[account]
                self._reports[account] = replace(report, generated=report.generated - by)
        return len(chosen)

    def expire(self, account_id: str | None = None) -> int:
        """Make cached reports four hours old: the next Generate makes a new one."""
        with self._lock:
            now = self._clock()
            chosen = [a for a in self._reports if account_id in (None, a)]
            for account in chosen:
                report = self._reports[account]
                self._reports[account] = replace(report, generated=now - MAX_AGE)
        return len(chosen)

    def forget(self) -> None:
        """moto was reset: no account has a report any more."""
        with self._lock:
            self._reports.clear()

    def _snapshot(self, account_id: str) -> _Report:
        report = _Report(_moto_report(account_id), self._clock())
        with self._lock:
            self._reports[account_id] = report
        return report


def _moto_report(account_id: str) -> bytes:
    from moto.iam.models import iam_backends  # the emulator's own process only

    backend: Any = iam_backends[account_id]["global"]
    return str(backend.get_credential_report()).encode("utf-8")

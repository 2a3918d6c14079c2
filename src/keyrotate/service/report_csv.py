"""The run report as CSV: one row per key (``--output csv``, ``--report x.csv``).

The columns are the JSON report's key records (README "Report"), in their order, so a
spreadsheet and a script read the same fields; a nested value (an exemption) is written as
its JSON. Written row by row, never whole in memory, like the JSON report.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any, TextIO

from keyrotate.domain.results import RunReport
from keyrotate.service.report import key_records

# The header of a run with no key at all (else the records' own fields, in their order).
FIELDS_WHEN_EMPTY = (
    "account_id",
    "user_name",
    "owner",
    "access_key_id",
    "status",
    "created",
    "age_days",
    "last_used",
    "action",
    "reason",
    "due",
    "outcome",
)


def _cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return value


def key_rows(report: RunReport) -> Iterator[dict[str, Any]]:
    for account in report.accounts:
        for record in key_records(account, report.started):
            yield {name: _cell(value) for name, value in record.items()}


def write_csv(report: RunReport, out: TextIO) -> int:
    """Write the header and one row per key; return the number of rows."""
    rows = key_rows(report)
    first = next(rows, None)
    fields = list(first) if first is not None else list(FIELDS_WHEN_EMPTY)
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    if first is None:
        return 0
    writer.writerow(first)
    count = 1
    for row in rows:
        writer.writerow(row)
        count += 1
    return count

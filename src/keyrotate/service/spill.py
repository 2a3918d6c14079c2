"""Account results kept on disk as they complete: a run's memory follows the accounts in
flight, not the size of the organization.

Each finished account becomes one JSON line in a temporary file (its lossless record,
:func:`keyrotate.service.report_io.account_record`); only the line's offset stays in
memory. Every later pass over the run (summary, report file, owner mails, digest) reads the
accounts back one at a time. What is not carried: each user's engine inputs (``inputs``),
which only ``keyrotate plan`` needs; it keeps its results in memory
(:class:`keyrotate.service.results.KeptAccounts`).
"""

from __future__ import annotations

import json
import tempfile

from keyrotate.domain.results import AccountResult
from keyrotate.service.report_io import account_record, account_result_from_document
from keyrotate.service.results import ResultStore


class SpilledAccounts(ResultStore):
    """An append-then-read sequence of account results, backed by a temporary file."""

    def __init__(self) -> None:
        super().__init__()
        self._file = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the run)
        self._offsets: dict[str, int] = {}

    def _keep(self, result: AccountResult) -> None:
        line = json.dumps(account_record(result), separators=(",", ":")).encode() + b"\n"
        self._file.seek(0, 2)
        self._offsets[result.account.account_id] = self._file.tell()
        self._file.write(line)

    def _load(self, account_id: str) -> AccountResult:
        self._file.seek(self._offsets[account_id])
        line = self._file.readline()
        return account_result_from_document(json.loads(line))

"""Account results kept on disk as they complete: a run's memory follows the accounts in
flight, not the size of the organization.

Each finished account becomes one JSON line in a temporary file (its lossless record,
:func:`keyrotate.service.report_io.account_record`); only the line's offset stays in
memory. Every later pass over the run (summary, report file, owner mails, digest) reads the
accounts back one at a time. What is not carried: each user's engine inputs (``inputs``),
which only ``keyrotate plan`` needs; it keeps its results in memory.
"""

from __future__ import annotations

import json
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import overload

from keyrotate.domain.results import AccountResult
from keyrotate.service.report_io import account_record, account_result_from_document


class SpilledAccounts(Sequence[AccountResult]):
    """An append-then-read sequence of account results, backed by a temporary file."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the run)
        self._offsets: dict[str, int] = {}
        self._order: list[str] = []
        self._lock = threading.Lock()

    def append(self, result: AccountResult) -> None:
        line = json.dumps(account_record(result), separators=(",", ":")).encode() + b"\n"
        with self._lock:
            self._file.seek(0, 2)
            self._offsets[result.account.account_id] = self._file.tell()
            self._file.write(line)
            self._order.append(result.account.account_id)

    def reorder(self, account_ids: Iterable[str]) -> None:
        """Read back in this order (the inventory's), not in order of completion."""
        order = list(account_ids)
        if sorted(order) != sorted(self._order):
            raise ValueError("reorder must name exactly the accounts appended")
        self._order = order

    def __len__(self) -> int:
        return len(self._order)

    @overload
    def __getitem__(self, index: int) -> AccountResult: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[AccountResult]: ...

    def __getitem__(self, index: int | slice) -> AccountResult | Sequence[AccountResult]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        with self._lock:
            self._file.seek(self._offsets[self._order[index]])
            line = self._file.readline()
        return account_result_from_document(json.loads(line))

    def __iter__(self) -> Iterator[AccountResult]:
        for index in range(len(self)):
            yield self[index]

"""Where a run keeps its accounts' results until every pass over the run is done.

The caller chooses: :class:`KeptAccounts` in memory, with each user's engine inputs
(``keyrotate plan`` replays them), or :class:`keyrotate.service.spill.SpilledAccounts` on
disk, so memory follows the accounts in flight, not the size of the organization. Either is
the report's ``accounts``: a sequence read back in the inventory's order.
"""

from __future__ import annotations

import threading
from abc import abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from typing import overload

from keyrotate.domain.results import AccountResult


class ResultStore(Sequence[AccountResult]):
    """Append as accounts finish (any order), then read back in the order given last."""

    def __init__(self) -> None:
        self._order: list[str] = []
        self._lock = threading.Lock()

    @abstractmethod
    def _keep(self, result: AccountResult) -> None:
        """Store one result (called under the lock)."""

    @abstractmethod
    def _load(self, account_id: str) -> AccountResult:
        """Read one result back (called under the lock)."""

    def append(self, result: AccountResult) -> None:
        with self._lock:
            self._keep(result)
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
            return self._load(self._order[index])

    def __iter__(self) -> Iterator[AccountResult]:
        for index in range(len(self)):
            yield self[index]


class KeptAccounts(ResultStore):
    """Every result in memory, as it was made."""

    def __init__(self) -> None:
        super().__init__()
        self._results: dict[str, AccountResult] = {}

    def _keep(self, result: AccountResult) -> None:
        self._results[result.account.account_id] = result

    def _load(self, account_id: str) -> AccountResult:
        return self._results[account_id]

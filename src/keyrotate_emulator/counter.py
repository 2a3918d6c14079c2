"""Count the API calls clients make, by operation and by the account that makes them.

At organization scale the limit is IAM's rate limits, not CPU, so designs are
compared by the calls they spend. Counting on the server side sees every client and process.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from keyrotate_emulator._wsgi import (
    Environ,
    StartResponse,
    WsgiApp,
    inspect_request,
    is_control_path,
)

DEFAULT_ACCOUNT_ID = "123456789012"  # moto's answer for keys it does not know
CallKey = tuple[str, str, str]  # (account id, service, operation)

_EMPTY: Mapping[CallKey, int] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class CallCounts:
    """A snapshot of calls: ``by_account[(account, service, operation)] -> count``."""

    by_account: Mapping[CallKey, int] = field(default_factory=lambda: _EMPTY)

    @property
    def by_operation(self) -> dict[tuple[str, str], int]:
        totals: Counter[tuple[str, str]] = Counter()
        for (_, service, operation), count in self.by_account.items():
            totals[(service, operation)] += count
        return dict(totals)

    def total(
        self,
        service: str | None = None,
        operation: str | None = None,
        account_id: str | None = None,
    ) -> int:
        """Calls matching every filter given (None matches anything)."""
        return sum(
            count
            for (account, svc, op), count in self.by_account.items()
            if (service is None or svc == service)
            and (operation is None or op == operation)
            and (account_id is None or account == account_id)
        )

    def accounts(self) -> set[str]:
        return {account for account, _, _ in self.by_account}

    def to_rows(self) -> list[list[object]]:
        """JSON-friendly rows ``[account, service, operation, count]``."""
        return [[a, s, o, n] for (a, s, o), n in sorted(self.by_account.items())]

    @classmethod
    def from_rows(cls, rows: Iterable[Iterable[object]]) -> CallCounts:
        counts: dict[CallKey, int] = {}
        for row in rows:
            account, service, operation, count = row
            counts[(str(account), str(service), str(operation))] = int(str(count))
        return cls(MappingProxyType(counts))


_KNOWN_KEYS: dict[str, str] = {}  # access key id -> account; ids are random, never reused


def account_of(environ: Environ, access_key_id: str | None) -> str:
    """The account moto routes this request to: its header override, else the key's owner.

    moto's lookup scans every account's backend; with a thousand accounts that is worth a
    cache. Only keys moto knows are cached (an unknown key may become known later).
    """
    override = environ.get("HTTP_X_MOTO_ACCOUNT_ID")
    if override:
        return str(override)
    key = access_key_id or ""
    known = _KNOWN_KEYS.get(key)
    if known is not None:
        return known
    from moto.iam.models import get_account_id_from  # the emulator's own process only

    account = str(get_account_id_from(key))
    if account != DEFAULT_ACCOUNT_ID:
        _KNOWN_KEYS[key] = account
    return account


class CallCounter:
    """WSGI middleware: count every API request before anything else may fail it."""

    def __init__(self, app: WsgiApp) -> None:
        self._app = app
        self._lock = threading.Lock()
        self._counts: Counter[CallKey] = Counter()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if not is_control_path(environ):
            info = inspect_request(environ)
            key = (account_of(environ, info.access_key_id), info.service, info.operation)
            with self._lock:
                self._counts[key] += 1
        return self._app(environ, start_response)

    def snapshot(self) -> CallCounts:
        with self._lock:
            return CallCounts(MappingProxyType(dict(self._counts)))

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()

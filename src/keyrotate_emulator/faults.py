"""Fail chosen API calls the way real AWS fails them, for any client in any process.

A fault names a service (SigV4 signing name) and an operation, and fails either the ``nth``
matching call and the ``times - 1`` after it, or each matching call with probability ``rate``
(seeded, so a run can be replayed). Kinds:

- ``throttle``: HTTP 400 ``Throttling`` (query protocols) / ``ThrottlingException`` (JSON);
- ``server_error``: HTTP 500 ``InternalFailure``;
- ``access_denied``: HTTP 403 ``AccessDenied`` / ``AccessDeniedException``;
- ``drop``: the connection is closed before the request reaches moto: nothing happened and
  botocore sees a connection error;
- ``drop_after``: moto performs the request, then the connection is closed: it happened,
  but the client never hears so (the nastiest case for a key rotation).
"""

from __future__ import annotations

import contextlib
import random
import socket
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Literal, cast

from keyrotate_emulator._wsgi import (
    Environ,
    RequestInfo,
    StartResponse,
    WsgiApp,
    call_and_capture,
    error_response,
    inspect_request,
    is_control_path,
    read_body,
)

FaultKind = Literal["throttle", "server_error", "access_denied", "drop", "drop_after"]
FAULT_KINDS: tuple[FaultKind, ...] = (
    "throttle",
    "server_error",
    "access_denied",
    "drop",
    "drop_after",
)
ANY = "*"


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault to inject. ``operation="*"`` matches every operation of the service.

    Without ``rate``: matching calls are numbered from 1; calls ``nth`` .. ``nth + times - 1``
    fail (``times=None``: every call from ``nth`` on). With ``rate``: each matching call fails
    with that probability, drawn from ``random.Random(seed)``; ``nth`` and ``times`` are then
    ignored. ``account_id`` limits the fault to calls routed to (made by) that account;
    ``body_contains`` to requests whose raw body contains that text, e.g. a member account id
    to deny ``AssumeRole`` into that one account (an account "with no role").
    """

    service: str
    operation: str = ANY
    nth: int = 1
    kind: FaultKind = "throttle"
    times: int | None = 1
    rate: float | None = None
    seed: int = 0
    account_id: str | None = None
    body_contains: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"Fault.kind must be one of {FAULT_KINDS}, got {self.kind!r}")
        if self.nth < 1:
            raise ValueError(f"Fault.nth counts from 1, got {self.nth}")
        if self.times is not None and self.times < 1:
            raise ValueError(f"Fault.times must be at least 1 or None, got {self.times}")
        if self.rate is not None and not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"Fault.rate must be within [0, 1], got {self.rate}")

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Fault:
        return cls(
            service=str(data["service"]),
            operation=str(data.get("operation", ANY)),
            nth=int(str(data.get("nth", 1))),
            kind=cast(FaultKind, str(data.get("kind", "throttle"))),
            times=None if data.get("times") is None else int(str(data["times"])),
            rate=None if data.get("rate") is None else float(str(data["rate"])),
            seed=int(str(data.get("seed", 0))),
            account_id=None if data.get("account_id") is None else str(data["account_id"]),
            body_contains=None if data.get("body_contains") is None else str(data["body_contains"]),
        )


@dataclass(frozen=True, slots=True)
class FiredFault:
    """One call that a fault failed."""

    kind: FaultKind
    service: str
    operation: str
    account_id: str | None
    call_number: int


@dataclass(slots=True)
class _Armed:
    fault: Fault
    rng: random.Random
    matched: int = 0
    fired: int = 0

    def matches(self, info: RequestInfo, account_id: str | None, body: bytes) -> bool:
        fault = self.fault
        return (
            fault.service == info.service
            and fault.operation in (ANY, info.operation)
            and (fault.account_id is None or fault.account_id == account_id)
            and (fault.body_contains is None or fault.body_contains.encode("utf-8") in body)
        )

    def wants(self) -> bool:
        """Count one matching call and say whether this fault selects it (under the lock)."""
        self.matched += 1
        fault = self.fault
        if fault.rate is not None:
            return self.rng.random() < fault.rate
        last = None if fault.times is None else fault.nth + fault.times - 1
        return self.matched >= fault.nth and (last is None or self.matched <= last)


_ERRORS: dict[str, tuple[int, str, str, bool]] = {
    # kind -> (HTTP status, query-protocol code, JSON-protocol code, sender's fault)
    "throttle": (400, "Throttling", "ThrottlingException", True),
    "server_error": (500, "InternalFailure", "InternalFailure", False),
    "access_denied": (403, "AccessDenied", "AccessDeniedException", True),
}


class DroppedConnection(ConnectionAbortedError):
    """Raised inside the server so werkzeug drops the connection quietly (no 500 page)."""


class FaultInjector:
    """WSGI middleware that fails the calls its armed faults select."""

    def __init__(self, app: WsgiApp) -> None:
        self._app = app
        self._lock = threading.Lock()
        self._armed: list[_Armed] = []
        self._fired: list[FiredFault] = []

    def inject(self, fault: Fault) -> None:
        with self._lock:
            self._armed.append(_Armed(fault, random.Random(fault.seed)))

    def clear(self) -> None:
        """Disarm every fault and forget what fired."""
        with self._lock:
            self._armed.clear()
            self._fired.clear()

    def fired(self) -> list[FiredFault]:
        with self._lock:
            return list(self._fired)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if is_control_path(environ):
            return self._app(environ, start_response)
        with self._lock:
            armed = list(self._armed)
        if not armed:
            return self._app(environ, start_response)
        info = inspect_request(environ)
        account_id = _account_if_needed(environ, info, armed)
        body = read_body(environ) if any(a.fault.body_contains for a in armed) else b""
        chosen: Fault | None = None
        with self._lock:
            # Every matching fault counts the call (its ``nth`` counts calls it could see);
            # the first one armed that wants it fails it.
            for candidate in armed:
                if not candidate.matches(info, account_id, body):
                    continue
                if candidate.wants() and chosen is None:
                    chosen = candidate.fault
                    candidate.fired += 1
                    self._fired.append(
                        FiredFault(
                            chosen.kind,
                            info.service,
                            info.operation,
                            account_id,
                            candidate.matched,
                        )
                    )
        if chosen is None:
            return self._app(environ, start_response)
        if chosen.kind == "drop":
            _drop_connection(environ)
        if chosen.kind == "drop_after":
            call_and_capture(self._app, environ)
            _drop_connection(environ)
        status, query_code, json_code, sender = _ERRORS[chosen.kind]
        return error_response(
            start_response,
            json_protocol=info.json,
            status=status,
            code=json_code if info.json else query_code,
            message=f"keyrotate emulator: injected {chosen.kind} for {info.operation}",
            sender=sender,
        )


def _account_if_needed(environ: Environ, info: RequestInfo, armed: list[_Armed]) -> str | None:
    if all(a.fault.account_id is None for a in armed):
        return None
    from keyrotate_emulator.counter import account_of

    return account_of(environ, info.access_key_id)


def _drop_connection(environ: Environ) -> None:
    """Close the client's socket with no response; werkzeug treats the raise as a drop."""
    read_body(environ)  # take the whole request first, so the client sees no reset mid-send
    connection = environ.get("werkzeug.socket")
    if isinstance(connection, socket.socket):
        # The client may have gone already: that is a dropped connection too.
        with contextlib.suppress(OSError):
            connection.shutdown(socket.SHUT_RDWR)
    raise DroppedConnection("keyrotate emulator: injected dropped connection")

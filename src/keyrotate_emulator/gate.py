"""Hold one chosen call until a test releases it; remember every secret key handed out.

The crash tests must know that a client is *exactly* at a given call before they kill it:
:meth:`Gate.hold` arms a hold on the ``nth`` call of an operation (counted from when it is
armed), before moto performs it (nothing happened) or after (it happened, the client has not
heard). The test waits for ``arrived``, does what it came to do, and sets ``release`` (or
:meth:`Gate.clear` releases every hold).

The gate also keeps the secret access key of every CreateAccessKey answer that passes it,
so a leak scan covers keys that were created and deleted again, not only the ones left in
secrets. They are kept only to be compared with captured text: never print them.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from keyrotate_emulator._wsgi import (
    Environ,
    StartResponse,
    WsgiApp,
    call_and_capture,
    error_response,
    inspect_request,
    is_control_path,
)
from keyrotate_emulator.counter import account_of

_SECRET_IN_XML = re.compile(rb"<SecretAccessKey>([^<]+)</SecretAccessKey>")
_HOLD_TIMEOUT_S = 60.0  # a test that never releases must not hang the server thread forever


@dataclass
class Hold:
    """One armed hold: wait on ``arrived``, set ``release`` to let the call go on."""

    service: str
    operation: str
    nth: int
    after: bool  # True: moto performs the call first, the client never hears back in time
    account_id: str | None = None  # count only calls routed to this account
    seen: int = 0
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def matches(self, service: str, operation: str, account: str | None) -> bool:
        return (self.service, self.operation) == (service, operation) and (
            self.account_id in (None, account)
        )


class Gate:
    """WSGI middleware: hold one chosen call until released; record every issued secret key."""

    def __init__(self, app: WsgiApp) -> None:
        self._app = app
        self._lock = threading.Lock()
        self._holds: list[Hold] = []
        self.issued_secrets: list[str] = []  # never printed: only compared with captured text
        self.calls: list[tuple[str, str]] = []  # (service, operation) of every call, in order

    def hold(
        self,
        service: str,
        operation: str,
        nth: int = 1,
        *,
        after: bool = False,
        account_id: str | None = None,
    ) -> Hold:
        """Hold the ``nth`` such call from now on (of ``account_id`` only, if given)."""
        armed = Hold(service, operation, nth, after, account_id)
        with self._lock:
            self._holds.append(armed)
        return armed

    def clear(self) -> None:
        """Release and disarm every hold."""
        with self._lock:
            for armed in self._holds:
                armed.release.set()
            self._holds.clear()

    def forget(self) -> None:
        """Clear the holds and the call log (the issued secrets stay: the leak scan needs them)."""
        self.clear()
        with self._lock:
            self.calls.clear()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if is_control_path(environ):
            return self._app(environ, start_response)
        info = inspect_request(environ)
        with self._lock:
            needs_account = any(h.account_id for h in self._holds)
        account = account_of(environ, info.access_key_id) if needs_account else None
        chosen: Hold | None = None
        with self._lock:
            self.calls.append((info.service, info.operation))
            for armed in self._holds:
                if armed.matches(info.service, info.operation, account):
                    armed.seen += 1
                    if armed.seen == armed.nth and chosen is None:
                        chosen = armed
        records_secret = info.operation == "CreateAccessKey"
        if chosen is None and not records_secret:
            return self._app(environ, start_response)
        if chosen is not None and not chosen.after:
            chosen.arrived.set()
            chosen.release.wait(_HOLD_TIMEOUT_S)
            # The caller is dead by now; answer something so the server thread ends.
            return error_response(
                start_response,
                json_protocol=info.json,
                status=500,
                code="InternalFailure",
                message="keyrotate emulator: held call abandoned",
                sender=False,
            )
        captured = call_and_capture(self._app, environ)
        if records_secret:
            found = [m.decode() for m in _SECRET_IN_XML.findall(captured.body)]
            with self._lock:
                self.issued_secrets += found
        if chosen is not None:
            chosen.arrived.set()
            chosen.release.wait(_HOLD_TIMEOUT_S)
        start_response(captured.status, captured.headers)
        return [captured.body]

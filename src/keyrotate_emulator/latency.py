"""Per-call latency: every API call waits as long as a round trip to AWS would take.

moto answers on loopback in about a millisecond; AWS takes tens of milliseconds per call
(and IAM, a global service, more from far regions). Code that makes its calls one after
another looks fast against moto and is slow against AWS. With a latency set, each API call
(control endpoints excepted) sleeps that long in its own server thread before it is served,
so calls made in parallel wait in parallel, as they do against AWS.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from keyrotate_emulator._wsgi import Environ, StartResponse, WsgiApp, is_control_path


class LatencyMiddleware:
    """WSGI middleware: wait ``seconds`` before serving each API call (0: no wait)."""

    def __init__(
        self, app: WsgiApp, seconds: float = 0.0, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._app = app
        self._sleep = sleep
        self._lock = threading.Lock()
        self._seconds = _checked(seconds)

    @property
    def seconds(self) -> float:
        with self._lock:
            return self._seconds

    @seconds.setter
    def seconds(self, value: float) -> None:
        checked = _checked(value)
        with self._lock:
            self._seconds = checked

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        wait = self.seconds
        if wait > 0 and not is_control_path(environ):
            self._sleep(wait)
        return self._app(environ, start_response)


def _checked(seconds: float) -> float:
    if seconds < 0:
        raise ValueError(f"latency must be >= 0 seconds, got {seconds}")
    return float(seconds)

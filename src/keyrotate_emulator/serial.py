"""One call at a time into moto's IAM and Secrets Manager, as their backends need.

moto's backends are plain dicts that its request handlers read and write without a lock
(a CreateSecret iterates the account's secrets while another CreateSecret adds one:
"dictionary changed size during iteration", a 500). AWS takes any number of calls at once,
and keyrotate makes them (users of an account run at once: keyrotate.service.guarded), so the
emulator serialises the calls to the backends it writes concurrently. Only moto's own work
is serialised: the latency, the gate's holds and the faults act outside, in parallel. Other
services are left alone: a Step Functions execution calls Lambda handlers in-process that
call back into the emulator, and must not wait for a lock its own request holds.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from keyrotate_emulator._wsgi import (
    Environ,
    StartResponse,
    WsgiApp,
    call_and_capture,
    inspect_request,
    is_control_path,
)

SERIALISED = frozenset({"iam", "secretsmanager"})


class SerialBackends:
    """WSGI middleware in front of moto: calls to :data:`SERIALISED` services one at a time."""

    def __init__(self, app: WsgiApp) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if is_control_path(environ) or inspect_request(environ).service not in SERIALISED:
            return self._app(environ, start_response)
        with self._lock:  # the whole answer is made under it, body included
            response = call_and_capture(self._app, environ)
        start_response(response.status, response.headers)
        return [response.body]

"""The embedded AWS: moto's WSGI app over real HTTP, behind keyrotate's middlewares.

Request path: control endpoints -> latency -> call counter -> [gate] -> fault injector ->
strictness (AWS's refusals moto lacks, :mod:`keyrotate_emulator.strict`) -> IAM paging ->
moto (its IAM and Secrets Manager one call at a time: :mod:`keyrotate_emulator.serial`).
The gate (:mod:`keyrotate_emulator.gate`: hold a chosen call, record issued secret keys) is an
option; the latency (:mod:`keyrotate_emulator.latency`: each call waits as a round trip to AWS
would) is 0 unless set, for benchmarks. Clients (botocore, in this or any other process) see
a real HTTP endpoint, so serializers, parsers, retries and paginators all run as they would
against AWS.

Control endpoints (served by the emulator, never counted or faulted):

- ``GET /_keyrotate/calls`` -> ``{"calls": [[account, service, operation, count], ...]}``
- ``POST /_keyrotate/calls/reset``
- ``POST /_keyrotate/faults`` (a :class:`Fault` as JSON), ``DELETE /_keyrotate/faults``,
  ``GET /_keyrotate/faults`` -> ``{"fired": [...]}``
- ``POST /_keyrotate/reset``: :meth:`EmulatorServer.restore_defaults` (forget calls, faults
  and holds; strictness and page size as the server was made). moto's state:
  ``POST /moto-api/reset``
- ``GET /_keyrotate/strict`` -> the :class:`Strictness` in force; ``POST /_keyrotate/strict``
  with a JSON object of settings to change (the answer is the new one)
- ``POST /_keyrotate/credential-report/expire`` (optional ``{"account_id": ...}``): cached
  credential reports become four hours old, so the next GenerateCredentialReport makes a new
  one -> ``{"expired": n}``
- ``POST /_keyrotate/credential-report/age`` with ``{"seconds": s}`` (and optionally
  ``"account_id"``): cached reports were generated ``s`` seconds earlier -> ``{"aged": n}``
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import asdict
from types import TracebackType
from typing import Any, TypeVar

from keyrotate_emulator._wsgi import (
    Environ,
    StartResponse,
    WsgiApp,
    json_response,
    read_body,
)
from keyrotate_emulator.counter import CallCounter, CallCounts
from keyrotate_emulator.faults import Fault, FaultInjector, FiredFault
from keyrotate_emulator.gate import Gate
from keyrotate_emulator.latency import LatencyMiddleware
from keyrotate_emulator.paging import IamPagingMiddleware
from keyrotate_emulator.serial import SerialBackends
from keyrotate_emulator.strict import StrictMiddleware, Strictness

_LOOPBACK = "127.0.0.1"
_T = TypeVar("_T")


def quiet_werkzeug() -> None:
    """werkzeug logs every request at INFO: silence it, a run makes thousands."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)


def post(url: str, payload: object | None = None, method: str = "POST") -> Any:
    """A tiny HTTP client for the control endpoints (stdlib only, loopback only)."""
    data = None if payload is None else json.dumps(payload).encode("utf-8")
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (loopback)
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 (loopback)
        body = response.read()
    return json.loads(body) if body.strip().startswith((b"{", b"[")) else None


def update_strictness(url: str, **changes: bool | float) -> Strictness:
    """Change a running emulator's strictness over HTTP (any process); return the new one."""
    return Strictness(**post(f"{url}/_keyrotate/strict", changes))


def expire_credential_reports(url: str, account_id: str | None = None) -> int:
    """Expire cached credential reports over HTTP (any process); how many there were."""
    payload = {} if account_id is None else {"account_id": account_id}
    return int(post(f"{url}/_keyrotate/credential-report/expire", payload)["expired"])


class _ControlEndpoints:
    """Serve ``/_keyrotate/*`` so other processes can read counts and arm faults."""

    def __init__(
        self,
        app: WsgiApp,
        counter: CallCounter,
        injector: FaultInjector,
        strict: StrictMiddleware,
        restore_defaults: Callable[[], None],
    ) -> None:
        self._app = app
        self._counter = counter
        self._injector = injector
        self._strict = strict
        self._restore_defaults = restore_defaults

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO", ""))
        if not path.startswith("/_keyrotate/"):
            return self._app(environ, start_response)
        strict_answer = self._strict.control(environ, start_response)
        if strict_answer is not None:
            return strict_answer
        method = str(environ.get("REQUEST_METHOD", "GET"))
        route = (method, path.rstrip("/"))
        if route == ("GET", "/_keyrotate/calls"):
            return json_response(start_response, {"calls": self._counter.snapshot().to_rows()})
        if route == ("POST", "/_keyrotate/calls/reset"):
            self._counter.reset()
            return json_response(start_response, {})
        if route == ("POST", "/_keyrotate/faults"):
            try:
                fault = Fault.from_json(json.loads(read_body(environ)))
            except (ValueError, KeyError, TypeError) as exc:
                return json_response(start_response, {"error": str(exc)}, status=400)
            self._injector.inject(fault)
            return json_response(start_response, {})
        if route == ("DELETE", "/_keyrotate/faults"):
            self._injector.clear()
            return json_response(start_response, {})
        if route == ("GET", "/_keyrotate/faults"):
            fired = [asdict(f) for f in self._injector.fired()]
            return json_response(start_response, {"fired": fired})
        if route == ("POST", "/_keyrotate/reset"):
            self._restore_defaults()
            return json_response(start_response, {})
        return json_response(start_response, {"error": f"no route {method} {path}"}, status=404)


class EmulatorServer:
    """moto over HTTP on 127.0.0.1 with paging, call counting and fault injection.

    Use as a context manager, or ``start()`` / ``stop()``. moto's state is global to the
    process (EMULATOR.md): two servers in one process share it.

    ``strictness`` says which of AWS's refusals moto lacks the emulator plays (default: all
    of them, as AWS does; :meth:`Strictness.off` for moto as it is). ``gate=True`` adds a
    :class:`~keyrotate_emulator.gate.Gate` (:attr:`gate`) in front of the fault injector.
    ``latency_seconds``: how long each API call waits before it is served (default 0).
    ``iam_page_size``, ``strictness`` and ``latency_seconds`` are also the defaults that
    :meth:`restore_defaults` puts back after a test changed them.

    >>> with EmulatorServer(iam_page_size=100) as server:  # doctest: +SKIP
    ...     boto3.client("iam", endpoint_url=server.url).list_users()
    """

    def __init__(
        self,
        host: str = _LOOPBACK,
        port: int = 0,
        *,
        iam_page_size: int | None = None,
        strictness: Strictness | None = None,
        gate: bool = False,
        latency_seconds: float = 0.0,
    ) -> None:
        self._host = host
        self._port = port
        if iam_page_size is not None and iam_page_size < 1:
            raise ValueError(f"iam_page_size must be at least 1 or None, got {iam_page_size}")
        self._default_page_size = iam_page_size
        self._default_strictness = strictness if strictness is not None else Strictness()
        self._initial_page_size = self._default_page_size
        self._initial_strictness = self._default_strictness
        self._with_gate = gate
        if latency_seconds < 0:
            raise ValueError(f"latency_seconds must be >= 0, got {latency_seconds}")
        self._default_latency = self._initial_latency = float(latency_seconds)
        self._latency: LatencyMiddleware | None = None
        self._gate: Gate | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._url: str | None = None
        self._paging: IamPagingMiddleware | None = None
        self._counter: CallCounter | None = None
        self._injector: FaultInjector | None = None
        self._strict: StrictMiddleware | None = None

    # lifecycle -----------------------------------------------------------------------------
    def start(self) -> str:
        """Start serving in a daemon thread; return the endpoint URL."""
        if self._server is not None:
            return self.url
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        quiet_werkzeug()
        moto_app: WsgiApp = SerialBackends(DomainDispatcherApplication(create_backend_app))
        self._paging = IamPagingMiddleware(moto_app, self._initial_page_size)
        self._strict = StrictMiddleware(self._paging, self._initial_strictness)
        self._injector = FaultInjector(self._strict)
        self._gate = Gate(self._injector) if self._with_gate else None
        self._counter = CallCounter(self._gate or self._injector)
        self._latency = LatencyMiddleware(self._counter, self._initial_latency)
        app = _ControlEndpoints(
            self._latency, self._counter, self._injector, self._strict, self.restore_defaults
        )
        self._server = make_server(
            self._host, self._port, app, threaded=True, request_handler=MotoRequestHandler
        )
        host, port = self._server.server_address[:2]
        self._url = f"http://{host}:{port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="keyrotate-emulator", daemon=True
        )
        self._thread.start()
        return self._url

    def stop(self) -> None:
        if self._server is None:
            return
        if self._gate is not None:
            self._gate.clear()  # a held call would keep its server thread waiting
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> EmulatorServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._url is None or self._server is None:
            raise RuntimeError("EmulatorServer is not running: call start() first")
        return self._url

    def reset(self) -> None:
        """Back to as started: moto's state emptied (every account, every service), then
        :meth:`restore_defaults`.

        The emulator's own memory of issued keys and credential reports goes with moto's
        state (the reset passes through the strictness middleware).
        """
        post(f"{self.url}/moto-api/reset")
        self.restore_defaults()

    def restore_defaults(self) -> None:
        """Undo what a test set, keeping moto's state: strictness and page size as the server
        was made, no faults armed, no holds, no calls counted or logged.

        The gate's issued secrets stay: a leak scan looks for every key ever handed out.
        """
        self.strictness = self._default_strictness
        self.iam_page_size = self._default_page_size
        self.latency_seconds = self._default_latency
        self.clear_faults()
        self.reset_calls()
        if self._gate is not None:
            self._gate.forget()

    # paging --------------------------------------------------------------------------------
    @property
    def iam_page_size(self) -> int | None:
        return self._paging.page_size if self._paging else self._initial_page_size

    @iam_page_size.setter
    def iam_page_size(self, value: int | None) -> None:
        self._initial_page_size = value
        if self._paging is not None:
            self._paging.page_size = value

    # latency -------------------------------------------------------------------------------
    @property
    def latency_seconds(self) -> float:
        """How long each API call waits before it is served (a round trip to AWS)."""
        return self._latency.seconds if self._latency else self._initial_latency

    @latency_seconds.setter
    def latency_seconds(self, value: float) -> None:
        self._initial_latency = value
        if self._latency is not None:
            self._latency.seconds = value

    # strictness ----------------------------------------------------------------------------
    @property
    def strictness(self) -> Strictness:
        return self._strict.strictness if self._strict else self._initial_strictness

    @strictness.setter
    def strictness(self, value: Strictness) -> None:
        self._initial_strictness = value
        if self._strict is not None:
            self._strict.strictness = value

    def expire_credential_reports(self, account_id: str | None = None) -> int:
        """Make cached credential reports four hours old (all accounts, or one)."""
        return self._require(self._strict).reports.expire(account_id)

    # counting ------------------------------------------------------------------------------
    def calls(self) -> CallCounts:
        return self._require(self._counter).snapshot()

    def reset_calls(self) -> None:
        self._require(self._counter).reset()

    # the gate ------------------------------------------------------------------------------
    @property
    def gate(self) -> Gate:
        """The gate (``EmulatorServer(gate=True)``): hold calls, read issued secret keys."""
        if not self._with_gate:
            raise RuntimeError("this EmulatorServer has no gate: make it with gate=True")
        return self._require(self._gate)

    # faults --------------------------------------------------------------------------------
    def inject(self, fault: Fault) -> None:
        self._require(self._injector).inject(fault)

    def clear_faults(self) -> None:
        self._require(self._injector).clear()

    def fired(self) -> list[FiredFault]:
        return self._require(self._injector).fired()

    def injected(self) -> int:
        """How many calls the armed faults have failed so far."""
        return len(self.fired())

    @staticmethod
    def _require(part: _T | None) -> _T:
        if part is None:
            raise RuntimeError("EmulatorServer is not running: call start() first")
        return part

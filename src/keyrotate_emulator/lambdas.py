"""Run Lambda functions in-process: moto's ``Invoke`` calls the function's Python handler.

moto runs a Lambda function's code only in Docker. The emulator runs it in this process
instead, for the functions whose ``Handler`` setting names a module under one of the
prefixes given to :class:`LambdaRoutes` (``keyrotate.``): the module is imported and the
handler called with the invocation's event and a :class:`LambdaContext` built from the
function's configuration, the way the Python runtime does. So a state machine executed by
moto (:mod:`keyrotate_emulator.stepfunctions`) reaches the real handlers through the real
``lambda:Invoke`` API, and a wrong function ARN or ``Handler`` fails as it would in AWS.

What the runtime would do and this does too:

- the answer is the handler's return value as JSON; a handler that raises answers with
  ``X-Amz-Function-Error: Unhandled`` and ``{"errorType", "errorMessage", "requestId",
  "stackTrace"}`` (Step Functions then names the error after ``errorType``);
- ``context.get_remaining_time_in_millis()`` counts down from the function's ``Timeout``.

What it does not (docs/emulator.md lists them): the handler runs with this process's
environment and credentials, not the function's (:meth:`LambdaRoutes.install` refuses a
function whose configured environment differs from the process's, since one process cannot
give two functions two environments), reserved concurrency and the memory size are not
enforced, and a handler is never stopped at its timeout.

Tests can also fail invocations the way the Lambda *service* fails them (:class:`InvokeFault`:
``ServiceException`` 500, ``TooManyRequestsException`` 429, seen by Step Functions as
``Lambda.ServiceException`` / ``Lambda.TooManyRequestsException``), play a function that dies
(``Sandbox.Timedout``, the runtime's error for a function past its timeout), give chosen
invocations less remaining time, and read every invocation back (:meth:`invocations`).

Everything lives in the process that serves moto (the tests' :class:`EmulatorServer`).
"""

from __future__ import annotations

import importlib
import json
import os
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

InvokeError = Literal["ServiceException", "TooManyRequestsException", "Sandbox.Timedout"]
_SERVICE_STATUS = {"ServiceException": 500, "TooManyRequestsException": 429}
Outcome = Literal["ok", "function_error", "service_error"]
#: Given the function's name and the event, how many milliseconds the invocation has left at
#: its start (None: the function's Timeout).
RemainingTime = Callable[[str, dict[str, Any]], int | None]


@dataclass(frozen=True)
class LambdaContext:
    """What the Python runtime passes as ``context`` (the attributes Powertools reads)."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline: float = field(repr=False)  # time.monotonic() at which the function times out

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


@dataclass(frozen=True)
class InvokeFault:
    """Fail the ``nth`` .. ``nth + times - 1`` matching invocations of ``function_name``.

    ``event_contains``: only invocations whose event, as JSON, contains that text (an
    account id). ``ServiceException`` and ``TooManyRequestsException`` are the Lambda
    service refusing the call (the handler never runs); ``Sandbox.Timedout`` is the function
    dying past its timeout (the handler never runs either: the run is cut, not finished).
    """

    function_name: str
    error: InvokeError = "ServiceException"
    nth: int = 1
    times: int = 1
    event_contains: str | None = None


@dataclass(frozen=True)
class Invocation:
    """One ``Invoke`` of a routed function, as it ended."""

    function_name: str
    event: dict[str, Any]
    outcome: Outcome
    error: str | None
    remaining_ms_at_start: int


@dataclass
class _Armed:
    fault: InvokeFault
    matched: int = 0


class LambdaRoutes:
    """Route ``Invoke`` of functions whose ``Handler`` is under ``prefixes`` to Python.

    Use as a context manager (:meth:`install`); one at a time per process.
    """

    _active: LambdaRoutes | None = None
    _install_lock = threading.Lock()

    def __init__(self, prefixes: Sequence[str] = ("keyrotate.",)) -> None:
        self._prefixes = tuple(prefixes)
        self._lock = threading.Lock()
        self._faults: list[_Armed] = []
        self._invocations: list[Invocation] = []
        self._remaining: RemainingTime | None = None

    # what tests set -----------------------------------------------------------------------
    def inject(self, fault: InvokeFault) -> None:
        with self._lock:
            self._faults.append(_Armed(fault))

    def set_remaining_time(self, remaining: RemainingTime | None) -> None:
        """Start chosen invocations with less time left than the function's Timeout."""
        self._remaining = remaining

    def invocations(self, function_name: str | None = None) -> list[Invocation]:
        with self._lock:
            return [
                i
                for i in self._invocations
                if function_name is None or i.function_name == function_name
            ]

    # installation -------------------------------------------------------------------------
    @contextmanager
    def install(self) -> Iterator[LambdaRoutes]:
        """Patch moto's ``LambdaBackend.invoke`` for as long as the block runs."""
        from moto.awslambda.models import LambdaBackend

        with LambdaRoutes._install_lock:
            if LambdaRoutes._active is not None:
                raise RuntimeError("LambdaRoutes are already installed in this process")
            LambdaRoutes._active = self
        original = LambdaBackend.invoke
        routes = self

        def invoke(
            backend: Any,
            function_name: str,
            qualifier: str | None,
            body: Any,
            headers: Any,
            response_headers: Any,
        ) -> str | bytes | None:
            fn = backend.get_function(function_name, qualifier)  # unknown: AWS's 404
            if not routes._routed(fn):
                return original(backend, function_name, qualifier, body, headers, response_headers)
            payload = routes._invoke(fn, body, response_headers)
            response_headers["Content-Length"] = str(len(payload))
            return payload

        LambdaBackend.invoke = invoke  # type: ignore[method-assign,assignment]
        try:
            yield self
        finally:
            LambdaBackend.invoke = original  # type: ignore[method-assign]
            with LambdaRoutes._install_lock:
                LambdaRoutes._active = None

    # one invocation -----------------------------------------------------------------------
    def _routed(self, fn: Any) -> bool:
        handler = str(getattr(fn, "handler", "") or "")
        return handler.startswith(self._prefixes)

    def _fault_for(self, name: str, event_text: str) -> InvokeError | None:
        with self._lock:
            for armed in self._faults:
                fault = armed.fault
                if fault.function_name != name:
                    continue
                if fault.event_contains is not None and fault.event_contains not in event_text:
                    continue
                armed.matched += 1
                if fault.nth <= armed.matched < fault.nth + fault.times:
                    return fault.error
        return None

    def _record(self, invocation: Invocation) -> None:
        with self._lock:
            self._invocations.append(invocation)

    def _invoke(self, fn: Any, body: Any, response_headers: dict[str, str]) -> bytes:
        from moto.awslambda.exceptions import LambdaClientError

        name = str(fn.function_name)
        text = body.decode("utf-8") if isinstance(body, bytes) else str(body or "{}")
        event = json.loads(text or "{}")
        timeout_ms = int(fn.timeout) * 1000
        chosen = self._remaining(name, event) if self._remaining is not None else None
        remaining_ms = timeout_ms if chosen is None else min(chosen, timeout_ms)
        request_id = str(uuid.uuid4())
        fault = self._fault_for(name, text)
        if fault in _SERVICE_STATUS:
            self._record(Invocation(name, event, "service_error", fault, remaining_ms))
            error = LambdaClientError(str(fault), f"emulated Lambda {fault}")
            error.code = _SERVICE_STATUS[str(fault)]
            raise error
        if fault == "Sandbox.Timedout":
            self._record(Invocation(name, event, "function_error", fault, remaining_ms))
            response_headers["x-amz-function-error"] = "Unhandled"
            message = f"{request_id} Task timed out after {int(fn.timeout)}.00 seconds"
            return _json({"errorType": "Sandbox.Timedout", "errorMessage": message})
        _check_environment(name, fn.environment_vars or {})
        context = LambdaContext(
            function_name=name,
            function_version="$LATEST",
            invoked_function_arn=str(fn.function_arn),
            memory_limit_in_mb=int(fn.memory_size),
            aws_request_id=request_id,
            log_group_name=f"/aws/lambda/{name}",
            log_stream_name=f"emulated/{request_id}",
            deadline=time.monotonic() + remaining_ms / 1000,
        )
        try:
            result = _resolve(str(fn.handler))(event, context)
        except Exception as exc:  # the runtime answers any exception this way
            self._record(
                Invocation(name, event, "function_error", type(exc).__name__, remaining_ms)
            )
            response_headers["x-amz-function-error"] = "Unhandled"
            return _json(
                {
                    "errorType": type(exc).__name__,
                    "errorMessage": str(exc),
                    "requestId": request_id,
                    "stackTrace": traceback.format_tb(exc.__traceback__),
                }
            )
        self._record(Invocation(name, event, "ok", None, remaining_ms))
        return _json(result)


def _json(value: object) -> bytes:
    return json.dumps(value).encode("utf-8")


def _resolve(handler: str) -> Callable[[dict[str, Any], LambdaContext], Any]:
    """``package.module.function`` as the Python runtime resolves a ``Handler`` setting."""
    module_name, _, attribute = handler.rpartition(".")
    function: Callable[[dict[str, Any], LambdaContext], Any] = getattr(
        importlib.import_module(module_name), attribute
    )
    return function


def _check_environment(name: str, configured: dict[str, str]) -> None:
    """The handler sees this process's environment: it must be the function's."""
    from moto.awslambda.exceptions import LambdaClientError

    differing = sorted(k for k, v in configured.items() if os.environ.get(k) != v)
    if differing:
        raise LambdaClientError(
            "EmulatorEnvironmentMismatch",
            f"function {name}: the process environment differs from the function's "
            f"Environment for {differing}; set them before invoking (one process cannot "
            "give two functions two environments)",
        )

"""The emulator in its own process, for benchmarks: moto's GIL then is not the tool's.

The child (``spawn``: a clean interpreter) serves an :class:`EmulatorServer`; the parent talks
to it over HTTP like any client, reads call counts from ``GET /_keyrotate/calls`` and arms
faults through ``POST /_keyrotate/faults``. Anything that needs moto's backend objects (aging
keys, bulk seeding) runs *in the child*, named by an importable ``"module:function"``.
"""

from __future__ import annotations

import importlib
import multiprocessing
import threading
import traceback
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any

from keyrotate_emulator.counter import CallCounts
from keyrotate_emulator.faults import Fault, FiredFault
from keyrotate_emulator.server import EmulatorServer, post
from keyrotate_emulator.strict import Strictness

_STARTUP_TIMEOUT_S = 60.0


class EmulatorProcessError(RuntimeError):
    """The child failed to start, or a function run in it raised (its traceback included)."""


def resolve(function_name: str) -> Callable[..., Any]:
    """``"package.module:function"`` -> the function."""
    module_name, sep, attribute = function_name.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"expected 'package.module:function', got {function_name!r}")
    function: Callable[..., Any] = getattr(importlib.import_module(module_name), attribute)
    return function


def _child_main(
    connection: Connection,
    iam_page_size: int | None,
    strictness: Strictness | None,
    latency_seconds: float = 0.0,
) -> None:
    """Serve until told to stop; run named functions on request (in this process)."""
    server = EmulatorServer(
        iam_page_size=iam_page_size, strictness=strictness, latency_seconds=latency_seconds
    )
    try:
        url = server.start()
    except Exception:  # report any start failure to the parent, then give up
        connection.send(("error", traceback.format_exc()))
        return
    connection.send(("ready", url))
    try:
        while True:
            try:
                message = connection.recv()
            except EOFError:  # the parent died: nobody will ever ask us to stop
                return
            if message[0] == "stop":
                return
            _, function_name, args, kwargs = message
            try:
                connection.send(("ok", resolve(function_name)(*args, **kwargs)))
            except Exception:  # the parent re-raises it with this traceback
                connection.send(("error", traceback.format_exc()))
    finally:
        server.stop()


class EmulatorProcess:
    """An :class:`EmulatorServer` in a child process, with the same reading surface.

    ``seed`` (``"module:function"``) is called in the child as ``seed(url, **seed_kwargs)``
    once the server is up; its (picklable) return value is ``seed_result``. ``strictness``
    as for :class:`EmulatorServer` (default: AWS's behaviour), and ``latency_seconds`` (each
    API call's wait, default 0).
    """

    def __init__(
        self,
        *,
        iam_page_size: int | None = None,
        seed: str | None = None,
        seed_kwargs: Mapping[str, Any] | None = None,
        strictness: Strictness | None = None,
        latency_seconds: float = 0.0,
    ) -> None:
        self._iam_page_size = iam_page_size
        self._strictness = strictness
        self._latency_seconds = latency_seconds
        self._seed = seed
        self._seed_kwargs = dict(seed_kwargs or {})
        self._process: Any = None
        self._connection: Connection | None = None
        self._lock = threading.Lock()
        self._url: str | None = None
        self.seed_result: Any = None

    def start(self) -> str:
        if self._process is not None:
            return self.url
        context = multiprocessing.get_context("spawn")
        parent_end, child_end = context.Pipe()
        process = context.Process(
            target=_child_main,
            args=(child_end, self._iam_page_size, self._strictness, self._latency_seconds),
            name="keyrotate-emulator",
            daemon=True,
        )
        process.start()
        child_end.close()
        self._process, self._connection = process, parent_end
        if not parent_end.poll(_STARTUP_TIMEOUT_S):
            self.stop()
            raise EmulatorProcessError("the emulator process did not start within 60 s")
        try:
            status, payload = parent_end.recv()
        except EOFError:  # the child died before saying anything (its stderr says why)
            status, payload = "error", "the emulator process exited during start-up"
        if status != "ready":
            self.stop()
            raise EmulatorProcessError(f"the emulator process failed to start:\n{payload}")
        self._url = str(payload)
        if self._seed is not None:
            self.seed_result = self.call(self._seed, self._url, **self._seed_kwargs)
        return self._url

    def call(self, function_name: str, *args: Any, **kwargs: Any) -> Any:
        """Run ``module:function(*args, **kwargs)`` in the child; return its result."""
        connection = self._require_connection()
        with self._lock:
            connection.send(("call", function_name, args, kwargs))
            status, payload = connection.recv()
        if status != "ok":
            raise EmulatorProcessError(
                f"{function_name} failed in the emulator process:\n{payload}"
            )
        return payload

    def stop(self) -> None:
        process, connection = self._process, self._connection
        self._process = self._connection = None
        self._url = None
        if connection is not None:
            try:
                with self._lock:
                    connection.send(("stop",))
            except (BrokenPipeError, OSError):
                pass  # already gone
            connection.close()
        if process is not None:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)

    def __enter__(self) -> EmulatorProcess:
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
        if self._url is None:
            raise RuntimeError("EmulatorProcess is not running: call start() first")
        return self._url

    @property
    def pid(self) -> int | None:
        return None if self._process is None else int(self._process.pid)

    def reset(self) -> None:
        """Back to as started, as :meth:`EmulatorServer.reset`: moto emptied, settings restored."""
        post(f"{self.url}/moto-api/reset")
        post(f"{self.url}/_keyrotate/reset")

    def calls(self) -> CallCounts:
        return fetch_calls(self.url)

    def reset_calls(self) -> None:
        post(f"{self.url}/_keyrotate/calls/reset")

    def inject(self, fault: Fault) -> None:
        post(f"{self.url}/_keyrotate/faults", fault.to_json())

    def clear_faults(self) -> None:
        post(f"{self.url}/_keyrotate/faults", method="DELETE")

    def fired(self) -> list[FiredFault]:
        data = post(f"{self.url}/_keyrotate/faults", method="GET")
        return [FiredFault(**entry) for entry in data["fired"]]

    def injected(self) -> int:
        return len(self.fired())

    def _require_connection(self) -> Connection:
        if self._connection is None:
            raise RuntimeError("EmulatorProcess is not running: call start() first")
        return self._connection


def fetch_calls(url: str) -> CallCounts:
    """Call counts from any emulator over HTTP (``GET /_keyrotate/calls``)."""
    data = post(f"{url}/_keyrotate/calls", method="GET")
    return CallCounts.from_rows(data["calls"])


__all__ = ["EmulatorProcess", "EmulatorProcessError", "fetch_calls", "resolve"]

"""Make moto as strict as AWS where keyrotate depends on it (docs/emulator.md).

moto is kinder than AWS in ways that would let a wrong product pass its tests. This WSGI
middleware closes those gaps, each switchable through :class:`Strictness`:

- ``kms_ownership``: Secrets Manager refuses a KmsKeyId the caller cannot use
  (:mod:`keyrotate.emulator.kms_ownership`).

The switches can be changed while the server runs (``POST /_keyrotate/strict``), so one test
can loosen or tighten one behaviour without a new server.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from keyrotate.emulator._wsgi import (
    Environ,
    RequestInfo,
    StartResponse,
    WsgiApp,
    error_response,
    inspect_request,
    is_control_path,
    json_response,
    read_body,
    signing_region,
)
from keyrotate.emulator.kms_ownership import Refusal, check_key_use, key_uses

STRICT_PATH = "/_keyrotate/strict"


@dataclass(frozen=True, slots=True)
class Strictness:
    """Which of AWS's refusals the emulator plays. The defaults are AWS's behaviour."""

    kms_ownership: bool = True

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def updated(self, changes: dict[str, Any]) -> Strictness:
        """A copy with ``changes`` (a JSON object of field names) applied, checked."""
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown strictness settings: {sorted(unknown)}")
        typed: dict[str, Any] = {}
        for name, value in changes.items():
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be true or false, got {value!r}")
            typed[name] = value
        return replace(self, **typed)

    @classmethod
    def off(cls) -> Strictness:
        """moto as it is: every check off."""
        return cls(kms_ownership=False)


class StrictMiddleware:
    """WSGI middleware: refuse what AWS would refuse before moto accepts it."""

    def __init__(self, app: WsgiApp, strictness: Strictness | None = None) -> None:
        self._app = app
        self._lock = threading.Lock()
        self._strictness = strictness if strictness is not None else Strictness()

    @property
    def strictness(self) -> Strictness:
        with self._lock:
            return self._strictness

    @strictness.setter
    def strictness(self, value: Strictness) -> None:
        with self._lock:
            self._strictness = value

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if is_control_path(environ):
            return self._app(environ, start_response)
        info = inspect_request(environ)
        refusal = self._refusal(environ, info, self.strictness)
        if refusal is not None:
            return error_response(
                start_response,
                json_protocol=info.json,
                status=refusal.status,
                code=refusal.code,
                message=refusal.message,
            )
        return self._app(environ, start_response)

    def _refusal(self, environ: Environ, info: RequestInfo, strict: Strictness) -> Refusal | None:
        if strict.kms_ownership and info.service == "secretsmanager":
            return _kms_refusal(environ, info)
        return None

    def control(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes] | None:
        """Serve ``GET``/``POST /_keyrotate/strict``; None for any other path."""
        path = str(environ.get("PATH_INFO", "")).rstrip("/")
        if path != STRICT_PATH:
            return None
        if environ.get("REQUEST_METHOD") == "POST":
            try:
                changes = json.loads(read_body(environ) or b"{}")
                if not isinstance(changes, dict):
                    raise ValueError("expected a JSON object")
                with self._lock:
                    self._strictness = self._strictness.updated(changes)
            except ValueError as exc:
                return json_response(start_response, {"error": str(exc)}, status=400)
        return json_response(start_response, self.strictness.to_json())


def _kms_refusal(environ: Environ, info: RequestInfo) -> Refusal | None:
    uses = list(key_uses(info.operation, read_body(environ), signing_region(environ)))
    if not uses:
        return None
    from keyrotate.emulator.counter import account_of

    caller = account_of(environ, info.access_key_id)
    for use in uses:
        refusal = check_key_use(use, caller)
        if refusal is not None:
            return refusal
    return None

"""Make moto as strict as AWS where keyrotate depends on it (docs/emulator.md).

moto is kinder than AWS in ways that would let a wrong product pass its tests. This WSGI
middleware closes those gaps, each switchable through :class:`Strictness`:

- ``kms_ownership``: Secrets Manager refuses a KmsKeyId the caller cannot use
  (:mod:`keyrotate_emulator.kms_ownership`);
- ``key_propagation_seconds``: a new access key is refused for that long after its
  CreateAccessKey (:mod:`keyrotate_emulator.propagation`);
- ``key_status``: an inactive or deleted user key authenticates nothing
  (:mod:`keyrotate_emulator.key_status`);
- ``credential_report_cache``: the credential report is generated once and reused for four
  hours, dated when it really was generated (:mod:`keyrotate_emulator.report_cache`);
- ``securityhub_finding_account``: Security Hub imports a finding only from the account it
  names, under that account's own product (:mod:`keyrotate_emulator.securityhub_rules`).

Any signed call marks its key as used in moto already (STS included), as in AWS; refused
calls never reach moto, so they do not, as in AWS.

The switches can be changed while the server runs (``POST /_keyrotate/strict``), so one test
can loosen or tighten one behaviour without a new server. moto's reset (``POST
/moto-api/reset``) passes through here and empties the emulator's own memory as well.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields, replace
from datetime import timedelta
from typing import Any

from keyrotate_emulator._wsgi import (
    CapturedResponse,
    Environ,
    Refusal,
    RequestInfo,
    StartResponse,
    WsgiApp,
    call_and_capture,
    error_response,
    inspect_request,
    is_control_path,
    json_response,
    read_body,
    signing_region,
)
from keyrotate_emulator.key_status import KeyStatusCheck
from keyrotate_emulator.kms_ownership import check_key_use, key_uses
from keyrotate_emulator.propagation import KeyPropagation, invalid_token
from keyrotate_emulator.report_cache import CredentialReportCache
from keyrotate_emulator.securityhub_rules import IMPORT_OPERATION, import_refusal

STRICT_PATH = "/_keyrotate/strict"
REPORT_EXPIRE_PATH = "/_keyrotate/credential-report/expire"
REPORT_AGE_PATH = "/_keyrotate/credential-report/age"
MOTO_RESET_PATH = "/moto-api/reset"
# AWS takes "a few seconds" to accept a new key everywhere; the demo shows it.
DEFAULT_KEY_PROPAGATION_SECONDS = 3.0


@dataclass(frozen=True, slots=True)
class Strictness:
    """Which of AWS's refusals the emulator plays. The defaults are AWS's behaviour."""

    kms_ownership: bool = True
    key_propagation_seconds: float = DEFAULT_KEY_PROPAGATION_SECONDS
    key_status: bool = True
    credential_report_cache: bool = True
    securityhub_finding_account: bool = True

    def __post_init__(self) -> None:
        if self.key_propagation_seconds < 0:
            raise ValueError(
                f"key_propagation_seconds must be >= 0, got {self.key_propagation_seconds}"
            )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def updated(self, changes: dict[str, Any]) -> Strictness:
        """A copy with ``changes`` (a JSON object of field names) applied, checked."""
        kinds = {f.name: type(getattr(self, f.name)) for f in fields(self)}
        unknown = set(changes) - set(kinds)
        if unknown:
            raise ValueError(f"unknown strictness settings: {sorted(unknown)}")
        typed: dict[str, Any] = {}
        for name, value in changes.items():
            if kinds[name] is bool:
                if not isinstance(value, bool):
                    raise ValueError(f"{name} must be true or false, got {value!r}")
                typed[name] = value
            else:
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ValueError(f"{name} must be a number, got {value!r}")
                typed[name] = float(value)
        return replace(self, **typed)

    @classmethod
    def off(cls) -> Strictness:
        """moto as it is: every check off."""
        return cls(
            kms_ownership=False,
            key_propagation_seconds=0.0,
            key_status=False,
            credential_report_cache=False,
            securityhub_finding_account=False,
        )


class StrictMiddleware:
    """WSGI middleware: refuse what AWS would refuse before moto accepts it."""

    def __init__(self, app: WsgiApp, strictness: Strictness | None = None) -> None:
        self._app = app
        self._lock = threading.Lock()
        self._strictness = strictness if strictness is not None else Strictness()
        self.propagation = KeyPropagation()
        self.key_status = KeyStatusCheck()
        self.reports = CredentialReportCache()

    @property
    def strictness(self) -> Strictness:
        with self._lock:
            return self._strictness

    @strictness.setter
    def strictness(self, value: Strictness) -> None:
        with self._lock:
            self._strictness = value

    def forget(self) -> None:
        """Forget issued keys and cached reports (moto's state was reset)."""
        self.propagation.forget()
        self.key_status.forget()
        self.reports.forget()

    # the request path ------------------------------------------------------------------------
    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if is_control_path(environ):
            path = str(environ.get("PATH_INFO", "")).rstrip("/")
            if path == MOTO_RESET_PATH and environ.get("REQUEST_METHOD") == "POST":
                self.forget()
            return self._app(environ, start_response)
        info = inspect_request(environ)
        strict = self.strictness
        refusal = self._refusal(environ, info, strict)
        if refusal is not None:
            return _refuse(start_response, info, refusal)
        if info.service == "iam" and info.operation == "CreateAccessKey":
            return self._create_access_key(environ, start_response, info)
        if strict.credential_report_cache and info.service == "iam":
            if info.operation == "GenerateCredentialReport":
                return self._generate_report(environ, start_response, info)
            if info.operation == "GetCredentialReport":
                return self._get_report(environ, start_response, info)
        return self._app(environ, start_response)

    def _refusal(self, environ: Environ, info: RequestInfo, strict: Strictness) -> Refusal | None:
        key = info.access_key_id
        if strict.key_status and not self.key_status.usable(key):
            return invalid_token(info.service, info.json)
        young = self.propagation.refusal(
            key, strict.key_propagation_seconds, info.service, info.json
        )
        if young is not None:
            return young
        if strict.kms_ownership and info.service == "secretsmanager":
            return _kms_refusal(environ, info)
        if (
            strict.securityhub_finding_account
            and info.service == "securityhub"
            and info.operation == IMPORT_OPERATION
        ):
            return import_refusal(read_body(environ), _account(environ, info))
        return None

    def _create_access_key(
        self, environ: Environ, start_response: StartResponse, info: RequestInfo
    ) -> Iterable[bytes]:
        """Let moto issue the key, and note when (always: strictness may be raised later)."""
        response = call_and_capture(self._app, environ)
        if response.status.startswith("200"):
            account = _account(environ, info)
            issued = self.propagation.issued(account, response.body)
            if issued is not None:
                self.key_status.saw(account, issued)
        return _forward(start_response, response, response.body)

    def _generate_report(
        self, environ: Environ, start_response: StartResponse, info: RequestInfo
    ) -> Iterable[bytes]:
        account = _account(environ, info)
        was_fresh = self.reports.fresh(account)
        response = call_and_capture(self._app, environ)
        body = self.reports.generated(account, response, was_fresh=was_fresh)
        return _forward(start_response, response, body)

    def _get_report(
        self, environ: Environ, start_response: StartResponse, info: RequestInfo
    ) -> Iterable[bytes]:
        response = call_and_capture(self._app, environ)
        answer = self.reports.answer(_account(environ, info), response)
        if isinstance(answer, Refusal):
            return _refuse(start_response, info, answer)
        return _forward(start_response, response, answer)

    # control endpoints -----------------------------------------------------------------------
    def control(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes] | None:
        """Serve the strictness and credential-report endpoints; None for any other path."""
        path = str(environ.get("PATH_INFO", "")).rstrip("/")
        method = environ.get("REQUEST_METHOD")
        if path not in (STRICT_PATH, REPORT_EXPIRE_PATH, REPORT_AGE_PATH):
            return None
        try:
            payload = json.loads(read_body(environ) or b"{}") if method == "POST" else {}
            if not isinstance(payload, dict):
                raise ValueError("expected a JSON object")
            if path == STRICT_PATH:
                if payload:
                    with self._lock:
                        self._strictness = self._strictness.updated(payload)
                return json_response(start_response, self.strictness.to_json())
            if method != "POST":
                return json_response(start_response, {"error": "use POST"}, status=405)
            account = payload.get("account_id")
            account_id = None if account is None else str(account)
            if path == REPORT_EXPIRE_PATH:
                return json_response(start_response, {"expired": self.reports.expire(account_id)})
            seconds = payload.get("seconds")
            if isinstance(seconds, bool) or not isinstance(seconds, int | float):
                raise ValueError("seconds must be a number")
            aged = self.reports.age(timedelta(seconds=seconds), account_id)
            return json_response(start_response, {"aged": aged})
        except ValueError as exc:
            return json_response(start_response, {"error": str(exc)}, status=400)


def _account(environ: Environ, info: RequestInfo) -> str:
    from keyrotate_emulator.counter import account_of

    return account_of(environ, info.access_key_id)


def _kms_refusal(environ: Environ, info: RequestInfo) -> Refusal | None:
    uses = list(key_uses(info.operation, read_body(environ), signing_region(environ)))
    if not uses:
        return None
    caller = _account(environ, info)
    for use in uses:
        refusal = check_key_use(use, caller)
        if refusal is not None:
            return refusal
    return None


def _refuse(start_response: StartResponse, info: RequestInfo, refusal: Refusal) -> list[bytes]:
    return error_response(
        start_response,
        json_protocol=info.json,
        status=refusal.status,
        code=refusal.code,
        message=refusal.message,
    )


def _forward(start_response: StartResponse, response: CapturedResponse, body: bytes) -> list[bytes]:
    headers = [(k, v) for k, v in response.headers if k.lower() != "content-length"]
    headers.append(("Content-Length", str(len(body))))
    start_response(response.status, headers)
    return [body]

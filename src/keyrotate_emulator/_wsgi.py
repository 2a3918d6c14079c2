"""Small WSGI helpers the emulator's middlewares share: what a request is, how to answer it.

The middlewares sit between botocore (over real HTTP) and moto's WSGI app. They must see which
service and operation a request is without disturbing it, and answer errors in the shape the
service's protocol uses, because botocore parses them exactly like real AWS errors.
"""

from __future__ import annotations

import io
import json
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]

# X-Amz-Target prefixes of JSON protocols -> the service's signing name, for unsigned requests.
_TARGET_PREFIXES = {
    "secretsmanager": "secretsmanager",
    "AWSOrganizationsV20161128": "organizations",
    "AmazonSSM": "ssm",
    "TrentService": "kms",
    "AmazonSQS": "sqs",
    "AWSStepFunctions": "states",
}
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]*/([^/]*)/([^/]*)/")
# Paths the emulator itself serves; never counted, faulted or paged.
CONTROL_PREFIXES = ("/moto-api/", "/_keyrotate/")


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """Who calls which operation of which service.

    ``service`` is the SigV4 signing name (iam, sts, secretsmanager, organizations, ssm, ses...);
    ``operation`` the API name (``ListUsers``), or ``"<METHOD> <path>"`` for REST protocols
    whose operation lives in the URL; ``json`` tells which error shape the client expects.
    """

    service: str
    operation: str
    access_key_id: str | None
    json: bool
    form: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Refusal:
    """An AWS error to answer instead of letting moto perform a request."""

    code: str
    message: str
    status: int = 400


def read_body(environ: Environ) -> bytes:
    """Read the request body and put it back, so the next app in the chain can read it too."""
    cached = environ.get("keyrotate.body")
    if isinstance(cached, bytes):
        environ["wsgi.input"] = io.BytesIO(cached)
        return cached
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body: bytes = environ["wsgi.input"].read(length) if length > 0 else b""
    replace_body(environ, body)
    return body


def replace_body(environ: Environ, body: bytes) -> None:
    environ["keyrotate.body"] = body
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))


def signing_region(environ: Environ, default: str = "us-east-1") -> str:
    """The region of the request's SigV4 scope (where moto routes it); ``default`` if unsigned."""
    match = _CREDENTIAL.search(str(environ.get("HTTP_AUTHORIZATION", "")))
    return match.group(2) if match and match.group(2) else default


def is_control_path(environ: Environ) -> bool:
    return str(environ.get("PATH_INFO", "")).startswith(CONTROL_PREFIXES)


def inspect_request(environ: Environ) -> RequestInfo:
    """Identify a request: signing name and key from SigV4, operation from target or form."""
    cached = environ.get("keyrotate.info")
    if isinstance(cached, RequestInfo):
        return cached
    auth = str(environ.get("HTTP_AUTHORIZATION", ""))
    match = _CREDENTIAL.search(auth)
    access_key_id = match.group(1) if match else None
    service = match.group(3) if match else ""
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    form: tuple[tuple[str, str], ...] = ()
    if target:
        prefix, _, operation = target.rpartition(".")
        service = service or _TARGET_PREFIXES.get(prefix, prefix.lower())
        info = RequestInfo(service or "unknown", operation, access_key_id, json=True)
    else:
        content_type = str(environ.get("CONTENT_TYPE", ""))
        action = ""
        if environ.get("REQUEST_METHOD") == "POST" and "x-www-form-urlencoded" in content_type:
            form = tuple(parse_qsl(read_body(environ).decode("utf-8"), keep_blank_values=True))
            action = next((value for key, value in form if key == "Action"), "")
        if not action:
            query = parse_qsl(str(environ.get("QUERY_STRING", "")), keep_blank_values=True)
            action = next((value for key, value in query if key == "Action"), "")
        if action:
            info = RequestInfo(service or "unknown", action, access_key_id, json=False, form=form)
        else:
            rest_op = f"{environ.get('REQUEST_METHOD', 'GET')} {environ.get('PATH_INFO', '/')}"
            json_ish = "json" in str(environ.get("CONTENT_TYPE", "")) or service not in {"s3"}
            info = RequestInfo(service or "unknown", rest_op, access_key_id, json=json_ish)
    environ["keyrotate.info"] = info
    return info


def encode_form(form: Iterable[tuple[str, str]]) -> bytes:
    return urlencode(list(form)).encode("utf-8")


def error_response(
    start_response: StartResponse,
    *,
    json_protocol: bool,
    status: int,
    code: str,
    message: str,
    sender: bool = True,
) -> list[bytes]:
    """Answer an AWS error in the protocol's shape, as botocore's parsers expect it."""
    request_id = str(uuid.uuid4())
    reasons = {400: "Bad Request", 403: "Forbidden", 410: "Gone", 500: "Internal Server Error"}
    reason = reasons.get(status, "Error")
    if json_protocol:
        body = json.dumps({"__type": code, "message": message}).encode("utf-8")
        headers = [
            ("Content-Type", "application/x-amz-json-1.1"),
            ("x-amzn-RequestId", request_id),
            ("x-amzn-ErrorType", code),
            # Services with awsQueryCompatible (SQS) read the code from this header.
            ("x-amzn-query-error", f"{code};{'Sender' if sender else 'Receiver'}"),
        ]
    else:
        body = (
            "<ErrorResponse><Error>"
            f"<Type>{'Sender' if sender else 'Receiver'}</Type>"
            f"<Code>{code}</Code><Message>{message}</Message>"
            f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        headers = [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)]
    headers.append(("Content-Length", str(len(body))))
    start_response(f"{status} {reason}", headers)
    return [body]


def json_response(start_response: StartResponse, payload: object, status: int = 200) -> list[bytes]:
    body = json.dumps(payload).encode("utf-8")
    start_response(
        f"{status} {'OK' if status == 200 else 'Error'}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]


@dataclass(slots=True)
class CapturedResponse:
    status: str
    headers: list[tuple[str, str]]
    body: bytes


def call_and_capture(app: WsgiApp, environ: Environ) -> CapturedResponse:
    """Run an inner WSGI app to completion and keep its whole response, to rewrite it."""
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        captured["status"] = status
        captured["headers"] = list(headers)
        return lambda data: None

    iterable = app(environ, start_response)
    try:
        body = b"".join(iterable)
    finally:
        close = getattr(iterable, "close", None)
        if close is not None:
            close()
    return CapturedResponse(captured["status"], captured["headers"], body)

"""Make moto's IAM page its list operations the way real IAM does.

moto returns every item in one page (EMULATOR.md), so code that forgets to follow ``Marker``
passes every test and then misses users in a real account with more than 100. This middleware
asks moto for everything (without the client's paging parameters) and slices the XML answer:
at most ``page_size`` items (or the client's smaller ``MaxItems``), ``IsTruncated`` and an
opaque ``Marker`` when more follow.
"""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable

from keyrotate_emulator._wsgi import (
    Environ,
    StartResponse,
    WsgiApp,
    call_and_capture,
    encode_form,
    error_response,
    inspect_request,
    is_control_path,
    replace_body,
)

# Operation -> the result's list elements, in the order real IAM pages through them.
PAGED_OPERATIONS: dict[str, tuple[str, ...]] = {
    "ListUsers": ("Users",),
    "ListAccessKeys": ("AccessKeyMetadata",),
    "ListGroups": ("Groups",),
    "GetGroup": ("Users",),
    "ListGroupsForUser": ("Groups",),
    "ListUserTags": ("Tags",),
    "ListUserPolicies": ("PolicyNames",),
    "GetAccountAuthorizationDetails": (
        "UserDetailList",
        "GroupDetailList",
        "RoleDetailList",
        "Policies",
    ),
}
_XMLNS = re.compile(rb'\sxmlns="([^"]*)"')
_MARKER_PREFIX = "keyrotate-page:"


def encode_marker(offset: int) -> str:
    return base64.urlsafe_b64encode(f"{_MARKER_PREFIX}{offset}".encode()).decode("ascii")


def decode_marker(marker: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(marker.encode("ascii")).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    if not text.startswith(_MARKER_PREFIX):
        return None
    try:
        offset = int(text[len(_MARKER_PREFIX) :])
    except ValueError:
        return None
    return offset if offset >= 0 else None


class IamPagingMiddleware:
    """Page IAM list operations at ``page_size`` items, as real IAM does at 100.

    ``page_size=None`` passes every request through untouched (moto's one-page answers); it
    may be changed while the server runs.
    """

    def __init__(self, app: WsgiApp, page_size: int | None) -> None:
        self._app = app
        self.page_size = page_size

    @property
    def page_size(self) -> int | None:
        return self._page_size

    @page_size.setter
    def page_size(self, value: int | None) -> None:
        if value is not None and value < 1:
            raise ValueError(f"iam_page_size must be at least 1 or None, got {value}")
        self._page_size = value

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        page_size = self._page_size
        if page_size is None or is_control_path(environ):
            return self._app(environ, start_response)
        info = inspect_request(environ)
        lists = PAGED_OPERATIONS.get(info.operation)
        if info.service != "iam" or info.json or lists is None:
            return self._app(environ, start_response)

        marker = next((v for k, v in info.form if k == "Marker"), None)
        max_items_text = next((v for k, v in info.form if k == "MaxItems"), None)
        offset = 0
        if marker is not None:
            decoded = decode_marker(marker)
            if decoded is None:
                return error_response(
                    start_response,
                    json_protocol=False,
                    status=400,
                    code="InvalidInput",
                    message=f"Invalid Marker: {marker!r}",
                )
            offset = decoded
        limit = page_size
        if max_items_text is not None:
            try:
                requested = int(max_items_text)
            except ValueError:
                requested = 0
            if not 1 <= requested <= 1000:
                return error_response(
                    start_response,
                    json_protocol=False,
                    status=400,
                    code="ValidationError",
                    message=f"MaxItems must be between 1 and 1000, got {max_items_text!r}",
                )
            limit = min(limit, requested)

        replace_body(
            environ, encode_form((k, v) for k, v in info.form if k not in {"Marker", "MaxItems"})
        )
        response = call_and_capture(self._app, environ)
        body = response.body
        if response.status.startswith("200"):
            body = _slice_page(body, info.operation, lists, offset, limit)
        headers = [(k, v) for k, v in response.headers if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(body))))
        start_response(response.status, headers)
        return [body]


def _slice_page(
    body: bytes, operation: str, lists: tuple[str, ...], offset: int, limit: int
) -> bytes:
    """Keep items [offset, offset+limit) of the concatenated lists; set IsTruncated/Marker."""
    namespace = _XMLNS.search(body)
    root = ET.fromstring(_XMLNS.sub(b"", body, count=1))  # noqa: S314 (moto's own output)
    result = root.find(f"{operation}Result")
    if result is None:
        return body
    position = 0
    for name in lists:
        container = result.find(name)
        if container is None:
            continue
        for member in list(container):
            if not offset <= position < offset + limit:
                container.remove(member)
            position += 1
    truncated = position > offset + limit
    for stale in ("IsTruncated", "Marker"):
        for element in result.findall(stale):
            result.remove(element)
    ET.SubElement(result, "IsTruncated").text = "true" if truncated else "false"
    if truncated:
        ET.SubElement(result, "Marker").text = encode_marker(offset + limit)
    if namespace is not None:
        root.set("xmlns", namespace.group(1).decode("utf-8"))
    page: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return page

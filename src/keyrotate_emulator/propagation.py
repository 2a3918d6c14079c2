"""A new access key is refused for a few seconds, as AWS does while IAM propagates it.

IAM is eventually consistent: for a few seconds after CreateAccessKey, a call signed with the
new key (STS GetCallerIdentity included) fails with ``InvalidClientTokenId`` "The security
token included in the request is invalid." moto accepts the key at once, so code that uses a
new key immediately (or verifies it without retrying) would pass every test.

The age is counted on the emulator's wall clock from the moment moto answered the
CreateAccessKey, not from the key's CreateDate: seeds and tests move CreateDate into the past
(or a fictional future) to age keys, and a key aged that way is old, whatever the clock says.
Keys made directly in moto's backend (bulk seeding) never went through CreateAccessKey and are
never refused; neither are STS session credentials (AssumeRole answers usable ones at once).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from keyrotate_emulator._wsgi import Refusal

_ISSUED = re.compile(rb"<AccessKeyId>([A-Z0-9]{16,128})</AccessKeyId>")
_INVALID_TOKEN = "The security token included in the request is invalid."
# Records older than this are dropped: no sensible delay is that long.
_FORGET_AFTER_S = 3600.0


@dataclass(frozen=True, slots=True)
class _Born:
    at: float  # time.monotonic() when moto answered CreateAccessKey
    account_id: str
    create_date: datetime | None  # moto's CreateDate then; a different one now: aged by a test


def invalid_token(service: str, json_protocol: bool) -> Refusal:
    """The refusal of a key AWS does not (yet) know, in each protocol's words."""
    if service == "s3":
        return Refusal(
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
            403,
        )
    if json_protocol:  # Secrets Manager, KMS, SSM, Organizations...
        return Refusal("UnrecognizedClientException", _INVALID_TOKEN, 400)
    return Refusal("InvalidClientTokenId", _INVALID_TOKEN, 403)  # IAM, STS, SES


class KeyPropagation:
    """Remember when each key was issued through the API; refuse it while it is young."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._born: dict[str, _Born] = {}

    def issued(self, account_id: str, response_body: bytes) -> str | None:
        """Record the key a successful CreateAccessKey answer of ``account_id`` carries."""
        match = _ISSUED.search(response_body)
        if match is None:
            return None
        key_id = match.group(1).decode("ascii")
        key = _moto_key(account_id, key_id)
        now = self._clock()
        with self._lock:
            self._born = {k: b for k, b in self._born.items() if now - b.at < _FORGET_AFTER_S}
            self._born[key_id] = _Born(now, account_id, getattr(key, "create_date", None))
        return key_id

    def age(self, access_key_id: str | None) -> float | None:
        """Seconds since the key was issued through the API; None if it was not (or was aged)."""
        if not access_key_id:
            return None
        with self._lock:
            born = self._born.get(access_key_id)
        if born is None:
            return None
        key = _moto_key(born.account_id, access_key_id)
        if key is None or getattr(key, "create_date", None) != born.create_date:
            return None  # deleted, or its CreateDate was moved: a test made it old
        return self._clock() - born.at

    def refusal(
        self, access_key_id: str | None, delay: float, service: str, json_protocol: bool
    ) -> Refusal | None:
        if delay <= 0:
            return None
        age = self.age(access_key_id)
        if age is None or age >= delay:
            return None
        return invalid_token(service, json_protocol)

    def forget(self) -> None:
        """moto was reset: every key it issued is gone."""
        with self._lock:
            self._born.clear()


def _moto_key(account_id: str, key_id: str) -> Any:
    from moto.iam.models import iam_backends  # the emulator's own process only

    try:
        return iam_backends[account_id]["global"].access_keys.get(key_id)
    except KeyError:
        return None

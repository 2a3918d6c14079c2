"""EventBridge adapter: put keyrotate's change events on a bus, ten at a time.

PutEvents takes at most ten entries per call and answers per entry: a call can succeed while
some entries fail (``FailedEntryCount``). Failed entries whose error is transient (throttling,
an internal error) are sent again, up to ``attempts`` times in all; whatever still fails is
returned, described, for the caller to report. Nothing here raises for a failed entry: a
publishing problem must never fail a rotation.

The bus is ``default`` or a name or ARN (``EventBusName``); events go to the bus of the
caller's own account (a name) or to the ARN's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from keyrotate.aws.errors import translate
from keyrotate.aws.session import service_client
from keyrotate.domain.errors import AwsError

if TYPE_CHECKING:
    from boto3.session import Session
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef

PERMISSIONS: tuple[str, ...] = ("events:PutEvents",)

SOURCE = "keyrotate"
MAX_ENTRIES_PER_CALL = 10
# Per-entry errors worth another try; anything else (a malformed entry, a denied bus) fails
# the same way again.
_TRANSIENT = frozenset({"ThrottlingException", "InternalException", "InternalFailure"})


@dataclass(frozen=True, slots=True)
class Event:
    """One event: ``detail`` is JSON-serialisable and never holds a secret."""

    detail_type: str
    detail: Mapping[str, Any]
    time: datetime
    resources: tuple[str, ...] = field(default=())


def make_client(session: Session | None = None, region: str | None = None) -> EventBridgeClient:
    client: EventBridgeClient = service_client("events", session, region)
    return client


class EventBus:
    """One bus, one client; :meth:`put` sends events in calls of ten."""

    def __init__(
        self,
        client: EventBridgeClient,
        bus: str,
        *,
        attempts: int = 3,
        backoff_seconds: float = 0.2,
    ) -> None:
        self._client = client
        self.bus = bus
        self._attempts = attempts
        self._backoff = backoff_seconds

    def put(self, events: Sequence[Event]) -> list[str]:
        """Send ``events``; return one description per event that could not be delivered."""
        failures: list[str] = []
        for start in range(0, len(events), MAX_ENTRIES_PER_CALL):
            batch = [self._entry(e) for e in events[start : start + MAX_ENTRIES_PER_CALL]]
            failures.extend(self._put_batch(batch))
        return failures

    def _entry(self, event: Event) -> PutEventsRequestEntryTypeDef:
        return {
            "Source": SOURCE,
            "DetailType": event.detail_type,
            "Detail": json.dumps(event.detail, sort_keys=True, default=str),
            "Time": event.time,
            "Resources": list(event.resources),
            "EventBusName": self.bus,
        }

    def _put_batch(self, batch: list[PutEventsRequestEntryTypeDef]) -> list[str]:
        pending, failed = batch, list[str]()
        for attempt in range(self._attempts):
            if attempt:
                time.sleep(self._backoff * 2 ** (attempt - 1))
            try:
                with translate("events:PutEvents", f"allow events:PutEvents on {self.bus}"):
                    response = self._client.put_events(Entries=pending)
            except AwsError as exc:
                # botocore has already retried the call itself: the rest of the batch is lost.
                return failed + [f"{e['DetailType']}: {exc}" for e in pending]
            retry: list[PutEventsRequestEntryTypeDef] = []
            # Entries answer in the order sent; a failed one carries an ErrorCode.
            for entry, result in zip(pending, response["Entries"], strict=True):
                code = result.get("ErrorCode")
                if not code:
                    continue
                if code in _TRANSIENT:
                    retry.append(entry)
                else:
                    failed.append(f"{entry['DetailType']}: {code}: {result.get('ErrorMessage')}")
            if not retry:
                return failed
            pending = retry
        return failed + [
            f"{e['DetailType']}: still refused (throttled) after {self._attempts} attempts"
            for e in pending
        ]

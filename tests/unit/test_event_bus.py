"""PutEvents batching and per-entry retries (keyrotate.aws.events.EventBus).

The client is a small recording stand-in for EventBridge's PutEvents (its per-entry answer
is what the tests are about, and the emulator accepts every entry); the service side is read
back from the emulator in tests/functional/test_change_events.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from keyrotate.aws.events import MAX_ENTRIES_PER_CALL, Event, EventBus

NOW = datetime(2026, 5, 1, tzinfo=UTC)


class PutEvents:
    """Answers each entry in turn from ``codes`` (None: accepted), records every call."""

    def __init__(self, codes: Iterator[str | None] | None = None) -> None:
        self.calls: list[list[dict[str, Any]]] = []
        self._codes = codes

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append(Entries)
        answers: list[dict[str, Any]] = []
        for _ in Entries:
            code = next(self._codes, None) if self._codes is not None else None
            answers.append({"ErrorCode": code, "ErrorMessage": "no"} if code else {"EventId": "e"})
        failed = sum(1 for a in answers if "ErrorCode" in a)
        return {"FailedEntryCount": failed, "Entries": answers}


def _events(count: int) -> list[Event]:
    return [Event("Access Key Rotated", {"n": n}, NOW) for n in range(count)]


def _bus(client: PutEvents) -> EventBus:
    return EventBus(client, "bus", backoff_seconds=0)  # type: ignore[arg-type]


def test_events_are_sent_ten_per_call_in_order() -> None:
    client = PutEvents()
    assert _bus(client).put(_events(23)) == []
    assert [len(c) for c in client.calls] == [MAX_ENTRIES_PER_CALL, MAX_ENTRIES_PER_CALL, 3]
    sent = [json.loads(e["Detail"])["n"] for call in client.calls for e in call]
    assert sent == list(range(23))
    assert {e["Source"] for c in client.calls for e in c} == {"keyrotate"}
    assert {e["EventBusName"] for c in client.calls for e in c} == {"bus"}


def test_throttled_entries_alone_are_sent_again() -> None:
    client = PutEvents(iter([None, "ThrottlingException", None]))
    assert _bus(client).put(_events(3)) == []
    assert [len(c) for c in client.calls] == [3, 1]
    assert json.loads(client.calls[1][0]["Detail"]) == {"n": 1}


def test_entries_that_keep_failing_are_reported_not_raised() -> None:
    codes = iter(["ValidationException", "ThrottlingException", *["ThrottlingException"] * 5])
    client = PutEvents(codes)
    failures = _bus(client).put(_events(2))
    assert len(client.calls) == 3  # the first call, then two retries of the throttled entry
    assert failures == [
        "Access Key Rotated: ValidationException: no",
        "Access Key Rotated: still refused (throttled) after 3 attempts",
    ]

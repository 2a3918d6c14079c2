"""The calendar replays the engine day by day, assuming consumers switch the next day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from keyrotate.domain.forecast import forecast
from keyrotate.domain.models import AccessKey, ActionKind, Exemption, KeyStatus, UserKeys
from keyrotate.domain.policy import RotationPolicy

NOW = datetime(2026, 6, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def _days(entries: list, kind: ActionKind) -> list[int]:  # type: ignore[type-arg]
    return [(e.when - NOW).days for e in entries if e.kind is kind]


def test_a_used_key_80_days_old_rotates_deactivates_and_deletes_on_days_10_20_30() -> None:
    user = UserKeys("svc", (AccessKey("A", KeyStatus.ACTIVE, NOW - 80 * DAY, NOW - DAY),))
    entries = forecast(user, RotationPolicy(), start=NOW, until=NOW + 40 * DAY)
    assert [(e.kind, e.key_id) for e in entries] == [
        (ActionKind.ROTATE, "A"),
        (ActionKind.DEACTIVATE, "A"),
        (ActionKind.DELETE, "A"),
    ]
    assert (_days(entries, ActionKind.ROTATE), _days(entries, ActionKind.DEACTIVATE)) == (
        [10],
        [20],
    )
    assert _days(entries, ActionKind.DELETE) == [30]


def test_the_calendar_stops_at_its_end_date() -> None:
    user = UserKeys("svc", (AccessKey("A", KeyStatus.ACTIVE, NOW - 80 * DAY, NOW - DAY),))
    entries = forecast(user, RotationPolicy(), start=NOW, until=NOW + 15 * DAY)
    assert [e.kind for e in entries] == [ActionKind.ROTATE]


def test_an_exempt_user_is_listed_once_and_never_changed() -> None:
    key = AccessKey("A", KeyStatus.ACTIVE, NOW - 300 * DAY, NOW - DAY)
    user = UserKeys("svc", (key,), exemption=Exemption("group"))
    entries = forecast(user, RotationPolicy(), start=NOW, until=NOW + 100 * DAY)
    assert [(e.kind, (e.when - NOW).days) for e in entries] == [(ActionKind.EXEMPT, 0)]


def test_a_current_hold_is_listed_once_not_every_day() -> None:
    old = AccessKey("A", KeyStatus.ACTIVE, NOW - 101 * DAY, NOW - DAY)
    new = AccessKey("B", KeyStatus.ACTIVE, NOW - 11 * DAY, None)
    entries = forecast(
        UserKeys("svc", (old, new)), RotationPolicy(), start=NOW, until=NOW + 30 * DAY
    )
    assert [e.kind for e in entries].count(ActionKind.HOLD) == 1

"""Exemptions fail loudly: an unreadable tag or an exemption about to end is a note."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from keyrotate.domain.exemptions import exemption_notes
from keyrotate.domain.models import Exemption, UserKeys
from keyrotate.domain.state_tags import parse_exemption

NOW = datetime(2027, 2, 20, 12, 0, tzinfo=UTC)
WEEK = timedelta(days=7)
TAG = "keyrotate:exempt"


def notes(*users: UserKeys) -> tuple[str, ...]:
    return exemption_notes(users, TAG, now=NOW, warn_before=WEEK)


def tagged(name: str, value: str) -> UserKeys:
    return UserKeys(name, (), exemption=parse_exemption(value))


def test_an_unreadable_end_date_is_a_note_naming_the_user_the_tag_and_the_value() -> None:
    (note,) = notes(tagged("vendor", "until=next spring;reason=appliance"))
    assert note.startswith("user vendor: its exemption tag keyrotate:exempt cannot be read")
    assert "'next spring'" in note
    assert "stays exempt until the tag is fixed" in note


@pytest.mark.parametrize(
    ("until", "expected"),
    [
        (NOW + timedelta(days=3), "in 3 days"),
        (NOW + timedelta(days=1), "in 1 day;"),
        (NOW + WEEK, "in 7 days"),  # inclusive, as the owners' warnings are (SPEC rule 6)
        (NOW + timedelta(hours=5), "in hours"),
    ],
)
def test_an_exemption_ending_within_the_warning_period_is_a_note(
    until: datetime, expected: str
) -> None:
    user = UserKeys("vendor", (), exemption=Exemption("tag", "appliance", until))
    (note,) = notes(user)
    assert f"ends on {until:%Y-%m-%d %H:%M} UTC, {expected}" in note
    assert "rotated like any other's" in note


@pytest.mark.parametrize(
    "exemption",
    [
        Exemption("tag", "appliance", NOW + WEEK + timedelta(seconds=1)),  # not yet
        Exemption("tag", "appliance"),  # no end
        Exemption("group", "member of IAMKeyRotationExemptionGroup"),
        Exemption("protected", "carries the tag keyrotate:protected"),
    ],
)
def test_other_exemptions_are_no_news(exemption: Exemption) -> None:
    assert notes(UserKeys("vendor", (), exemption=exemption), UserKeys("plain", ())) == ()


def test_one_note_per_user_in_the_order_given() -> None:
    first = tagged("a-user", "until=broken")
    second = UserKeys("b-user", (), exemption=Exemption("tag", "", NOW + timedelta(days=2)))
    assert [n.split(":", 1)[0] for n in notes(first, second)] == ["user a-user", "user b-user"]


def test_an_ended_exemption_is_a_note_saying_it_no_longer_exempts() -> None:
    user = UserKeys("vendor", (), exemption=Exemption("tag", "appliance", NOW))
    (note,) = notes(user)
    assert note.startswith("user vendor: its exemption (tag keyrotate:exempt) ended on ")
    assert "no longer exempts" in note
    assert "remove the tag keyrotate:exempt" in note


def test_an_account_exemption_is_one_note_for_the_account_not_one_per_user() -> None:
    ended = Exemption("ou", "vendor estate", NOW - timedelta(days=1), scope="/Root/Vendors")
    users = [UserKeys(name, (), exemption=ended) for name in ("a", "b", "c")]
    (note,) = notes(*users)
    assert note.startswith("account: its exemption (exempt by OU /Root/Vendors until ")
    assert "vendor estate" in note
    assert "its users' keys are rotated like any other's" in note
    assert "AccountExemptions" in note

"""Reading the tool's state back from tags: what the engine is told a secret holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from keyrotate.domain.models import Exemption
from keyrotate.domain.state_tags import (
    HELD_KEY_TAG,
    PREDECESSOR_DEACTIVATED_TAG,
    PREDECESSOR_TAG,
    ROTATED_AT_TAG,
    SELF_USED_TAG,
    STALE_TAG,
    USER_COMPROMISED,
    USER_DEACTIVATED,
    USER_INTENT,
    USER_SNOOZE,
    key_state,
    parse_exemption,
    stamp,
)

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


def _secret(key_id: str, rotated: datetime) -> dict[str, str]:
    return {HELD_KEY_TAG: key_id, ROTATED_AT_TAG: stamp(rotated)}


def test_the_secret_holds_the_key_its_tags_name_when_its_value_was_written() -> None:
    state = key_state({}, _secret("AKIANEW", T0))
    assert (state.secret_key_id, state.rotated_at) == ("AKIANEW", T0)


def test_tags_an_interrupted_rotation_wrote_without_the_value_vouch_for_nothing() -> None:
    """A crash between TagResource and PutSecretValue: the new key is an orphan, not held."""
    user = {USER_INTENT: stamp(T0)}
    state = key_state(user, _secret("AKIANEW", T0 + timedelta(seconds=2)), value_written=False)
    assert (state.secret_key_id, state.rotated_at, state.intent_at) == (None, None, T0)


def test_older_tags_are_trusted_even_if_an_interrupted_rotation_left_a_marker() -> None:
    """Tags from the previous, completed rotation still say which key the value holds."""
    user = {USER_INTENT: stamp(T0)}
    state = key_state(user, _secret("AKIAOLD", T0 - timedelta(days=90)), value_written=False)
    assert state.secret_key_id == "AKIAOLD"


def test_a_stale_secret_holds_no_key() -> None:
    state = key_state({}, {**_secret("AKIAGONE", T0), STALE_TAG: "true"})
    assert state.secret_key_id is None


def test_deactivation_times_come_from_user_tags_over_secret_tags() -> None:
    secret = {PREDECESSOR_TAG: "AKIAA", PREDECESSOR_DEACTIVATED_TAG: stamp(T0)}
    user = {USER_DEACTIVATED + "AKIAA": stamp(T0 + timedelta(hours=1))}
    assert key_state(user, secret).deactivated_at == {"AKIAA": T0 + timedelta(hours=1)}
    assert key_state({}, secret).deactivated_at == {"AKIAA": T0}


def test_an_unreadable_stamp_counts_as_absent() -> None:
    assert key_state({USER_INTENT: "yesterday"}, None).intent_at is None


def test_exemption_values_carry_an_end_date_and_a_reason() -> None:
    assert parse_exemption("until=2027-03-01;reason=vendor appliance") == Exemption(
        "tag", "vendor appliance", datetime(2027, 3, 1, tzinfo=UTC)
    )
    assert parse_exemption("legacy mainframe") == Exemption("tag", "legacy mainframe")


def test_an_unreadable_exemption_end_keeps_the_user_exempt_and_says_why() -> None:
    exemption = parse_exemption("until=someday;reason=vendor")
    assert exemption.until is None
    assert exemption.applies(T0 + timedelta(days=9999))
    assert "unreadable until='someday'" in exemption.reason
    assert exemption.problem is not None
    assert "until='someday'" in exemption.problem


def test_the_tools_own_use_is_read_for_the_key_the_secret_holds_and_empty_means_none() -> None:
    checked = T0 + timedelta(seconds=7)
    state = key_state({}, {**_secret("AKIANEW", T0), SELF_USED_TAG: stamp(checked)})
    assert (state.secret_key_id, state.self_used_at) == ("AKIANEW", checked)
    # a rotation clears the predecessor's stamp until it has checked the new key
    assert key_state({}, {**_secret("AKIANEW", T0), SELF_USED_TAG: ""}).self_used_at is None
    stale = {**_secret("AKIAGONE", T0), SELF_USED_TAG: stamp(checked), STALE_TAG: "true"}
    assert key_state({}, stale).self_used_at is None


def test_snoozes_and_leaks_are_read_per_key_from_the_users_tags_and_bad_dates_ignored() -> None:
    user_tags = {
        USER_DEACTIVATED + "AKIAOLD": stamp(T0),
        USER_COMPROMISED + "AKIAOLD": stamp(T0),
        USER_SNOOZE + "AKIAOTHER": stamp(T0 + timedelta(days=7)),
        USER_SNOOZE + "AKIABAD": "next tuesday",
        "team": "payments",
    }
    state = key_state(user_tags, None)
    assert state.compromised_at == {"AKIAOLD": T0}
    assert state.snoozed_until == {"AKIAOTHER": T0 + timedelta(days=7)}
    assert state.deactivated_at == {"AKIAOLD": T0}

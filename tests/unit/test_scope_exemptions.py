"""Exemptions by account id and by OU (AccountExemptions): which accounts they hold for, which
of several holds, and how each exemption reads in tables and reports. Pure, no AWS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keyrotate.config import load_settings
from keyrotate.domain.engine import plan
from keyrotate.domain.errors import InputError
from keyrotate.domain.exemptions import ScopeExemption, describe, scope_exemption, strongest
from keyrotate.domain.models import (
    AccessKey,
    Account,
    ActionKind,
    Exemption,
    KeyStatus,
    Reason,
    UserKeys,
)
from keyrotate.domain.policy import RotationPolicy
from keyrotate.domain.state_tags import parse_exemption

NOW = datetime(2027, 1, 20, 12, 0, tzinfo=UTC)
PROD = Account(
    "111122223333",
    "prod",
    "p@example.com",
    ou_path="/Root/Workloads/Prod",
    ou_ids=("r-ab12", "ou-ab12-11111111", "ou-ab12-22222222"),
)


@pytest.mark.parametrize(
    ("entry", "matches"),
    [
        (ScopeExemption("account", "111122223333"), True),
        (ScopeExemption("account", "999988887777"), False),
        (ScopeExemption("ou", "ou-ab12-11111111"), True),  # a parent OU, by id
        (ScopeExemption("ou", "ou-ab12-22222222"), True),  # its own OU
        (ScopeExemption("ou", "r-ab12"), True),  # the root: everyone
        (ScopeExemption("ou", "ou-ab12-33333333"), False),
        (ScopeExemption("ou", "/Root/Workloads"), True),  # a parent OU, by path
        (ScopeExemption("ou", "/Root/Workloads/Prod/"), True),
        (ScopeExemption("ou", "/Root/Work"), False),  # a prefix of a name is no parent
        (ScopeExemption("ou", "/Root/Workloads/Prod/Critical"), False),  # a child OU
    ],
)
def test_an_entry_holds_for_its_account_and_every_account_under_its_ou(
    entry: ScopeExemption, matches: bool
) -> None:
    assert entry.matches(PROD) is matches
    assert (scope_exemption([entry], PROD) is not None) is matches


def test_the_account_exemption_carries_source_scope_reason_and_end() -> None:
    end = NOW + timedelta(days=30)
    found = scope_exemption([ScopeExemption("ou", "/Root/Workloads", end, "vendor")], PROD)
    assert found == Exemption("ou", "vendor", end, scope="/Root/Workloads")
    assert describe(found) == "exempt by OU /Root/Workloads until 2027-02-19 12:00 UTC: vendor"


def test_the_longest_lasting_exemption_wins_so_an_ended_one_hides_nothing() -> None:
    ended = Exemption("tag", "old", NOW - timedelta(days=1))
    running = Exemption("account", "vendor", NOW + timedelta(days=9), scope="111122223333")
    forever = Exemption("ou", "sandbox", scope="/Root/Sandbox")
    assert strongest(ended, running) is running
    assert strongest(running, ended) is running
    assert strongest(ended, running, forever) is forever
    assert strongest(None, None) is None


times = st.one_of(st.none(), st.integers(-100, 100).map(lambda d: NOW + timedelta(days=d)))


@given(st.lists(times, min_size=1, max_size=5))
def test_a_user_is_exempt_exactly_while_any_of_its_exemptions_holds(ends: list[datetime]) -> None:
    candidates = [Exemption("tag", str(i), end) for i, end in enumerate(ends)]
    chosen = strongest(*candidates)
    assert chosen is not None
    for moment in (
        NOW - timedelta(days=200),
        NOW,
        NOW + timedelta(days=50),
        NOW + timedelta(days=200),
    ):
        assert chosen.applies(moment) == any(c.applies(moment) for c in candidates)


@pytest.mark.parametrize(
    ("exemption", "reason"),
    [
        (Exemption("account", "x", scope="111122223333"), Reason.EXEMPT_ACCOUNT),
        (Exemption("ou", "x", scope="/Root/Sandbox"), Reason.EXEMPT_OU),
    ],
)
def test_the_engine_says_which_kind_of_exemption_holds(
    exemption: Exemption, reason: Reason
) -> None:
    key = AccessKey("AKIAOLD", KeyStatus.ACTIVE, NOW - timedelta(days=400), NOW)
    result = plan(UserKeys("svc", (key,), exemption=exemption), RotationPolicy(), now=NOW)
    assert [(a.kind, a.reason) for a in result.actions] == [(ActionKind.EXEMPT, reason)]


def test_an_ended_account_exemption_plans_the_user_like_any_other() -> None:
    key = AccessKey("AKIAOLD", KeyStatus.ACTIVE, NOW - timedelta(days=400), NOW)
    ended = Exemption("account", "x", NOW - timedelta(seconds=1), scope="111122223333")
    result = plan(UserKeys("svc", (key,), exemption=ended), RotationPolicy(), now=NOW)
    assert [a.kind for a in result.actions] == [ActionKind.ROTATE]


def test_the_tag_takes_expires_as_well_as_until_and_a_bare_value_is_the_reason() -> None:
    assert parse_exemption("expires=2027-03-01;reason=appliance").until == datetime(
        2027, 3, 1, tzinfo=UTC
    )
    assert parse_exemption("until=2027-03-01;reason=appliance").until == datetime(
        2027, 3, 1, tzinfo=UTC
    )
    assert parse_exemption("vendor appliance") == Exemption("tag", "vendor appliance")


@pytest.mark.parametrize(
    ("source", "value"),
    [
        ("file", "account_exemptions:\n  - {account: '111122223333', ou: /Root}\n"),
        ("file", "account_exemptions:\n  - {account: '111122223333', expires: someday}\n"),
        ("file", "account_exemptions:\n  - {region: us-east-1}\n"),
        ("env", "ou-ab12-cdef3456;color=blue"),
        ("env", "Workloads"),  # neither an account id nor an OU id or path
        ("env", "[{account: 1111"),
    ],
)
def test_a_bad_exemption_entry_is_an_input_error_naming_the_setting(
    tmp_path: Path, source: str, value: str
) -> None:
    config = None
    env = {"AccountExemptions": value}
    if source == "file":
        config = tmp_path / "keyrotate.yaml"
        config.write_text(value, encoding="utf-8")
        env = {}
    with pytest.raises(InputError) as caught:
        load_settings(config, env, {})
    assert "account_exemptions" in str(caught.value)
    assert "AccountExemptions" in str(caught.value)


def test_exemptions_load_from_a_yaml_list_with_dates(tmp_path: Path) -> None:
    text = (
        "account_exemptions:\n"
        "  - account: '111122223333'\n"
        "    expires: 2027-01-31\n"
        "    reason: vendor appliance, replaced in Q1\n"
        "  - ou: /Root/Sandbox\n"
    )
    config = tmp_path / "keyrotate.yaml"
    config.write_text(text, encoding="utf-8")
    settings = load_settings(config, {}, {})
    assert settings.account_exemptions == (
        ScopeExemption(
            "account",
            "111122223333",
            datetime(2027, 1, 31, tzinfo=UTC),
            "vendor appliance, replaced in Q1",
        ),
        ScopeExemption("ou", "/Root/Sandbox"),
    )

"""The credential report parser, its placeholder keys, and matching report rows to real keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from keyrotate.domain.credential_report import (
    ReportFormatError,
    ReportKey,
    ReportUser,
    is_report_key_id,
    match_report_keys,
    parse_credential_report,
    pseudo_keys,
)
from keyrotate.domain.models import AccessKey, KeyStatus

HEADER = (
    "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,"
    "password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,"
    "access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,"
    "access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,"
    "access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,"
    "cert_1_last_rotated,cert_2_active,cert_2_last_rotated"
)
ARN = "arn:aws:iam::123456789012:user/"


def _row(user: str, key1: tuple[str, str, str], key2: tuple[str, str, str]) -> str:
    created = "2024-01-01T00:00:00+00:00"
    return ",".join(
        [
            user,
            "arn:aws:iam::123456789012:root" if user == "<root_account>" else ARN + user,
            created,
            "false",
            "N/A",
            "N/A",
            "N/A",
            "false",
            key1[0],
            key1[1],
            key1[2],
            "us-east-1",
            "s3",
            key2[0],
            key2[1],
            key2[2],
            "N/A",
            "N/A",
            "false",
            "N/A",
            "false",
            "N/A",
        ]
    )


NONE = ("false", "N/A", "N/A")
REPORT = "\n".join(
    [
        HEADER,
        _row("<root_account>", ("true", "2020-01-01T00:00:00+00:00", "N/A"), NONE),
        _row(
            "two-keys",
            ("false", "2024-02-01T10:00:00+00:00", "2024-03-01T09:30:00+00:00"),
            ("true", "2024-05-01T10:00:00Z", "N/A"),
        ),
        _row("slot-two-only", NONE, ("true", "2024-06-01T00:00:00+00:00", "no_information")),
        _row("no-keys", NONE, NONE),
    ]
)


def test_report_rows_become_users_with_their_keys_and_the_root_row_is_left_out() -> None:
    report = parse_credential_report(REPORT.encode())
    assert set(report.users) == {"two-keys", "slot-two-only", "no-keys"}
    two = report.users["two-keys"]
    assert two.arn == ARN + "two-keys"
    assert two.keys == (
        ReportKey(
            1,
            False,
            datetime(2024, 2, 1, 10, tzinfo=UTC),
            datetime(2024, 3, 1, 9, 30, tzinfo=UTC),
        ),
        ReportKey(2, True, datetime(2024, 5, 1, 10, tzinfo=UTC), None),
    )
    assert [k.slot for k in report.users["slot-two-only"].keys] == [2]
    assert report.users["slot-two-only"].keys[0].last_used is None
    assert report.users["no-keys"].keys == ()


def test_a_report_missing_a_key_column_is_rejected_naming_the_column() -> None:
    broken = REPORT.replace("access_key_2_last_rotated", "something_else")
    with pytest.raises(ReportFormatError, match="access_key_2_last_rotated"):
        parse_credential_report(broken)


def test_an_unreadable_date_is_rejected_naming_the_user_and_column() -> None:
    broken = REPORT.replace("2024-05-01T10:00:00Z", "yesterday")
    with pytest.raises(ReportFormatError, match=r"access_key_2_last_rotated of user 'two-keys'"):
        parse_credential_report(broken)


def test_pseudo_keys_carry_the_report_ages_under_placeholder_ids() -> None:
    user = parse_credential_report(REPORT).users["two-keys"]
    keys = pseudo_keys(user)
    assert [k.key_id for k in keys] == [
        "credential-report:access_key_1",
        "credential-report:access_key_2",
    ]
    assert [k.status for k in keys] == [KeyStatus.INACTIVE, KeyStatus.ACTIVE]
    assert keys[0].last_used == datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
    assert all(is_report_key_id(k.key_id) for k in keys)
    assert not is_report_key_id("AKIAIOSFODNN7EXAMPLE")


CREATED = datetime(2024, 2, 1, 10, 0, 0, 400_000, tzinfo=UTC)  # IAM lists sub-second times
USED = datetime(2024, 3, 1, tzinfo=UTC)


def _report_user(*keys: ReportKey) -> ReportUser:
    return ReportUser("u", ARN + "u", keys)


def test_a_listed_key_takes_last_use_from_the_report_when_creation_second_and_status_agree() -> (
    None
):
    listed = [AccessKey("AKIA1", KeyStatus.ACTIVE, CREATED)]
    report = _report_user(ReportKey(1, True, CREATED.replace(microsecond=0), USED))
    matched, unmatched = match_report_keys(listed, report)
    assert matched == [AccessKey("AKIA1", KeyStatus.ACTIVE, CREATED, USED)]
    assert unmatched == []


def test_a_key_whose_status_changed_since_the_report_is_not_vouched_for() -> None:
    listed = [AccessKey("AKIA1", KeyStatus.INACTIVE, CREATED)]
    report = _report_user(ReportKey(1, True, CREATED.replace(microsecond=0), USED))
    assert match_report_keys(listed, report) == ([], listed)


def test_a_key_created_after_the_report_is_not_vouched_for() -> None:
    old = AccessKey("AKIA1", KeyStatus.ACTIVE, CREATED)
    new = AccessKey("AKIA2", KeyStatus.ACTIVE, CREATED + timedelta(days=30))
    report = _report_user(ReportKey(1, True, CREATED.replace(microsecond=0), USED))
    matched, unmatched = match_report_keys([old, new], report)
    assert [k.key_id for k in matched] == ["AKIA1"]
    assert unmatched == [new]


def test_two_keys_created_in_the_same_second_are_never_guessed_apart() -> None:
    listed = [
        AccessKey("AKIA1", KeyStatus.ACTIVE, CREATED),
        AccessKey("AKIA2", KeyStatus.ACTIVE, CREATED + timedelta(milliseconds=100)),
    ]
    report = _report_user(
        ReportKey(1, True, CREATED.replace(microsecond=0), USED),
        ReportKey(2, True, CREATED.replace(microsecond=0), None),
    )
    assert match_report_keys(listed, report) == ([], listed)


def test_a_user_missing_from_the_report_has_no_key_vouched_for() -> None:
    listed = [AccessKey("AKIA1", KeyStatus.ACTIVE, CREATED)]
    assert match_report_keys(listed, None) == ([], listed)

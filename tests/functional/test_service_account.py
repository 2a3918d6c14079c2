"""One account end to end through the service: scan -> plan -> enforce, state checked in AWS."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto.iam.models import AccessKeyLastUsed, iam_backends

from keyrotate.aws.session import AccountSessions
from keyrotate.domain.models import Account, ActionKind
from keyrotate.domain.results import AccountResult, Outcome
from keyrotate.service.account import run_account
from tests.run_options import run_options

ACCOUNT = "123456789012"


def _age(user: str, key_id: str, days: float, used_days_ago: float | None, now: datetime) -> None:
    backend = iam_backends[ACCOUNT]["global"]
    key = next(k for k in backend.users[user].access_keys if k.access_key_id == key_id)
    key.create_date = (now - timedelta(days=days)).replace(tzinfo=None)
    if used_days_ago is not None:
        used = (now - timedelta(days=used_days_ago)).replace(tzinfo=None)
        key.last_used = AccessKeyLastUsed(used, "s3", "us-east-1")


def _user(name: str, *keys: tuple[float, bool, float | None], now: datetime) -> list[str]:
    iam = boto3.client("iam")
    iam.create_user(UserName=name)
    ids = []
    for days, active, used in keys:
        key_id = iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
        if not active:
            iam.update_access_key(UserName=name, AccessKeyId=key_id, Status="Inactive")
        _age(name, key_id, days, used, now)
        ids.append(key_id)
    return ids


def _run(enforce: bool, now: datetime, *, verify_new_keys: bool = False) -> AccountResult:
    sessions = AccountSessions(
        boto3.Session(), "keyrotate-member", region="us-east-1", assume_in_own_account=False
    )
    return run_account(
        Account(ACCOUNT, "management", "owner@example.com"),
        sessions,
        run_options(dry_run=not enforce, read_policy_name=None, verify_new_keys=verify_new_keys),
        now=now,
        clock=lambda: now,
    )


def _kinds(result: AccountResult, user: str) -> list[tuple[str, str]]:
    found = next(u for u in result.users if u.user_name == user)
    return [(r.action.kind.value, r.outcome.value) for r in found.results]


@pytest.fixture
def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def test_rotation_creates_a_key_and_stores_it_in_a_secret_readable_only_by_the_user(
    moto_endpoint: str, now: datetime
) -> None:
    (old,) = _user("svc-rotate", (95, True, 1), now=now)
    result = _run(True, now, verify_new_keys=True)
    assert _kinds(result, "svc-rotate") == [("ROTATE", "done")]
    (rotation,) = result.users[0].results
    assert rotation.verified is True, rotation.error
    keys = boto3.client("iam").list_access_keys(UserName="svc-rotate")["AccessKeyMetadata"]
    new = next(k["AccessKeyId"] for k in keys if k["AccessKeyId"] != old)
    sm = boto3.client("secretsmanager")
    name = f"keyrotate/{ACCOUNT}/svc-rotate"
    value = json.loads(sm.get_secret_value(SecretId=name)["SecretString"])
    assert value["AccessKeyId"] == new
    assert set(value) == {"AccessKeyId", "SecretAccessKey", "UserName", "CreateDate"}
    tags = {t["Key"]: t["Value"] for t in sm.describe_secret(SecretId=name)["Tags"]}
    assert tags["keyrotate:access-key-id"] == new
    policy = json.loads(sm.get_resource_policy(SecretId=name)["ResourcePolicy"])
    allow = policy["Statement"][0]
    assert allow["Principal"]["AWS"] == [f"arn:aws:iam::{ACCOUNT}:user/svc-rotate"]
    user_tags = boto3.client("iam").list_user_tags(UserName="svc-rotate")["Tags"]
    assert "keyrotate:intent" not in {t["Key"] for t in user_tags}


def test_a_second_enforce_run_right_after_the_first_changes_nothing(
    moto_endpoint: str, now: datetime
) -> None:
    _user("svc-rotate", (95, True, 1), now=now)
    _user("svc-old-inactive", (120, False, None), now=now)
    first = _run(True, now)
    assert [r.outcome for u in first.users for r in u.results] == [Outcome.DONE, Outcome.DONE]
    second = _run(True, now + timedelta(minutes=1))
    changes = [r for u in second.users for r in u.results if r.action.kind.changes_keys]
    assert changes == []


def test_audit_plans_the_same_actions_and_changes_nothing(
    moto_endpoint: str, now: datetime
) -> None:
    _user("svc-rotate", (95, True, 1), now=now)
    _user("svc-hold", (101, True, 1), (11, True, None), now=now)
    iam = boto3.client("iam")
    before = iam.get_account_authorization_details(Filter=["User"])["UserDetailList"]
    keys_before = {
        u: iam.list_access_keys(UserName=u)["AccessKeyMetadata"] for u in ("svc-rotate", "svc-hold")
    }
    result = _run(False, now)
    assert _kinds(result, "svc-rotate") == [("ROTATE", "planned")]
    assert _kinds(result, "svc-hold") == [("HOLD", "notice")]
    assert iam.get_account_authorization_details(Filter=["User"])["UserDetailList"] == before
    assert {
        u: iam.list_access_keys(UserName=u)["AccessKeyMetadata"] for u in ("svc-rotate", "svc-hold")
    } == keys_before
    assert boto3.client("secretsmanager").list_secrets()["SecretList"] == []


def test_deactivation_is_recorded_and_deletion_waits_for_the_recovery_window(
    moto_endpoint: str, now: datetime
) -> None:
    old, _new = _user("svc-switched", (101, True, 12), (11, True, 1), now=now)
    assert _kinds(_run(True, now), "svc-switched") == [("DEACTIVATE", "done")]
    tags = boto3.client("iam").list_user_tags(UserName="svc-switched")["Tags"]
    assert {t["Key"] for t in tags} == {f"keyrotate:deactivated:{old}"}
    # Age 111 days on day +10 would allow deletion by age; the recorded deactivation wins.
    nine_days = _run(True, now + timedelta(days=9))
    assert [k for k, _ in _kinds(nine_days, "svc-switched")] == ["WARN"]
    ten_days = _run(True, now + timedelta(days=10))
    assert _kinds(ten_days, "svc-switched") == [("DELETE", "done")]
    remaining = boto3.client("iam").list_access_keys(UserName="svc-switched")["AccessKeyMetadata"]
    assert old not in {k["AccessKeyId"] for k in remaining}


def test_exemption_group_members_get_no_action(moto_endpoint: str, now: datetime) -> None:
    _user("svc-exempt", (200, True, 1), now=now)
    iam = boto3.client("iam")
    iam.create_group(GroupName="IAMKeyRotationExemptionGroup")
    iam.add_user_to_group(GroupName="IAMKeyRotationExemptionGroup", UserName="svc-exempt")
    result = _run(True, now)
    assert _kinds(result, "svc-exempt") == [(ActionKind.EXEMPT.value, "notice")]

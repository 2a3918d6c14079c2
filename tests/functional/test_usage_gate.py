"""SPEC rule 7 (revised) through the CLI, with verification on: the tool's own STS check of
a new key is never taken for a consumer's switch, and a key still used alongside its
replacement is held until it has gone unused for ``in_use_days``.

Three users of one account, each with a 95-day-old key used every day, are rotated by an
enforce run (each new key is checked with STS: IAM records that call as the key's last use).
Then time passes: every moment IAM and the tool recorded is moved back, as if the run had
happened that many days ago, and the consumers' calls are set the way each story needs:

- ``svc-stuck``: keeps using the old key only; the new key's sole use is keyrotate's check;
- ``svc-shared``: two consumers share the key; one switched, the other still uses the old key;
- ``svc-moved``: switched two days after the rotation; the old key is idle since.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from keyrotate.domain import state_tags as tags
from keyrotate.domain.models import Reason
from keyrotate_emulator.demo import READ_POLICY_NAME, ROLE_NAME
from keyrotate_emulator.seed import (
    MANAGEMENT_ACCOUNT_ID,
    KeySpec,
    OrganizationBuilder,
    UserSpec,
    age_key,
    create_member_roles,
    read_own_secret_policy,
    seed_users,
)

from .org_support import records_by_user, run_cli

ACCOUNT = MANAGEMENT_ACCOUNT_ID
USERS = ("svc-stuck", "svc-shared", "svc-moved")
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Keys:
    old: str
    new: str


def _backend_key(key_id: str) -> Any:
    from moto.iam.models import iam_backends

    return iam_backends[ACCOUNT]["global"].access_keys[key_id]


def _aware(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.replace(tzinfo=UTC)


def _last_used(key_id: str) -> datetime | None:
    used = _backend_key(key_id).last_used
    return None if used is None else _aware(used.timestamp)


def _pass_days(days: float) -> None:
    """Make everything IAM and the tool recorded ``days`` older: time has passed."""
    shift = timedelta(days=days)
    iam = boto3.client("iam")
    sm = boto3.client("secretsmanager")
    for user in USERS:
        for meta in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]:
            key_id = meta["AccessKeyId"]
            used = _last_used(key_id)
            age_key(ACCOUNT, key_id, meta["CreateDate"] - shift, used and used - shift)
        moved = {
            t["Key"]: tags.stamp(when - shift)
            for t in iam.list_user_tags(UserName=user)["Tags"]
            if t["Key"].startswith(tags.USER_DEACTIVATED)
            and (when := tags.parse_stamp(t["Value"])) is not None
        }
        if moved:
            iam.tag_user(UserName=user, Tags=[{"Key": k, "Value": v} for k, v in moved.items()])
        name = f"keyrotate/{ACCOUNT}/{user}"
        secret_tags = {t["Key"]: t["Value"] for t in sm.describe_secret(SecretId=name)["Tags"]}
        stamps = (tags.ROTATED_AT_TAG, tags.SELF_USED_TAG, tags.PREDECESSOR_DEACTIVATED_TAG)
        older = {
            k: tags.stamp(when - shift)
            for k in stamps
            if (when := tags.parse_stamp(secret_tags.get(k))) is not None
        }
        sm.tag_resource(SecretId=name, Tags=[{"Key": k, "Value": v} for k, v in older.items()])


def _use(key_id: str, at: datetime) -> None:
    """A consumer's call with the key at ``at``, as IAM's last-used data shows it."""
    meta = _backend_key(key_id)
    age_key(ACCOUNT, key_id, _aware(meta.create_date) or at, at)


def _enforce() -> dict[tuple[str, str], dict[str, Any]]:
    """One enforce run with the defaults (verification on); each user's records by key id."""
    run = run_cli("--enforce", env={"IAMRoleName": ROLE_NAME})
    assert run.exit_code == 0, run.stderr
    return {
        (user, record["access_key_id"]): record
        for (_, user), records in records_by_user(run.report).items()
        for record in records
    }


@pytest.fixture
def rotated(moto_endpoint: str) -> dict[str, Keys]:
    now = datetime.now(UTC)
    OrganizationBuilder(moto_endpoint)
    create_member_roles(moto_endpoint, [ACCOUNT], ROLE_NAME)
    boto3.client("iam").create_policy(
        PolicyName=READ_POLICY_NAME, PolicyDocument=read_own_secret_policy(ACCOUNT)
    )
    specs = [UserSpec(u, (KeySpec(95, used_days_ago=0.1),)) for u in USERS]
    seeded = seed_users(moto_endpoint, ACCOUNT, specs, now)
    records = _enforce()
    keys: dict[str, Keys] = {}
    for user in USERS:
        old = seeded[user][0].key_id
        rotation = records[(user, old)]
        assert (rotation["action"], rotation["outcome"]) == ("ROTATE", "done")
        assert rotation["new_key_verified"] is True
        keys[user] = Keys(old, rotation["new_access_key_id"])
        # IAM recorded keyrotate's STS check as the new key's last use, like a consumer's.
        assert _last_used(keys[user].new) is not None
    return keys


def test_old_keys_are_held_while_used_and_deactivated_once_idle_for_in_use_days(
    rotated: dict[str, Keys],
) -> None:
    stuck, shared, moved = (rotated[u] for u in USERS)
    _pass_days(10)  # the install window is over
    now = datetime.now(UTC)
    _use(stuck.old, now - HOUR)  # the new key: only keyrotate's check, ten days ago
    _use(shared.old, now - HOUR)
    _use(shared.new, now - 2 * HOUR)
    _use(moved.old, now - 8 * DAY)
    _use(moved.new, now - HOUR)

    second = _enforce()
    hold = second[("svc-stuck", stuck.old)]
    assert (hold["action"], hold["reason"]) == ("HOLD", Reason.CONSUMER_NOT_SWITCHED.sentence)
    hold = second[("svc-shared", shared.old)]
    assert (hold["action"], hold["reason"]) == ("HOLD", Reason.STILL_IN_USE.sentence)
    retired = second[("svc-moved", moved.old)]
    assert (retired["action"], retired["outcome"]) == ("DEACTIVATE", "done")
    statuses = _statuses()
    assert statuses[stuck.old] == statuses[shared.old] == "Active"
    assert statuses[moved.old] == "Inactive"

    # Eight more days: the stuck consumer gave up on the old key and the shared one's last
    # user switched the day after the second run; both old keys have been idle > 7 days.
    _pass_days(8)
    now = datetime.now(UTC)
    _use(shared.new, now - HOUR)
    third = _enforce()
    for keys, user in ((stuck, "svc-stuck"), (shared, "svc-shared")):
        record = third[(user, keys.old)]
        assert (record["action"], record["outcome"]) == ("DEACTIVATE", "done"), record
    statuses = _statuses()
    assert statuses[stuck.old] == statuses[shared.old] == "Inactive"
    assert statuses[stuck.new] == statuses[shared.new] == statuses[moved.new] == "Active"


def _statuses() -> dict[str, str]:
    iam = boto3.client("iam")
    return {
        k["AccessKeyId"]: k["Status"]
        for user in USERS
        for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    }

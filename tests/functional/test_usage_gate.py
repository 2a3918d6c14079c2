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

from .clock_support import aware, backend_key, last_used, pass_days
from .org_support import records_by_user, run_cli

ACCOUNT = MANAGEMENT_ACCOUNT_ID
USERS = ("svc-stuck", "svc-shared", "svc-moved")
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Keys:
    old: str
    new: str


def _last_used(key_id: str) -> datetime | None:
    return last_used(ACCOUNT, key_id)


def _pass_days(days: float) -> None:
    """Make everything IAM and the tool recorded ``days`` older: time has passed."""
    pass_days(ACCOUNT, USERS, days)


def _use(key_id: str, at: datetime) -> None:
    """A consumer's call with the key at ``at``, as IAM's last-used data shows it."""
    meta = backend_key(ACCOUNT, key_id)
    age_key(ACCOUNT, key_id, aware(meta.create_date) or at, at)


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

"""Moving time forward for CLI runs against the emulator (the tests' clock is the real one).

A CLI run reads the real clock, so "ten days later" is made by moving every moment IAM and
keyrotate recorded ten days back: the keys' creation and last use (moto's backend objects,
in this process), the users' deactivation tags and the secrets' state tags.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from keyrotate.domain import state_tags as tags
from keyrotate_emulator.seed import age_key

DAY = timedelta(days=1)
_SECRET_STAMPS = (tags.ROTATED_AT_TAG, tags.SELF_USED_TAG, tags.PREDECESSOR_DEACTIVATED_TAG)
# per-key moments on the user: deactivated, deactivated as leaked, snoozed until
_USER_STAMPS = (tags.USER_DEACTIVATED, tags.USER_COMPROMISED, tags.USER_SNOOZE)


def backend_key(account_id: str, key_id: str) -> Any:
    from moto.iam.models import iam_backends

    return iam_backends[account_id]["global"].access_keys[key_id]


def aware(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.replace(tzinfo=UTC)


def last_used(account_id: str, key_id: str) -> datetime | None:
    used = backend_key(account_id, key_id).last_used
    return None if used is None else aware(used.timestamp)


def pass_days(account_id: str, users: Iterable[str], days: float) -> None:
    """Make everything IAM and the tool recorded about ``users`` ``days`` older.

    Clients are the caller's (``AWS_ENDPOINT_URL`` and the management's test keys); each
    user's secret is ``keyrotate/<account>/<user>``, and may not exist yet.
    """
    shift = timedelta(days=days)
    iam = boto3.client("iam")
    sm = boto3.client("secretsmanager")
    for user in users:
        for meta in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]:
            key_id = meta["AccessKeyId"]
            used = last_used(account_id, key_id)
            age_key(account_id, key_id, meta["CreateDate"] - shift, used and used - shift)
        moved = {
            t["Key"]: tags.stamp(when - shift)
            for t in iam.list_user_tags(UserName=user)["Tags"]
            if t["Key"].startswith(_USER_STAMPS)
            and (when := tags.parse_stamp(t["Value"])) is not None
        }
        if moved:
            iam.tag_user(UserName=user, Tags=[{"Key": k, "Value": v} for k, v in moved.items()])
        name = f"keyrotate/{account_id}/{user}"
        try:
            described = sm.describe_secret(SecretId=name)
        except sm.exceptions.ResourceNotFoundException:
            continue
        secret_tags = {t["Key"]: t["Value"] for t in described.get("Tags", [])}
        older = {
            k: tags.stamp(when - shift)
            for k in _SECRET_STAMPS
            if (when := tags.parse_stamp(secret_tags.get(k))) is not None
        }
        if older:
            sm.tag_resource(SecretId=name, Tags=[{"Key": k, "Value": v} for k, v in older.items()])

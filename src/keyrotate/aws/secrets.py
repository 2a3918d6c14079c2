"""Secrets Manager adapter: one secret per IAM user, holding that user's current key.

The secret's value is JSON (AccessKeyId, SecretAccessKey, UserName, CreateDate); its tags
carry the tool's state (:mod:`keyrotate.domain.state_tags`), so scans read tags only
(ListSecrets) and never a value. The resource policy lets only the user and configured
readers read it, and denies every other principal.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from keyrotate.aws.errors import translate
from keyrotate.domain.errors import AwsError
from keyrotate.domain.kms_keys import key_in_region
from keyrotate.domain.results import SecretLocation
from keyrotate.domain.secret import SecretText
from keyrotate.domain.state_tags import HELD_KEY_TAG, ROTATED_AT_TAG, SELF_USED_TAG, STALE_TAG

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_secretsmanager.type_defs import ReplicaRegionTypeTypeDef, TagTypeDef

# Reading the tool's state (tags, replicas) needs no value and no KMS key: an audit's share.
READ_PERMISSIONS: tuple[str, ...] = (
    "secretsmanager:ListSecrets",
    "secretsmanager:DescribeSecret",
)
# Storing a key: enforce mode only.
WRITE_PERMISSIONS: tuple[str, ...] = (
    "secretsmanager:CreateSecret",
    "secretsmanager:PutSecretValue",
    "secretsmanager:PutResourcePolicy",
    "secretsmanager:ReplicateSecretToRegions",
    "secretsmanager:TagResource",
)
# `keyrotate cleanup --enforce` only: an orphaned secret, into its recovery window (never at
# once). Not a run's: no Lambda function is granted it (keyrotate.permissions).
CLEANUP_PERMISSIONS: tuple[str, ...] = (
    "secretsmanager:RemoveRegionsFromReplication",  # a replicated secret cannot be deleted
    "secretsmanager:DeleteSecret",
)
PERMISSIONS: tuple[str, ...] = READ_PERMISSIONS + WRITE_PERMISSIONS + CLEANUP_PERMISSIONS

# The tags that say which key the secret holds: written just before the value, restored if
# the value cannot be written.
_KEY_TAGS = (HELD_KEY_TAG, ROTATED_AT_TAG, SELF_USED_TAG, STALE_TAG)

# With a customer-managed key (central mode's SecretsKmsKeyId, or a member alias naming one),
# Secrets Manager encrypts the new value with the caller's permission on that key.
KMS_PERMISSIONS: tuple[str, ...] = ("kms:GenerateDataKey", "kms:Decrypt")

READ_ACTIONS = ("secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret")


@dataclass(frozen=True, slots=True)
class SecretInfo:
    """What a listing tells of one secret: enough to read state, never the value."""

    name: str
    arn: str
    tags: Mapping[str, str] = field(default_factory=dict)
    replica_regions: tuple[str, ...] = ()
    current_version: str | None = None  # the AWSCURRENT version id, None if no value yet

    def holds_value_of(self, key_id: str | None) -> bool:
        """Whether the current value is the one the tool wrote for ``key_id``.

        The tool writes each key's value under :func:`value_version`, so this tells from a
        listing alone (no value read) whether tags naming a key were followed by its value.
        """
        return key_id is not None and self.current_version == value_version(self.name, key_id)


def value_version(name: str, key_id: str) -> str:
    """The version id (idempotency token) under which ``key_id``'s value is written."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"keyrotate:{name}:{key_id}"))


def read_policy(readers: Sequence[str]) -> str:
    """Only ``readers`` (the user first) may read; every other principal is denied.

    The deny names read actions only, so the rotation role can still write new versions.
    """
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ReadByOwnerAndReaders",
                    "Effect": "Allow",
                    "Principal": {"AWS": list(readers)},
                    "Action": list(READ_ACTIONS),
                    "Resource": "*",
                },
                {
                    "Sid": "DenyEveryoneElse",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "secretsmanager:GetSecretValue",
                    "Resource": "*",
                    "Condition": {"StringNotEquals": {"aws:PrincipalArn": list(readers)}},
                },
            ],
        },
        sort_keys=True,
    )


class SecretStore:
    """The secrets of one account and home region (a member's, or the central one)."""

    def __init__(
        self,
        client: SecretsManagerClient,
        *,
        account_id: str,
        region: str,
        kms_key_id: str | None = None,
        replica_regions: Sequence[str] = (),
    ) -> None:
        self._client = client
        self.account_id = account_id
        self.region = region
        self._kms_key_id = kms_key_id
        self._replica_regions = tuple(r for r in replica_regions if r != region)

    def list_by_prefix(self, prefix: str) -> dict[str, SecretInfo]:
        """Every secret whose name starts with ``prefix``, by name, with tags and replicas."""
        found: dict[str, SecretInfo] = {}
        with translate("secretsmanager:ListSecrets"):
            pages = self._client.get_paginator("list_secrets").paginate(
                Filters=[{"Key": "name", "Values": [prefix]}]
            )
            for page in pages:
                for entry in page["SecretList"]:
                    if entry["Name"].startswith(prefix):
                        found[entry["Name"]] = _info(entry)
        return found

    def describe(self, name: str) -> SecretInfo | None:
        try:
            with translate("secretsmanager:DescribeSecret"):
                entry = self._client.describe_secret(SecretId=name)
        except AwsError as exc:
            if exc.code == "ResourceNotFoundException":
                return None
            raise
        return _info(entry)

    def store(
        self,
        name: str,
        *,
        value: Mapping[str, str],
        secret: SecretText,
        tags: Mapping[str, str],
        readers: Sequence[str],
    ) -> SecretLocation:
        """Put the new key in the secret (made first if missing) as the *last* step.

        Order, so that a failure at any step leaves the secret holding a key that exists (the
        caller deletes the new key when this raises): create the secret empty if missing
        (tags without a key id, replicas) -> replicas -> resource policy -> tags naming the
        new key -> the value. If the value cannot be written, the previous tags are put back
        (or the secret is marked stale when it held nothing). The write carries an
        idempotency token derived from the key id, so a write whose reply was lost is
        recognised as done (DescribeSecret) instead of being undone.

        ``value`` is the JSON body without the secret access key, which is added here, from
        ``secret``, at the last moment, so no caller ever holds it in a plain dict.
        """
        existing = self.describe(name)
        if existing is None:
            existing = self._create_empty(name, tags)
        missing = [r for r in self._replica_regions if r not in existing.replica_regions]
        if missing:
            with translate("secretsmanager:ReplicateSecretToRegions"):
                self._client.replicate_secret_to_regions(
                    SecretId=name, AddReplicaRegions=self._replicas(missing)
                )
        with translate("secretsmanager:PutResourcePolicy"):
            self._client.put_resource_policy(
                SecretId=name,
                ResourcePolicy=read_policy(readers),
                BlockPublicPolicy=True,
            )
        token = value_version(name, value["AccessKeyId"])
        body = json.dumps({**value, "SecretAccessKey": secret.reveal()})
        try:
            # A tag write whose reply was lost did happen: undo it too.
            with translate("secretsmanager:TagResource"):
                self._client.tag_resource(SecretId=name, Tags=_tag_list(tags))
            with translate("secretsmanager:PutSecretValue"):
                self._client.put_secret_value(
                    SecretId=name, SecretString=body, ClientRequestToken=token
                )
        except AwsError:
            if not self._is_current(name, token):
                self._restore_tags(name, existing.tags)
                raise
        return SecretLocation(
            name=name,
            arn=existing.arn,
            region=self.region,
            account_id=self.account_id,
            replica_regions=tuple(sorted({*existing.replica_regions, *missing})),
        )

    def _create_empty(self, name: str, tags: Mapping[str, str]) -> SecretInfo:
        """A secret with no value yet: it names no key until the value is written."""
        quiet = {k: v for k, v in tags.items() if k not in _KEY_TAGS}
        kwargs: dict[str, Any] = {"Name": name, "Tags": _tag_list(quiet)}
        if self._kms_key_id:
            kwargs["KmsKeyId"] = self._kms_key_id
        if self._replica_regions:
            kwargs["AddReplicaRegions"] = self._replicas(self._replica_regions)
        with translate("secretsmanager:CreateSecret"):
            arn = self._client.create_secret(**kwargs)["ARN"]
        return SecretInfo(name=name, arn=arn, tags=quiet, replica_regions=self._replica_regions)

    def _is_current(self, name: str, token: str) -> bool:
        """Whether the version ``token`` names is AWSCURRENT (its write did happen)."""
        try:
            with translate("secretsmanager:DescribeSecret"):
                stages = self._client.describe_secret(SecretId=name).get("VersionIdsToStages", {})
        except AwsError:
            return False
        return "AWSCURRENT" in stages.get(token, [])

    def _restore_tags(self, name: str, previous: Mapping[str, str]) -> None:
        """Put back the tags of the key the secret still holds; best effort."""
        restore = {k: previous[k] for k in _KEY_TAGS if k in previous}
        if HELD_KEY_TAG not in restore:
            restore = {STALE_TAG: "true"}  # it held no key before: name none now
        # If this fails too, the tags name a deleted key: the next scan treats it as held by
        # none and rotates again.
        with contextlib.suppress(AwsError):
            self.tag(name, restore)

    def delete(
        self, name: str, *, recovery_window_days: int, replica_regions: Sequence[str] = ()
    ) -> None:
        """Schedule the secret's deletion after ``recovery_window_days`` (7 to 30), during
        which RestoreSecret brings it back. Never ForceDeleteWithoutRecovery.

        Secrets Manager refuses to delete a secret that still has replicas: they are removed
        first (at once: a replica has no recovery window; the next rotation into a restored
        secret replicates it again)."""
        if replica_regions:
            with translate("secretsmanager:RemoveRegionsFromReplication"):
                self._client.remove_regions_from_replication(
                    SecretId=name, RemoveReplicaRegions=list(replica_regions)
                )
        with translate("secretsmanager:DeleteSecret"):
            self._client.delete_secret(SecretId=name, RecoveryWindowInDays=recovery_window_days)

    def tag(self, name: str, tags: Mapping[str, str]) -> None:
        with translate("secretsmanager:TagResource"):
            self._client.tag_resource(SecretId=name, Tags=_tag_list(tags))

    def _replicas(self, regions: Iterable[str]) -> list[ReplicaRegionTypeTypeDef]:
        """Each replica under the key of its own region (KMS keys are regional).

        Without a key, a replica gets its region's aws/secretsmanager, as the primary does.
        """
        replicas: list[ReplicaRegionTypeTypeDef] = []
        for region in regions:
            key = key_in_region(self._kms_key_id, region)
            replicas.append({"Region": region, "KmsKeyId": key} if key else {"Region": region})
        return replicas


def _tag_list(tags: Mapping[str, str]) -> list[TagTypeDef]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def _info(entry: Mapping[str, Any]) -> SecretInfo:
    # ListSecrets and DescribeSecret name the version map differently.
    stages = entry.get("SecretVersionsToStages") or entry.get("VersionIdsToStages") or {}
    return SecretInfo(
        name=entry["Name"],
        arn=entry["ARN"],
        tags={t["Key"]: t["Value"] for t in entry.get("Tags", [])},
        replica_regions=tuple(sorted(r["Region"] for r in entry.get("ReplicationStatus", []))),
        current_version=next((v for v, s in stages.items() if "AWSCURRENT" in s), None),
    )

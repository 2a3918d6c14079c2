"""Which KMS key encrypts a secret in each region it lives in.

Secrets Manager resolves a ``KmsKeyId`` the way KMS does: a bare key id or ``alias/...``
names a key of the *calling* account in the secret's region; an ARN names its own account
and region. So each mode names its key differently:

- **member mode**: the secret lives in the key's own account, which is the caller. The key
  is that account's ``aws/secretsmanager`` (None here), or an alias the operator created in
  every member account (``alias/...``, resolved in each account and each replica region).
  A key id of the deployment account would be looked up in the member account and fail.
- **central mode**: one customer-managed key of the central account, named by its ARN,
  whose policy lets the organization's users decrypt. A replica in another region needs
  that region's key: the replica of a *multi-Region* key has the same ``mrk-`` id, so its
  ARN is the primary's with the region changed. A single-Region key has no such twin, and
  an alias may name a different key in each region: both are refused with replica regions.

    >>> primary = "arn:aws:kms:us-east-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef"
    >>> key_in_region(primary, "eu-west-1")
    'arn:aws:kms:eu-west-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef'
    >>> key_in_region("alias/keyrotate", "eu-west-1")
    'alias/keyrotate'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from keyrotate.domain.errors import InputError

# A key id is a UUID, or "mrk-" and 32 hex digits for a multi-Region key.
_KEY_ID = r"(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})"
# An alias name: "alias/" then 1 to 250 of letters, digits and /_- (KMS's own limit is 256).
_ALIAS = r"alias/[A-Za-z0-9/_-]{1,250}"
KEY_ID = re.compile(_KEY_ID)
ALIAS = re.compile(_ALIAS)
_ARN = re.compile(
    rf"arn:(?P<partition>aws[a-z-]*):kms:(?P<region>[a-z0-9-]+):(?P<account>\d{{12}}):"
    rf"(?P<resource>key/{_KEY_ID}|{_ALIAS})"
)
MULTI_REGION_PREFIX = "mrk-"


@dataclass(frozen=True, slots=True)
class KeyArn:
    """The parts of a KMS key or alias ARN."""

    partition: str
    region: str
    account: str
    resource: str  # "key/<id>" or "alias/<name>"

    @property
    def is_alias(self) -> bool:
        return self.resource.startswith("alias/")

    def in_region(self, region: str) -> str:
        return f"arn:{self.partition}:kms:{region}:{self.account}:{self.resource}"


def parse_key_arn(identifier: str) -> KeyArn | None:
    found = _ARN.fullmatch(identifier)
    if found is None:
        return None
    return KeyArn(**found.groupdict())


def is_key_identifier(identifier: str) -> bool:
    """A key id, an alias name, or a key or alias ARN: what KmsKeyId accepts."""
    return bool(
        KEY_ID.fullmatch(identifier)
        or ALIAS.fullmatch(identifier)
        or parse_key_arn(identifier) is not None
    )


def is_multi_region(identifier: str) -> bool:
    """Whether ``identifier`` names a multi-Region key by its id (bare or in a key ARN)."""
    arn = parse_key_arn(identifier)
    key_id = arn.resource.removeprefix("key/") if arn and not arn.is_alias else identifier
    return key_id.startswith(MULTI_REGION_PREFIX) and KEY_ID.fullmatch(key_id) is not None


def key_in_region(identifier: str | None, region: str) -> str | None:
    """The key that encrypts a replica in ``region``: None stays the default key.

    A key ARN gets ``region`` in place of its own (the multi-Region replica; callers check
    :func:`is_multi_region` first). A bare id or alias is resolved by Secrets Manager in the
    replica's region already, so it is passed on as it is.
    """
    if identifier is None:
        return None
    arn = parse_key_arn(identifier)
    return arn.in_region(region) if arn is not None else identifier


def check_central_key(
    identifier: str | None,
    *,
    central_account: str,
    home_region: str | None,
    replica_regions: Sequence[str],
    field: str = "secrets_kms_key_id",
) -> None:
    """Refuse a central-mode key no member user could read with, or no replica could use.

    ``home_region`` None: not known yet (the profile's region); checked again once it is.
    """
    if identifier is None:
        raise InputError(
            field,
            identifier,
            "set the ARN of a customer-managed KMS key of the central account whose policy "
            "lets the organization's users decrypt (main.yaml's SecretsKey): Secrets "
            "Manager's default key cannot be used by other accounts, so no member user "
            "could read its secret",
        )
    arn = parse_key_arn(identifier)
    if arn is not None and arn.account != central_account:
        raise InputError(
            field,
            identifier,
            f"use a key of the central account {central_account}, where the secrets are "
            f"stored (this one belongs to {arn.account})",
        )
    if arn is not None and home_region is not None and arn.region != home_region:
        raise InputError(
            field,
            identifier,
            f"use the key of the home region {home_region}: KMS keys are regional "
            f"(this one is in {arn.region})",
        )
    if replica_regions and not is_multi_region(identifier):
        raise InputError(
            field,
            identifier,
            "with credential_replication_regions, name a multi-Region key (id 'mrk-...') "
            "by its ARN: each replica is encrypted with the key's replica in its region, "
            "which only a multi-Region key has under the same id",
        )

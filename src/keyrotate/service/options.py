"""What one run needs to know, resolved once from the validated settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from keyrotate.domain.policy import RotationPolicy

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Everything the service reads; built from :class:`keyrotate.config.Settings`."""

    policy: RotationPolicy = field(default_factory=RotationPolicy)
    enforce: bool = False
    region: str = "us-east-1"
    exemption_group: str = "IAMKeyRotationExemptionGroup"
    exemption_tag: str = "keyrotate:exempt"
    owner_tag: str = "ResourceOwner"
    secret_name_format: str = "keyrotate/{account_id}/{user_name}"
    reader_principals: tuple[str, ...] = ()
    # The customer-managed policy (member-role template) letting a user read its own secret.
    read_policy_name: str | None = "keyrotate-read-own-secret"
    force_users: frozenset[tuple[str, str]] = frozenset()
    central_account: str | None = None  # None: secrets live in each member account
    # The KmsKeyId of secrets in the home region, None for aws/secretsmanager: the member
    # alias, or the central key (Settings.secrets_kms_key); replicas: kms_keys.key_in_region.
    kms_key_id: str | None = None
    replica_regions: tuple[str, ...] = ()
    verify_new_keys: bool = False
    # IAM is eventually consistent: the first check of a new key waits this long, doubling.
    verify_first_wait: float = 1.0
    scan_mode: str = "auto"  # auto | report | per-user
    workers: int = 8

    def secret_name(self, account_id: str, user_name: str) -> str:
        return self.secret_name_format.format(account_id=account_id, user_name=user_name)

    def secret_prefix(self, account_id: str) -> str:
        """The fixed start of every secret name of ``account_id`` (for one ListSecrets)."""
        head = self.secret_name_format.split("{user_name}", 1)[0]
        return head.format(account_id=account_id)

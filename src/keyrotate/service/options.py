"""What one run needs to know, resolved once from the validated settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from keyrotate.config import ScanMode
from keyrotate.domain.exemptions import ScopeExemption
from keyrotate.domain.kms_keys import check_central_key
from keyrotate.domain.policy import RotationPolicy

if TYPE_CHECKING:
    from keyrotate.config import Settings

Clock = Callable[[], datetime]

# IAM is eventually consistent: the first check of a new key waits this long, doubling. Not a
# setting (AWS's delay is not the operator's to tune); the fault tests shorten it.
VERIFY_FIRST_WAIT_SECONDS = 1.0


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Everything the service reads. Made by :meth:`from_settings` only, so it has no
    defaults of its own: a default lives in :class:`keyrotate.config.Settings`, once."""

    policy: RotationPolicy
    enforce: bool
    region: str
    exemption_group: str
    exemption_tag: str
    # Whole accounts exempt by id or OU (AccountExemptions); matched per account by
    # keyrotate.domain.exemptions.scope_exemption.
    account_exemptions: tuple[ScopeExemption, ...]
    # Days a secret stays orphaned before `keyrotate cleanup --enforce` deletes it.
    orphan_grace_days: int
    # member-role.yaml's ProtectedUserArns and ManagedUserPath (keyrotate.domain.protection)
    protected_user_arns: tuple[str, ...]
    managed_user_path: str
    owner_tag: str
    secret_name_format: str
    reader_principals: tuple[str, ...]
    # The customer-managed policy (member-role template) letting a user read its own secret.
    read_policy_name: str | None
    force_users: frozenset[tuple[str, str]]
    central_account: str | None  # None: secrets live in each member account
    # The KmsKeyId of secrets in the home region, None for aws/secretsmanager: the member
    # alias, or the central key (Settings.secrets_kms_key); replicas: kms_keys.key_in_region.
    kms_key_id: str | None
    replica_regions: tuple[str, ...]
    verify_new_keys: bool
    verify_first_wait: float
    scan_mode: ScanMode
    workers: int
    user_workers: int  # users of one account changed at once (keyrotate.service.guarded)
    # the guardrails of an enforce run (keyrotate.service.guardrails)
    max_actions_per_run: int
    max_actions_per_account: int
    failure_breaker_percent: int
    failure_breaker_min_actions: int
    kill_switch_parameter: str | None
    # keyrotate rotate/restore (keyrotate.service.incident): the one user a command acts on
    # (None: every user) and the users reported leaked. No setting: a command gives them.
    only_users: frozenset[tuple[str, str]] | None
    compromised_users: frozenset[tuple[str, str]]

    @classmethod
    def from_settings(cls, settings: Settings, region: str) -> RunOptions:
        """The run's options from validated settings (the one mapping between the two).

        The home region may be known only now (the profile's): the central key is checked
        against it again, before any change.
        """
        central = settings.secrets_account
        if central is not None and settings.region is None:
            check_central_key(
                settings.secrets_kms_key_id,
                central_account=central,
                home_region=region,
                replica_regions=settings.credential_replication_regions,
            )
        return cls(
            policy=settings.policy(),
            enforce=settings.enforce,
            region=region,
            exemption_group=settings.exemption_group,
            exemption_tag=settings.exemption_tag,
            account_exemptions=settings.account_exemptions,
            orphan_grace_days=settings.orphan_grace_days,
            protected_user_arns=settings.protected_user_arns,
            managed_user_path=settings.managed_user_path,
            owner_tag=settings.resource_owner_tag,
            secret_name_format=settings.secret_name_format,
            reader_principals=settings.secret_reader_principals,
            read_policy_name=settings.read_policy_name or None,
            force_users=settings.forced_user_ids(),
            central_account=central,
            kms_key_id=settings.secrets_kms_key,
            replica_regions=settings.credential_replication_regions,
            verify_new_keys=settings.verify_new_keys,
            verify_first_wait=VERIFY_FIRST_WAIT_SECONDS,
            scan_mode=settings.scan_mode,
            workers=settings.workers,
            user_workers=settings.user_workers,
            max_actions_per_run=settings.max_actions_per_run,
            max_actions_per_account=settings.max_actions_per_account,
            failure_breaker_percent=settings.failure_breaker_percent,
            failure_breaker_min_actions=settings.failure_breaker_min_actions,
            kill_switch_parameter=settings.kill_switch_parameter,
            only_users=None,
            compromised_users=frozenset(),
        )

    def secret_name(self, account_id: str, user_name: str) -> str:
        return self.secret_name_format.format(account_id=account_id, user_name=user_name)

    def secret_prefix(self, account_id: str) -> str:
        """The fixed start of every secret name of ``account_id`` (for one ListSecrets)."""
        head = self.secret_name_format.split("{user_name}", 1)[0]
        return head.format(account_id=account_id)

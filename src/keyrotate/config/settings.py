"""The one validated configuration model, and the table that names its environment variables.

``ENV_VARIABLES`` is the single source for the field <-> environment-name mapping; the names
follow the parameters of the AWS pattern (``DryRunFlag``, ``RotationPeriod``, ...) so the
Lambda deployment passes CloudFormation parameters straight through as environment variables.

Field checks live in :mod:`keyrotate.config.values`; the checks that involve several fields
live in :meth:`Settings._check_combination` (the mail settings in :meth:`Settings._check_mail`,
and nowhere else: :class:`~keyrotate.notify.NotifyOptions` is made from these settings and
trusted), and the rotation thresholds are checked by
:class:`~keyrotate.domain.policy.RotationPolicy` itself (one rule, one place).
"""

from __future__ import annotations

from enum import StrEnum
from types import MappingProxyType
from typing import Annotated, Final, Literal, NamedTuple

from pydantic import BaseModel, BeforeValidator, ConfigDict, PrivateAttr, model_validator

from keyrotate.aws.regions import partition_for_region
from keyrotate.config.values import (
    AccountExemption,
    AccountId,
    ActionCap,
    ActionCount,
    BucketName,
    Days,
    EmailAddress,
    EmailDomain,
    EmailSender,
    EventBusName,
    ExternalId,
    Flag,
    ForcedUser,
    GraceDays,
    GroupName,
    HostName,
    IamName,
    IamPath,
    KmsAlias,
    KmsKeyRef,
    OrgId,
    OrgUnitId,
    Percent,
    Port,
    PrincipalArn,
    Region,
    SecretNameFormat,
    SessionName,
    SsmParameterName,
    TagKey,
    TemplateLocation,
    UserArnPattern,
    UserWorkerCount,
    WorkerCount,
    comma_list,
    exemption_list,
    lowercase,
    placeholders_of,
)
from keyrotate.domain.errors import InputError
from keyrotate.domain.kms_keys import check_central_key
from keyrotate.domain.mail_domains import recipient_allowed
from keyrotate.domain.policy import RotationPolicy, UnusedKeyAction
from keyrotate.notify.options import EmailTransport, SmtpSecurity


class ScanMode(StrEnum):
    """How users and keys are read: the IAM credential report, per-user calls, or the cheaper."""

    AUTO = "auto"
    REPORT = "report"
    PER_USER = "per-user"


Source = Literal["flag", "env", "file", "default"]

#: field name -> environment variable names, first match wins. One table, used by the loader,
#: by ``keyrotate config`` and by the deployment templates' tests.
ENV_VARIABLES: Final = MappingProxyType(
    {
        "dry_run": ("DryRunFlag",),
        "rotate_after_days": ("RotationPeriod",),
        "deactivate_after_days": ("InactivePeriod",),
        "delete_after_days": ("DeletePeriod",),
        "install_window_days": ("InstallWindow",),
        "recovery_window_days": ("RecoveryWindow",),
        "warn_before_days": ("WarnPeriod",),
        "unused_key_action": ("UnusedKeyAction",),
        "hold_if_previous_in_use": ("HoldIfPreviousInUse",),
        "hold_escalate_after_days": ("HoldEscalateAfter",),
        "in_use_days": ("InUseDays",),
        "org_list_account": ("OrgListAccount",),
        "org_list_role": ("OrgListRole",),
        "aws_org_id": ("AWSOrgID",),
        "iam_role_name": ("IAMRoleName",),
        "external_id": ("ExternalId",),
        "session_name": ("SessionName",),
        "organizational_units": ("OrganizationalUnits",),
        "include_accounts": ("IncludeAccounts",),
        "exclude_accounts": ("ExcludeAccounts",),
        "exemption_group": ("IAMExemptionGroup",),
        "exemption_tag": ("ExemptionTag",),
        "account_exemptions": ("AccountExemptions",),
        "protected_user_arns": ("ProtectedUserArns",),
        "managed_user_path": ("ManagedUserPath",),
        "resource_owner_tag": ("ResourceOwnerTag",),
        "force_users": ("ForceUsers",),
        "workers": ("MaxWorkers",),
        "user_workers": ("UserWorkers",),
        "region": ("AWS_REGION", "AWS_DEFAULT_REGION"),
        "profile": ("AWS_PROFILE",),
        "scan_mode": ("ScanMode",),
        "verify_new_keys": ("VerifyNewKeys",),
        "max_actions_per_run": ("MaxActionsPerRun",),
        "max_actions_per_account": ("MaxActionsPerAccount",),
        "failure_breaker_percent": ("FailureBreakerPercent",),
        "failure_breaker_min_actions": ("FailureBreakerMinActions",),
        "kill_switch_parameter": ("KillSwitchParameter",),
        "store_secrets_in_central_account": ("StoreSecretsInCentralAccount",),
        "central_account": ("CentralAccount",),
        "secrets_kms_key_id": ("SecretsKmsKeyId",),
        "member_secrets_kms_key_alias": ("MemberSecretsKmsKeyAlias",),
        "secret_name_format": ("SecretNameFormat",),
        "secret_reader_principals": ("SecretReaderPrincipals",),
        "credential_replication_regions": ("CredentialReplicationRegions",),
        "admin_email_address": ("AdminEmailAddress",),
        "allowed_email_domains": ("AllowedEmailDomains",),
        "email_transport": ("EmailTransport",),
        "email_sender": ("EmailSender",),
        "ses_region": ("SESRegion",),
        "smtp_host": ("SMTPHost",),
        "smtp_port": ("SMTPPort",),
        "smtp_security": ("SMTPSecurity",),
        "smtp_user_param_name": ("SMTPUserParamName",),
        "smtp_password_param_name": ("SMTPPasswordParamName",),
        "mail_dir": ("MailDir",),
        "email_template_audit": ("EmailTemplateAudit",),
        "email_template_enforce": ("EmailTemplateEnforce",),
        "email_template_digest": ("EmailTemplateDigest",),
        "template_bucket_owner": ("TemplateBucketOwner",),
        "email_footer": ("EmailFooter",),
        "run_lambda_in_vpc": ("RunLambdaInVPC",),
        "report_bucket": ("ReportBucket",),
        "report_prefix": ("ReportPrefix",),
        "read_policy_name": ("ReadSecretPolicyName", "ReadPolicyName"),
        "event_bus": ("EventBusName",),
        "security_hub_findings": ("SecurityHubFindings",),
        "orphan_grace_days": ("OrphanGracePeriod",),
    }
)

#: field name -> its (primary) environment variable name.
ENV_NAMES: Final = MappingProxyType({field: names[0] for field, names in ENV_VARIABLES.items()})

_List = BeforeValidator(comma_list)
_Lower = BeforeValidator(lowercase)


class SettingRow(NamedTuple):
    """One line of ``keyrotate config``: where a value came from."""

    field: str
    env_name: str
    value: object
    source: Source


class Settings(BaseModel):
    """Everything a run needs to know, validated before any AWS call. Immutable."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # lifecycle (SPEC.md "Policy"); audit is the default everywhere
    dry_run: Flag = True
    rotate_after_days: Days = 90
    deactivate_after_days: Days = 100
    delete_after_days: Days = 110
    # The SPEC's derived windows, as an alternative way to give the two thresholds above:
    # deactivate_after = rotate_after + install window, delete_after = deactivate_after +
    # recovery window. The deployment uses them because CloudFormation can bound a parameter
    # but cannot compare two: positive windows can never put the thresholds out of order.
    install_window_days: Days | None = None
    recovery_window_days: Days | None = None
    warn_before_days: Days = 7
    unused_key_action: Annotated[UnusedKeyAction, _Lower] = UnusedKeyAction.DEACTIVATE
    hold_if_previous_in_use: Flag = True
    hold_escalate_after_days: Days = 14
    in_use_days: Days = 7

    # the organization and the accounts in scope
    org_list_account: AccountId | None = None
    org_list_role: IamName = "keyrotate-org-list"
    aws_org_id: OrgId | None = None
    iam_role_name: IamName = "keyrotate-member"
    external_id: ExternalId | None = None
    session_name: SessionName = "keyrotate"
    organizational_units: Annotated[tuple[OrgUnitId, ...], _List] = ()
    include_accounts: Annotated[tuple[AccountId, ...], _List] = ()
    exclude_accounts: Annotated[tuple[AccountId, ...], _List] = ()
    exemption_group: GroupName = "IAMKeyRotationExemptionGroup"
    exemption_tag: TagKey = "keyrotate:exempt"
    # Whole accounts exempt, by id or by OU (id or path), each with an optional end and
    # reason (keyrotate.domain.exemptions.ScopeExemption; docs/cli.md "Exemptions").
    account_exemptions: Annotated[
        tuple[AccountExemption, ...], BeforeValidator(exemption_list)
    ] = ()
    # The code's copy of member-role.yaml's fences (keyrotate.domain.protection): users IAM
    # never lets the member role change are planned nothing and reported as protected.
    protected_user_arns: Annotated[tuple[UserArnPattern, ...], _List] = ()
    managed_user_path: IamPath = "/"
    resource_owner_tag: TagKey = "ResourceOwner"
    force_users: Annotated[tuple[ForcedUser, ...], _List] = ()
    workers: WorkerCount = 8
    # users of one account changed at once; their new keys' verifications overlap beyond it
    user_workers: UserWorkerCount = 8
    region: Region | None = None
    profile: str | None = None
    scan_mode: Annotated[ScanMode, _Lower] = ScanMode.AUTO
    verify_new_keys: Flag = True

    # guardrails of an enforce run (docs/guardrails.md): at most this many changes (ROTATE,
    # DEACTIVATE, DELETE) a run and an account, the rest deferred to the next run; changes
    # stop where more than the percentage of at least the minimum attempted ones failed; an
    # SSM parameter set to "on" turns the rest of the run into an audit.
    max_actions_per_run: ActionCap = 250
    max_actions_per_account: ActionCap = 100
    failure_breaker_percent: Percent = 50
    failure_breaker_min_actions: ActionCount = 5
    kill_switch_parameter: SsmParameterName | None = None

    # secrets
    store_secrets_in_central_account: Flag = False
    central_account: AccountId | None = None
    # Central mode only: the central account's key (main.yaml passes its SecretsKey's ARN).
    secrets_kms_key_id: KmsKeyRef | None = None
    # Member mode only: an alias of a key in every member account; None: aws/secretsmanager.
    member_secrets_kms_key_alias: KmsAlias | None = None
    secret_name_format: SecretNameFormat = "keyrotate/{account_id}/{user_name}"
    secret_reader_principals: Annotated[tuple[PrincipalArn, ...], _List] = ()
    credential_replication_regions: Annotated[tuple[Region, ...], _List] = ()

    # notification
    admin_email_address: EmailAddress | None = None
    # Owners are mailed only at these domains; empty = anywhere (the CLI's default: it mails
    # with its user's own credentials). The deployment requires the list and fences SES with
    # it too (keyrotate.domain.mail_domains; deploy/README.md "Which fence is which").
    allowed_email_domains: Annotated[tuple[EmailDomain, ...], _List] = ()
    email_transport: Annotated[EmailTransport, _Lower] = EmailTransport.NONE
    email_sender: EmailSender | None = None
    ses_region: Region | None = None
    smtp_host: HostName | None = None
    smtp_port: Port = 587
    smtp_security: Annotated[SmtpSecurity, _Lower] = SmtpSecurity.STARTTLS
    smtp_user_param_name: SsmParameterName | None = None
    smtp_password_param_name: SsmParameterName | None = None
    mail_dir: str = "keyrotate-mail"
    email_template_audit: TemplateLocation | None = None
    email_template_enforce: TemplateLocation | None = None
    email_template_digest: TemplateLocation | None = None
    # The account that must own the bucket of an s3:// template (S3's ExpectedBucketOwner);
    # the deployment passes its own account. None: any owner (the CLI's default).
    template_bucket_owner: AccountId | None = None
    email_footer: str = ""

    # deployment and reports
    run_lambda_in_vpc: Flag = False
    report_bucket: BucketName | None = None
    report_prefix: str = "keyrotate/reports/"
    # The customer-managed policy (member-role.yaml) that lets a user read its own secret;
    # attached to a user when its first key is stored. Empty: attach nothing.
    read_policy_name: IamName | None = "keyrotate-read-own-secret"
    # Where each change is published as an EventBridge event (docs/events.md): 'default',
    # a bus name or ARN. None: no events.
    event_bus: EventBusName | None = None
    # Security Hub findings (ASFF) for overdue, held and blocked keys, archived when fixed.
    security_hub_findings: Flag = False
    # Days a secret stays orphaned (its user, or the key it holds, gone) before
    # `keyrotate cleanup --enforce` schedules its deletion (keyrotate.service.cleanup).
    orphan_grace_days: GraceDays = 30

    _sources: dict[str, Source] = PrivateAttr(default_factory=dict)
    _env_read: dict[str, str] = PrivateAttr(default_factory=dict)  # field -> variable read

    def policy(self) -> RotationPolicy:
        """The engine's policy. Raises PolicyError (an InputError) for bad thresholds."""
        return RotationPolicy(
            rotate_after_days=self.rotate_after_days,
            deactivate_after_days=self.deactivate_after_days,
            delete_after_days=self.delete_after_days,
            warn_before_days=self.warn_before_days,
            unused_key_action=self.unused_key_action,
            hold_if_previous_in_use=self.hold_if_previous_in_use,
            hold_escalate_after_days=self.hold_escalate_after_days,
            in_use_days=self.in_use_days,
        )

    @property
    def enforce(self) -> bool:
        return not self.dry_run

    @property
    def mode(self) -> Literal["audit", "enforce"]:
        return "audit" if self.dry_run else "enforce"

    def forced_user_ids(self) -> frozenset[tuple[str, str]]:
        """``force_users`` as (account_id, user_name) pairs."""
        return frozenset(
            (account, user) for account, user in (item.split(":", 1) for item in self.force_users)
        )

    @property
    def secrets_account(self) -> str | None:
        """Where secrets are stored in central mode (None: in each key's own account)."""
        if not self.store_secrets_in_central_account:
            return None
        return self.central_account or self.org_list_account

    @property
    def secrets_kms_key(self) -> str | None:
        """The KmsKeyId of new secrets in the home region (None: aws/secretsmanager).

        Replicas use :func:`keyrotate.domain.kms_keys.key_in_region` of it.
        """
        if self.store_secrets_in_central_account:
            return self.secrets_kms_key_id
        return self.member_secrets_kms_key_alias

    @property
    def effective_ses_region(self) -> str | None:
        return self.ses_region or self.region

    def source_of(self, field: str) -> Source:
        return self._sources.get(field, "default")

    def describe(self) -> tuple[SettingRow, ...]:
        """Every setting with its value and where it came from (flag/env/file/default)."""
        values = self.model_dump(mode="json")
        return tuple(
            SettingRow(
                name,
                self._env_read.get(name, ENV_NAMES[name]),
                values[name],
                self.source_of(name),
            )
            for name in type(self).model_fields
        )

    @model_validator(mode="after")
    def _check_combination(self) -> Settings:
        # Raised as InputError (not ValueError) on purpose: pydantic lets it through untouched
        # and the loader adds where the value came from.
        self._apply_windows()
        self.policy()
        self._check_mail()
        if (
            self.store_secrets_in_central_account
            and self.central_account is None
            and self.org_list_account is None
        ):
            raise InputError(
                "central_account",
                self.central_account,
                "set the account that keeps the secrets (or org_list_account) when "
                "store_secrets_in_central_account is true",
            )
        both = sorted(set(self.include_accounts) & set(self.exclude_accounts))
        if both:
            raise InputError(
                "exclude_accounts", both[0], "an account cannot be both included and excluded"
            )
        self._check_replication_regions()
        self._check_secrets_encryption()
        return self

    @model_validator(mode="after")
    def _check_mail_domains(self) -> Settings:
        """The admin digest is mail too: its address must be one the deployment may reach."""
        admin = self.admin_email_address
        if admin and not recipient_allowed(admin, self.allowed_email_domains):
            raise InputError(
                "admin_email_address",
                admin,
                "use an address of one of allowed_email_domains "
                f"({', '.join(self.allowed_email_domains)}), its domain in lower case as "
                "listed (IAM compares case-sensitively), or add its domain to the list",
            )
        return self

    def _check_mail(self) -> None:
        """How mail is sent: checked here only; the notifier trusts the options it is given."""
        transport = self.email_transport
        if transport is EmailTransport.SMTP and not self.smtp_host:
            raise InputError(
                "smtp_host",
                self.smtp_host,
                "set the SMTP server's host name when email_transport is 'smtp'",
            )
        if transport in (EmailTransport.SES, EmailTransport.SMTP) and not self.email_sender:
            raise InputError(
                "email_sender",
                self.email_sender,
                f"set the From address when email_transport is '{transport}'",
            )
        if transport is EmailTransport.FILE and not self.mail_dir:
            raise InputError(
                "mail_dir", self.mail_dir, "name the folder the file transport writes to"
            )
        user, password = self.smtp_user_param_name, self.smtp_password_param_name
        if bool(user) != bool(password):
            missing = "smtp_password_param_name" if user else "smtp_user_param_name"
            raise InputError(
                missing, None, "name both SSM parameters (user and password) or neither"
            )

    def _apply_windows(self) -> None:
        """Turn the windows, when given, into the thresholds every reader uses."""
        pairs = (
            ("install_window_days", "deactivate_after_days", "rotate_after_days"),
            ("recovery_window_days", "delete_after_days", "deactivate_after_days"),
        )
        for window_field, threshold_field, base_field in pairs:
            window = getattr(self, window_field)
            if window is None:
                continue
            if window <= 0:
                raise InputError(window_field, window, "use a whole number of days greater than 0")
            if threshold_field in self.model_fields_set:
                raise InputError(
                    window_field,
                    window,
                    f"set {window_field} or {threshold_field}, not both: the window is "
                    f"{threshold_field} - {base_field}",
                )
            # The model is frozen to its readers; the derived threshold is set once, here.
            object.__setattr__(self, threshold_field, getattr(self, base_field) + window)

    def _check_secrets_encryption(self) -> None:
        """Each mode names only keys the account storing the secret can use."""
        central = self.secrets_account
        if central is None:
            if self.secrets_kms_key_id is not None:
                raise InputError(
                    "secrets_kms_key_id",
                    self.secrets_kms_key_id,
                    "leave it empty unless store_secrets_in_central_account is true: each "
                    "member account encrypts its own secrets, with its aws/secretsmanager key "
                    "or the key member_secrets_kms_key_alias names there; a key of another "
                    "account is looked up in the member account and fails",
                )
            return
        if self.member_secrets_kms_key_alias is not None:
            raise InputError(
                "member_secrets_kms_key_alias",
                self.member_secrets_kms_key_alias,
                "leave it empty when store_secrets_in_central_account is true: central "
                "secrets are encrypted with secrets_kms_key_id",
            )
        if "account_id" not in placeholders_of(self.secret_name_format):
            raise InputError(
                "secret_name_format",
                self.secret_name_format,
                "include {account_id} when store_secrets_in_central_account is true: every "
                "account's secrets share the central account, so two accounts' users of "
                "the same name would share one secret",
            )
        check_central_key(
            self.secrets_kms_key_id,
            central_account=central,
            home_region=self.region,
            replica_regions=self.credential_replication_regions,
        )

    def _check_replication_regions(self) -> None:
        seen: set[str] = set()
        for region in self.credential_replication_regions:
            if region in seen:
                raise InputError("credential_replication_regions", region, "list each region once")
            seen.add(region)
            if region == self.region:
                raise InputError(
                    "credential_replication_regions",
                    region,
                    "leave out the home region: the secret already lives there",
                )
            if self.region and partition_for_region(region) != partition_for_region(self.region):
                raise InputError(
                    "credential_replication_regions",
                    region,
                    f"use regions of the home region's partition "
                    f"({partition_for_region(self.region)}): secrets cannot replicate across",
                )

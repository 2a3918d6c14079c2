"""The configuration model: defaults, precedence of sources, environment names, parsing, policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from keyrotate.config import (
    ENV_NAMES,
    ENV_VARIABLES,
    EmailTransport,
    ScanMode,
    Settings,
    SmtpSecurity,
    is_known_region,
    load_settings,
    partition_for_region,
)
from keyrotate.domain.errors import InputError
from keyrotate.domain.exemptions import ScopeExemption
from keyrotate.domain.policy import RotationPolicy, UnusedKeyAction


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "keyrotate.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# --- defaults --------------------------------------------------------------------------------


def test_defaults_are_audit_mode_and_the_pattern_thresholds() -> None:
    settings = load_settings(None, {}, {})
    assert settings == Settings()
    assert settings.dry_run is True
    assert settings.mode == "audit"
    assert not settings.enforce
    assert (settings.rotate_after_days, settings.deactivate_after_days) == (90, 100)
    assert (settings.delete_after_days, settings.warn_before_days) == (110, 7)
    assert settings.unused_key_action is UnusedKeyAction.DEACTIVATE
    assert settings.email_transport is EmailTransport.NONE
    assert settings.smtp_security is SmtpSecurity.STARTTLS
    assert settings.scan_mode is ScanMode.AUTO
    assert settings.secret_name_format == "keyrotate/{account_id}/{user_name}"
    assert settings.exemption_group == "IAMKeyRotationExemptionGroup"
    assert settings.workers == 8
    assert settings.include_accounts == ()
    assert all(row.source == "default" for row in settings.describe())


def test_settings_are_immutable() -> None:
    settings = Settings()
    with pytest.raises(ValidationError):
        settings.workers = 3  # type: ignore[misc]


def test_settings_reject_unknown_fields_when_built_directly() -> None:
    with pytest.raises(ValidationError):
        Settings(rotate_afer_days=30)  # type: ignore[call-arg]


# --- precedence: flag > env > file > default --------------------------------------------------


@pytest.mark.parametrize(
    ("in_file", "in_env", "as_flag", "expected", "source"),
    [
        pytest.param(None, None, None, 8, "default", id="default"),
        pytest.param(3, None, None, 3, "file", id="file-over-default"),
        pytest.param(3, "5", None, 5, "env", id="env-over-file"),
        pytest.param(3, "5", "7", 7, "flag", id="flag-over-env"),
        pytest.param(None, None, "7", 7, "flag", id="flag-over-default"),
        pytest.param(3, None, "7", 7, "flag", id="flag-over-file"),
    ],
)
def test_each_source_overrides_the_ones_below_it(
    tmp_path: Path,
    in_file: int | None,
    in_env: str | None,
    as_flag: str | None,
    expected: int,
    source: str,
) -> None:
    path = write(tmp_path, f"workers: {in_file}\n") if in_file is not None else None
    env = {"MaxWorkers": in_env} if in_env is not None else {}
    overrides = {"workers": as_flag} if as_flag is not None else {}
    settings = load_settings(path, env, overrides)
    assert settings.workers == expected
    assert settings.source_of("workers") == source


def test_precedence_is_per_field_not_per_source(tmp_path: Path) -> None:
    path = write(tmp_path, "rotate_after_days: 30\ndeactivate_after_days: 40\nworkers: 2\n")
    settings = load_settings(path, {"RotationPeriod": "35"}, {"dry_run": False})
    rows = {row.field: row for row in settings.describe()}
    assert (rows["rotate_after_days"].value, rows["rotate_after_days"].source) == (35, "env")
    assert (rows["deactivate_after_days"].value, rows["deactivate_after_days"].source) == (
        40,
        "file",
    )
    assert (rows["dry_run"].value, rows["dry_run"].source) == (False, "flag")
    assert (rows["delete_after_days"].value, rows["delete_after_days"].source) == (110, "default")


def test_a_higher_source_replaces_a_list_instead_of_merging(tmp_path: Path) -> None:
    path = write(tmp_path, "include_accounts: ['111111111111', '222222222222']\n")
    settings = load_settings(path, {"IncludeAccounts": "333333333333"}, {})
    assert settings.include_accounts == ("333333333333",)


def test_an_empty_environment_variable_counts_as_unset(tmp_path: Path) -> None:
    path = write(tmp_path, "org_list_account: '123456789012'\n")
    settings = load_settings(path, {"OrgListAccount": "", "AWSOrgID": "  "}, {})
    assert settings.org_list_account == "123456789012"
    assert settings.source_of("org_list_account") == "file"
    assert settings.aws_org_id is None


def test_an_override_of_none_means_the_flag_was_not_given() -> None:
    settings = load_settings(None, {"MaxWorkers": "5"}, {"workers": None})
    assert settings.workers == 5


def test_enforce_needs_an_explicit_false_dry_run_flag() -> None:
    assert load_settings(None, {"DryRunFlag": "False"}, {}).enforce
    assert not load_settings(None, {"DryRunFlag": "True"}, {}).enforce
    assert not load_settings(None, {}, {}).enforce


def test_region_comes_from_aws_region_before_aws_default_region() -> None:
    both = {"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-west-2"}
    assert load_settings(None, both, {}).region == "eu-west-1"
    fallback = load_settings(None, {"AWS_DEFAULT_REGION": "us-west-2"}, {})
    assert fallback.region == "us-west-2"
    row = next(row for row in fallback.describe() if row.field == "region")
    assert (row.env_name, row.source) == ("AWS_DEFAULT_REGION", "env")


def test_an_empty_config_file_sets_nothing(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path, "# nothing yet\n"), {}, {}) == Settings()


# --- environment names ----------------------------------------------------------------------

# A multi-Region key of the samples' central account, in their home region.
CENTRAL_KEY = "arn:aws:kms:eu-central-1:444455556666:key/mrk-0123456789abcdef0123456789abcdef"

# One valid value per field, given as the environment would give it (central mode).
# fmt: off
ENV_SAMPLES: dict[str, tuple[str, object]] = {
    "dry_run": ("False", False),
    "rotate_after_days": ("60", 60),
    "deactivate_after_days": ("75", 75),
    "delete_after_days": ("80", 80),
    "warn_before_days": ("5", 5),
    "unused_key_action": ("Rotate", UnusedKeyAction.ROTATE),
    "hold_if_previous_in_use": ("no", False),
    "hold_escalate_after_days": ("21", 21),
    "in_use_days": ("3", 3),
    "org_list_account": ("111122223333", "111122223333"),
    "org_list_role": ("OrgLister", "OrgLister"),
    "aws_org_id": ("o-abcdef1234", "o-abcdef1234"),
    "iam_role_name": ("KeyRotator", "KeyRotator"),
    "external_id": ("ext-123", "ext-123"),
    "session_name": ("nightly", "nightly"),
    "organizational_units": ("ou-ab12-cdef3456, r-ab12", ("ou-ab12-cdef3456", "r-ab12")),
    "include_accounts": ("123456789012,210987654321", ("123456789012", "210987654321")),
    "exclude_accounts": ("999988887777", ("999988887777",)),
    "exemption_group": ("Exempt", "Exempt"),
    "exemption_tag": ("rotation:skip", "rotation:skip"),
    "account_exemptions": (
        "111122223333;expires=2027-01-31;reason=vendor appliance,/Root/Sandbox",
        (
            ScopeExemption(
                "account", "111122223333", datetime(2027, 1, 31, tzinfo=UTC), "vendor appliance"
            ),
            ScopeExemption("ou", "/Root/Sandbox"),
        ),
    ),
    "resource_owner_tag": ("Owner", "Owner"),
    "force_users": ("123456789012:alice,123456789012:svc.bot", ("123456789012:alice",
                                                                "123456789012:svc.bot")),
    "workers": ("16", 16),
    "event_bus": ("keyrotate-changes", "keyrotate-changes"),
    "security_hub_findings": ("True", True),
    "user_workers": ("12", 12),
    "region": ("eu-central-1", "eu-central-1"),
    "profile": ("security-audit", "security-audit"),
    "scan_mode": ("per-user", ScanMode.PER_USER),
    "verify_new_keys": ("off", False),
    "max_actions_per_run": ("1000", 1000),
    "max_actions_per_account": (" 40 ", 40),
    "failure_breaker_percent": ("25", 25),
    "failure_breaker_min_actions": ("10", 10),
    "kill_switch_parameter": ("/keyrotate/kill-switch", "/keyrotate/kill-switch"),
    "store_secrets_in_central_account": ("True", True),
    "central_account": ("444455556666", "444455556666"),
    "secrets_kms_key_id": (CENTRAL_KEY, CENTRAL_KEY),
    "secret_name_format": ("iam/{account_id}/{user_name}", "iam/{account_id}/{user_name}"),
    "secret_reader_principals": ("arn:aws:iam::123456789012:role/app",
                                 ("arn:aws:iam::123456789012:role/app",)),
    "credential_replication_regions": ("eu-west-1,eu-north-1", ("eu-west-1", "eu-north-1")),
    "admin_email_address": ("security@example.com", "security@example.com"),
    "allowed_email_domains": ("Example.com, example.org", ("example.com", "example.org")),
    "template_bucket_owner": ("111122223333", "111122223333"),
    "protected_user_arns": (
        "arn:aws:iam::*:user/breakglass/*",
        ("arn:aws:iam::*:user/breakglass/*",),
    ),
    "managed_user_path": ("/service-accounts/", "/service-accounts/"),
    "email_transport": ("SMTP", EmailTransport.SMTP),
    "email_sender": ("Key Rotation <keys@example.com>", "Key Rotation <keys@example.com>"),
    "ses_region": ("us-west-2", "us-west-2"),
    "smtp_host": ("smtp.example.com", "smtp.example.com"),
    "smtp_port": ("465", 465),
    "smtp_security": ("tls", SmtpSecurity.TLS),
    "smtp_user_param_name": ("/keyrotate/smtp/user", "/keyrotate/smtp/user"),
    "smtp_password_param_name": ("/keyrotate/smtp/password", "/keyrotate/smtp/password"),
    "mail_dir": ("/tmp/mail", "/tmp/mail"),
    "email_template_audit": ("templates/audit.html", "templates/audit.html"),
    "email_template_enforce": ("s3://my-bucket/t/enforce.html", "s3://my-bucket/t/enforce.html"),
    "email_template_digest": ("digest.html", "digest.html"),
    "email_footer": ("Cloud Platform Team", "Cloud Platform Team"),
    "run_lambda_in_vpc": ("1", True),
    "report_bucket": ("keyrotate-reports", "keyrotate-reports"),
    "report_prefix": ("reports/", "reports/"),
    "read_policy_name": ("read-own-key", "read-own-key"),
    "orphan_grace_days": ("45", 45),
}
# fmt: on


def test_every_field_has_exactly_one_environment_entry() -> None:
    assert set(ENV_VARIABLES) == set(Settings.model_fields)
    assert set(ENV_NAMES) == set(Settings.model_fields)
    all_names = [name for names in ENV_VARIABLES.values() for name in names]
    assert len(all_names) == len(set(all_names)), "an environment name is used twice"


@pytest.mark.parametrize(
    ("field", "env_name"),
    [
        ("dry_run", "DryRunFlag"),
        ("rotate_after_days", "RotationPeriod"),
        ("deactivate_after_days", "InactivePeriod"),
        ("delete_after_days", "DeletePeriod"),
        ("warn_before_days", "WarnPeriod"),
        ("exemption_group", "IAMExemptionGroup"),
        ("iam_role_name", "IAMRoleName"),
        ("org_list_account", "OrgListAccount"),
        ("org_list_role", "OrgListRole"),
        ("aws_org_id", "AWSOrgID"),
        ("store_secrets_in_central_account", "StoreSecretsInCentralAccount"),
        ("credential_replication_regions", "CredentialReplicationRegions"),
        ("admin_email_address", "AdminEmailAddress"),
        ("resource_owner_tag", "ResourceOwnerTag"),
        ("email_template_audit", "EmailTemplateAudit"),
        ("email_template_enforce", "EmailTemplateEnforce"),
        ("smtp_user_param_name", "SMTPUserParamName"),
        ("smtp_password_param_name", "SMTPPasswordParamName"),
        ("run_lambda_in_vpc", "RunLambdaInVPC"),
        ("region", "AWS_REGION"),
        ("profile", "AWS_PROFILE"),
    ],
)
def test_environment_names_follow_the_pattern_parameters(field: str, env_name: str) -> None:
    assert ENV_NAMES[field] == env_name


# Each secrets mode refuses the other's key setting: these replace the central
# samples' mode-specific entries to make a member-mode set.
MEMBER_MODE_SAMPLES: dict[str, tuple[str, object]] = {
    "store_secrets_in_central_account": ("False", False),
    "member_secrets_kms_key_alias": ("alias/team-secrets", "alias/team-secrets"),
}
CENTRAL_ONLY_FIELDS = ("secrets_kms_key_id",)
# The windows are the other way to give the last two thresholds (the deployment's way).
WINDOW_SAMPLES: dict[str, tuple[str, object]] = {
    "install_window_days": ("15", 15),
    "recovery_window_days": ("5", 5),
}
THRESHOLD_FIELDS = ("deactivate_after_days", "delete_after_days")
SAMPLE_SETS = {
    "central": ENV_SAMPLES,
    "member": {
        **{f: v for f, v in ENV_SAMPLES.items() if f not in CENTRAL_ONLY_FIELDS},
        **MEMBER_MODE_SAMPLES,
    },
    "windows": {
        **{f: v for f, v in ENV_SAMPLES.items() if f not in THRESHOLD_FIELDS},
        **WINDOW_SAMPLES,
    },
}


def test_every_field_has_a_sample() -> None:
    sampled = set(ENV_SAMPLES) | set(MEMBER_MODE_SAMPLES) | set(WINDOW_SAMPLES)
    assert sampled == set(Settings.model_fields), "add a sample for the new field"


@pytest.mark.parametrize("mode", sorted(SAMPLE_SETS))
def test_every_field_is_read_from_its_environment_name(mode: str) -> None:
    samples = SAMPLE_SETS[mode]
    env = {ENV_NAMES[field]: raw for field, (raw, _) in samples.items()}
    settings = load_settings(None, env, {})
    for field, (_, expected) in samples.items():
        assert getattr(settings, field) == expected, field
        assert settings.source_of(field) == "env", field


@pytest.mark.parametrize("mode", sorted(SAMPLE_SETS))
def test_the_same_values_load_from_a_file_with_snake_case_keys(tmp_path: Path, mode: str) -> None:
    samples = SAMPLE_SETS[mode]
    lines = [f"{field}: {raw!r}" for field, (raw, _) in samples.items()]
    settings = load_settings(write(tmp_path, "\n".join(lines) + "\n"), {}, {})
    for field, (_, expected) in samples.items():
        assert getattr(settings, field) == expected, field
        assert settings.source_of(field) == "file", field


# --- parsing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("True", True),
        ("TRUE", True),
        ("yes", True),
        ("on", True),
        ("1", True),
        ("false", False),
        ("False", False),
        ("no", False),
        ("Off", False),
        ("0", False),
        (" false ", False),
    ],
)
def test_booleans_from_the_environment_accept_the_usual_words(raw: str, expected: bool) -> None:
    assert load_settings(None, {"VerifyNewKeys": raw}, {}).verify_new_keys is expected


@pytest.mark.parametrize("raw", ["Ture", "ja", "2", "enabled", "t"])
def test_other_words_are_not_booleans(raw: str) -> None:
    with pytest.raises(InputError, match="true or false"):
        load_settings(None, {"VerifyNewKeys": raw}, {})


@pytest.mark.parametrize(
    ("yaml_value", "expected"),
    [("true", True), ("no", False), ("'False'", False), ("off", False), ("1", True)],
)
def test_booleans_from_the_file(tmp_path: Path, yaml_value: str, expected: bool) -> None:
    settings = load_settings(write(tmp_path, f"dry_run: {yaml_value}\n"), {}, {})
    assert settings.dry_run is expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("111111111111", ("111111111111",)),
        ("111111111111,222222222222", ("111111111111", "222222222222")),
        (" 111111111111 , 222222222222 ,", ("111111111111", "222222222222")),
        (",", ()),
    ],
)
def test_lists_from_the_environment_are_comma_separated(
    raw: str, expected: tuple[str, ...]
) -> None:
    assert load_settings(None, {"ExcludeAccounts": raw}, {}).exclude_accounts == expected


def test_lists_in_the_file_may_be_yaml_lists_or_comma_strings(tmp_path: Path) -> None:
    text = (
        "include_accounts:\n  - '111111111111'\n  - 222222222222\n"
        "exclude_accounts: '333333333333,444444444444'\n"
        "organizational_units: r-ab12\n"
    )
    settings = load_settings(write(tmp_path, text), {}, {})
    assert settings.include_accounts == ("111111111111", "222222222222")
    assert settings.exclude_accounts == ("333333333333", "444444444444")
    assert settings.organizational_units == ("r-ab12",)


def test_an_unquoted_account_id_in_yaml_is_read_as_its_digits(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, "central_account: 123456789012\n"), {}, {})
    assert settings.central_account == "123456789012"


def test_enumerations_ignore_case() -> None:
    settings = load_settings(
        None,
        {"EmailTransport": "File", "SMTPSecurity": "NONE", "ScanMode": "Report"},
        {},
    )
    assert settings.email_transport is EmailTransport.FILE
    assert settings.smtp_security is SmtpSecurity.NONE
    assert settings.scan_mode is ScanMode.REPORT


def test_forced_users_become_account_and_user_pairs() -> None:
    settings = load_settings(None, {}, {"force_users": ["123456789012:alice", "210987654321:b"]})
    assert settings.forced_user_ids() == frozenset(
        {("123456789012", "alice"), ("210987654321", "b")}
    )


def test_central_mode_falls_back_to_the_org_list_account() -> None:
    env = {"StoreSecretsInCentralAccount": "true", "OrgListAccount": "111122223333"}
    env["SecretsKmsKeyId"] = "alias/keyrotate-secrets"  # resolved in the central account
    assert load_settings(None, env, {}).secrets_account == "111122223333"
    env["CentralAccount"] = "444455556666"
    assert load_settings(None, env, {}).secrets_account == "444455556666"
    assert load_settings(None, {"CentralAccount": "444455556666"}, {}).secrets_account is None


def test_windows_set_the_deactivation_and_deletion_thresholds() -> None:
    env = {"RotationPeriod": "30", "InstallWindow": "5", "RecoveryWindow": "2"}
    settings = load_settings(None, env, {})
    assert (settings.deactivate_after_days, settings.delete_after_days) == (35, 37)
    policy = settings.policy()
    assert (policy.install_window, policy.recovery_window) == (timedelta(days=5), timedelta(2))
    only_recovery = load_settings(None, {"InactivePeriod": "120", "RecoveryWindow": "3"}, {})
    assert (only_recovery.deactivate_after_days, only_recovery.delete_after_days) == (120, 123)


def test_a_threshold_given_as_a_window_is_described_as_coming_from_the_window() -> None:
    settings = load_settings(None, {"InstallWindow": "15"}, {})
    rows = {row.field: row for row in settings.describe()}
    deactivate = rows["deactivate_after_days"]
    assert (deactivate.value, deactivate.source, deactivate.env_name) == (
        105,
        "env",
        "InstallWindow",
    )
    assert rows["delete_after_days"].source == "default"


def test_ses_region_defaults_to_the_home_region() -> None:
    assert load_settings(None, {"AWS_REGION": "eu-west-1"}, {}).effective_ses_region == "eu-west-1"
    env = {"AWS_REGION": "eu-west-1", "SESRegion": "us-east-1"}
    assert load_settings(None, env, {}).effective_ses_region == "us-east-1"


@pytest.mark.parametrize(
    "secret_format",
    ["{user_name}", "keyrotate/{account_id}/{user_name}", "iam-keys/{user_name}@{account_id}"],
)
def test_secret_name_formats_with_the_allowed_placeholders(secret_format: str) -> None:
    settings = load_settings(None, {"SecretNameFormat": secret_format}, {})
    assert settings.secret_name_format == secret_format


# --- policy ---------------------------------------------------------------------------------


def test_policy_carries_every_lifecycle_setting() -> None:
    env = {
        "RotationPeriod": "30",
        "InactivePeriod": "45",
        "DeletePeriod": "60",
        "WarnPeriod": "3",
        "UnusedKeyAction": "rotate",
        "HoldIfPreviousInUse": "false",
        "HoldEscalateAfter": "5",
        "InUseDays": "4",
    }
    policy = load_settings(None, env, {}).policy()
    assert policy == RotationPolicy(
        rotate_after_days=30,
        deactivate_after_days=45,
        delete_after_days=60,
        warn_before_days=3,
        unused_key_action=UnusedKeyAction.ROTATE,
        hold_if_previous_in_use=False,
        hold_escalate_after_days=5,
        in_use_days=4,
    )
    assert policy.in_use == timedelta(days=4)
    assert policy.install_window == timedelta(days=15)
    assert policy.recovery_window == timedelta(days=15)


def test_default_policy_is_the_engine_default() -> None:
    assert Settings().policy() == RotationPolicy()


def test_threshold_errors_come_from_the_policy_itself() -> None:
    # The same rule, raised by RotationPolicy, not a copy of it in the config.
    with pytest.raises(InputError) as from_config:
        load_settings(None, {"DeletePeriod": "100"}, {})
    with pytest.raises(InputError) as from_policy:
        RotationPolicy(delete_after_days=100)
    assert from_policy.value.fix in from_config.value.fix


# --- regions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "partition"),
    [
        ("us-east-1", "aws"),
        ("eu-central-1", "aws"),
        ("ap-southeast-2", "aws"),
        ("cn-north-1", "aws-cn"),
        ("cn-northwest-1", "aws-cn"),
        ("us-gov-west-1", "aws-us-gov"),
        ("us-gov-east-1", "aws-us-gov"),
        ("ap-southeast-99", "aws"),  # newer than botocore: still mapped by the pattern
    ],
)
def test_partition_for_region(region: str, partition: str) -> None:
    assert partition_for_region(region) == partition


def test_partition_for_an_unrecognisable_region_is_an_input_error() -> None:
    with pytest.raises(InputError, match="region"):
        partition_for_region("moon-1")


def test_known_regions_cover_all_three_main_partitions() -> None:
    assert all(map(is_known_region, ["us-east-1", "cn-north-1", "us-gov-west-1"]))
    assert not is_known_region("aws-global")
    assert not is_known_region("ap-southeast-99")


def test_replication_regions_may_be_given_without_a_home_region() -> None:
    settings = load_settings(None, {"CredentialReplicationRegions": "cn-north-1"}, {})
    assert settings.credential_replication_regions == ("cn-north-1",)

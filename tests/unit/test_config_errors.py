"""Every kind of bad configuration input gives one short InputError naming field, value and fix.

``BAD_INPUTS`` is shared with tests/unit/test_cli_errors.py, which feeds the same inputs to the
real ``keyrotate`` command and checks exit code 2 and stderr.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from keyrotate.config import load_settings
from keyrotate.domain.errors import InputError


@dataclass(frozen=True)
class BadInput:
    """One bad input, from the environment and/or a YAML file, and what the error must say."""

    id: str
    field: str  # the setting named in the message (file key and/or environment name)
    value: str  # the offending value, as it appears in the message
    env: Mapping[str, str] = field(default_factory=dict)
    yaml: str | None = None
    also: tuple[str, ...] = ()  # further text the message must contain (a fix, a hint)


# Central-mode settings that pass, for rows that break one more thing.
CENTRAL_KEY = "arn:aws:kms:us-east-1:444455556666:key/mrk-0123456789abcdef0123456789abcdef"
SINGLE_REGION_KEY = "arn:aws:kms:us-east-1:444455556666:key/12345678-90ab-cdef-1234-567890abcdef"
OTHER_ACCOUNT_KEY = "arn:aws:kms:us-east-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef"
KEY_ID = "12345678-90ab-cdef-1234-567890abcdef"
CENTRAL = {
    "StoreSecretsInCentralAccount": "True",
    "CentralAccount": "444455556666",
    "SecretsKmsKeyId": CENTRAL_KEY,
    "AWS_REGION": "us-east-1",
}

# fmt: off
BAD_INPUTS: tuple[BadInput, ...] = (
    # thresholds
    BadInput("rotate-zero-env", "rotate_after_days (RotationPeriod)", "0", {"RotationPeriod": "0"},
             also=("greater than 0",)),
    BadInput("rotate-negative-file", "rotate_after_days", "-5", yaml="rotate_after_days: -5\n"),
    BadInput("rotate-not-a-number", "RotationPeriod", "'ninety'", {"RotationPeriod": "ninety"},
             also=("whole number",)),
    BadInput("deactivate-not-after-rotate", "deactivate_after_days (InactivePeriod)", "90",
             {"InactivePeriod": "90"}, also=("greater than rotate_after_days",)),
    BadInput("delete-before-deactivate-file", "delete_after_days", "95",
             yaml="delete_after_days: 95\n", also=("greater than deactivate_after_days",)),
    BadInput("warn-equals-rotate", "warn_before_days (WarnPeriod)", "90", {"WarnPeriod": "90"},
             also=("smaller than rotate_after_days",)),
    BadInput("warn-above-rotate-file", "warn_before_days", "120", yaml="warn_before_days: 120\n"),
    BadInput("install-window-zero", "install_window_days (InstallWindow)", "0",
             {"InstallWindow": "0"}, also=("greater than 0",)),
    BadInput("recovery-window-and-delete-period-file", "recovery_window_days", "5",
             yaml="recovery_window_days: 5\ndelete_after_days: 120\n",
             also=("not both",)),
    BadInput("hold-escalate-zero", "hold_escalate_after_days (HoldEscalateAfter)", "0",
             {"HoldEscalateAfter": "0"}),
    BadInput("in-use-zero", "in_use_days (InUseDays)", "0", {"InUseDays": "0"}),
    BadInput("in-use-not-a-number-file", "in_use_days", "'a week'",
             yaml="in_use_days: a week\n"),
    BadInput("unused-action-unknown", "unused_key_action (UnusedKeyAction)", "'delete'",
             {"UnusedKeyAction": "delete"}, also=("'deactivate' or 'rotate'",)),
    # organization and accounts
    BadInput("org-id-too-short", "aws_org_id (AWSOrgID)", "'o-abc'", {"AWSOrgID": "o-abc"},
             also=("10 to 32",)),
    BadInput("org-id-uppercase-file", "aws_org_id", "'o-ABCDEFGHIJ'",
             yaml="aws_org_id: o-ABCDEFGHIJ\n"),
    BadInput("org-list-account-5-digits", "org_list_account (OrgListAccount)", "'12345'",
             {"OrgListAccount": "12345"}, also=("12-digit",)),
    BadInput("include-account-with-letter", "include_accounts (IncludeAccounts) item 2",
             "'12345678901x'", {"IncludeAccounts": "123456789012,12345678901x"}),
    BadInput("exclude-account-13-digits-file", "exclude_accounts", "'1234567890123'",
             yaml="exclude_accounts: ['1234567890123']\n"),
    BadInput("exclude-account-unquoted-short-file", "exclude_accounts", "12345",
             yaml="exclude_accounts: [12345]\n", also=("quote it in YAML",)),
    BadInput("central-account-not-digits", "central_account (CentralAccount)", "'abc'",
             {"CentralAccount": "abc"}),
    BadInput("force-user-short-account", "force_users (ForceUsers)", "'12345:alice'",
             {"ForceUsers": "12345:alice"}, also=("ACCOUNTID:USERNAME",)),
    BadInput("force-user-space-in-name-file", "force_users", "'123456789012:bad user'",
             yaml="force_users: ['123456789012:bad user']\n"),
    BadInput("ou-too-short", "organizational_units (OrganizationalUnits)", "'ou-12'",
             {"OrganizationalUnits": "ou-12"}),
    BadInput("account-included-and-excluded", "exclude_accounts", "'111122223333'",
             {"IncludeAccounts": "111122223333", "ExcludeAccounts": "111122223333"}),
    BadInput("workers-zero", "workers (MaxWorkers)", "'0'", {"MaxWorkers": "0"},
             also=("from 1 to 64",)),
    BadInput("workers-too-many-file", "workers", "65", yaml="workers: 65\n"),
    BadInput("user-workers-too-many", "user_workers (UserWorkers)", "'33'",
             {"UserWorkers": "33"}, also=("from 1 to 32",)),
    # guardrails
    BadInput("max-actions-per-run-zero", "max_actions_per_run (MaxActionsPerRun)", "'0'",
             {"MaxActionsPerRun": "0"}, also=("from 2 to 100000", "audit mode")),
    BadInput("max-actions-per-account-one-file", "max_actions_per_account", "1",
             yaml="max_actions_per_account: 1\n", also=("two changes that go together",)),
    BadInput("max-actions-per-account-words", "max_actions_per_account (MaxActionsPerAccount)",
             "'lots'", {"MaxActionsPerAccount": "lots"}, also=("whole number",)),
    BadInput("breaker-percent-above-100", "failure_breaker_percent (FailureBreakerPercent)",
             "'150'", {"FailureBreakerPercent": "150"},
             also=("from 1 to 100", "never trips")),
    BadInput("breaker-percent-zero-file", "failure_breaker_percent", "0",
             yaml="failure_breaker_percent: 0\n"),
    BadInput("breaker-min-actions-zero", "failure_breaker_min_actions (FailureBreakerMinActions)",
             "'0'", {"FailureBreakerMinActions": "0"}, also=("attempted changes",)),
    BadInput("kill-switch-not-a-parameter-name", "kill_switch_parameter (KillSwitchParameter)",
             "'kill switch'", {"KillSwitchParameter": "kill switch"},
             also=("SSM parameter name",)),
    # regions
    BadInput("replication-region-typo", "credential_replication_regions", "'us-esat-1'",
             {"CredentialReplicationRegions": "eu-west-1,us-esat-1"},
             also=("did you mean 'us-east-1'",)),
    BadInput("replication-region-is-home", "CredentialReplicationRegions", "'eu-west-1'",
             {"AWS_REGION": "eu-west-1", "CredentialReplicationRegions": "eu-west-1"},
             also=("home region",)),
    BadInput("replication-region-other-partition", "CredentialReplicationRegions",
             "'cn-north-1'",
             {"AWS_REGION": "us-east-1", "CredentialReplicationRegions": "cn-north-1"},
             also=("partition",)),
    BadInput("home-region-unknown", "region (AWS_REGION)", "'moon-central-1'",
             {"AWS_REGION": "moon-central-1"}),
    # the file itself
    BadInput("yaml-malformed", "config file", "'rotate_after_days: [90'",
             yaml="dry_run: true\nrotate_after_days: [90\n", also=("YAML syntax",)),
    BadInput("yaml-top-level-list", "config file", "'a list at the top level'",
             yaml="- rotate_after_days\n- 90\n", also=("mapping",)),
    BadInput("yaml-unknown-key", "config file", "'rotate_afterdays'",
             yaml="rotate_afterdays: 30\n", also=("did you mean 'rotate_after_days'?",)),
    BadInput("yaml-env-name-as-key", "config file", "'RotationPeriod'",
             yaml="RotationPeriod: 30\n", also=("did you mean 'rotate_after_days'?",)),
    # booleans
    BadInput("ture-from-env", "dry_run (DryRunFlag)", "'Ture'", {"DryRunFlag": "Ture"},
             also=("true or false",)),
    BadInput("ture-from-file", "dry_run", "'Ture'", yaml="dry_run: Ture\n"),
    BadInput("maybe-vpc", "run_lambda_in_vpc (RunLambdaInVPC)", "'maybe'",
             {"RunLambdaInVPC": "maybe"}),
    # secrets
    BadInput("secret-format-without-user", "secret_name_format (SecretNameFormat)",
             "'keyrotate/{account_id}'", {"SecretNameFormat": "keyrotate/{account_id}"},
             also=("include {user_name}",)),
    BadInput("secret-format-unknown-placeholder-file", "secret_name_format",
             "'keyrotate/{user}'", yaml="secret_name_format: 'keyrotate/{user}'\n",
             also=("remove {user}",)),
    BadInput("secret-format-unbalanced", "SecretNameFormat", "'keyrotate/{user_name'",
             {"SecretNameFormat": "keyrotate/{user_name"}, also=("braces",)),
    BadInput("reader-not-an-arn", "secret_reader_principals (SecretReaderPrincipals)",
             "'arn:aws:iam::123:role/app'",
             {"SecretReaderPrincipals": "arn:aws:iam::123:role/app"}),
    BadInput("central-mode-without-account", "central_account (CentralAccount)", "None",
             {"StoreSecretsInCentralAccount": "True"}, also=("store_secrets_in_central_account",)),
    # secrets: which KMS key, per mode
    BadInput("member-mode-with-a-central-key", "secrets_kms_key_id (SecretsKmsKeyId)",
             f"'{KEY_ID}'", {"SecretsKmsKeyId": KEY_ID},
             also=("store_secrets_in_central_account", "member_secrets_kms_key_alias")),
    BadInput("member-alias-given-as-arn", "member_secrets_kms_key_alias (MemberSecretsKmsKeyAlias)",
             f"'{SINGLE_REGION_KEY}'", {"MemberSecretsKmsKeyAlias": SINGLE_REGION_KEY},
             also=("alias/keyrotate-secrets", "each member account")),
    BadInput("member-alias-in-central-mode", "member_secrets_kms_key_alias", "'alias/team'",
             {**CENTRAL, "MemberSecretsKmsKeyAlias": "alias/team"}, also=("secrets_kms_key_id",)),
    BadInput("central-format-without-account-id", "secret_name_format (SecretNameFormat)",
             "'keyrotate/{user_name}'", {**CENTRAL, "SecretNameFormat": "keyrotate/{user_name}"},
             also=("include {account_id}",)),
    BadInput("central-mode-without-a-key", "secrets_kms_key_id (SecretsKmsKeyId)", "None",
             {"StoreSecretsInCentralAccount": "True", "CentralAccount": "444455556666"},
             also=("customer-managed KMS key",)),
    BadInput("central-key-of-another-account", "secrets_kms_key_id", f"'{OTHER_ACCOUNT_KEY}'",
             {**CENTRAL, "SecretsKmsKeyId": OTHER_ACCOUNT_KEY}, also=("central account",)),
    BadInput("central-key-of-another-region-file", "secrets_kms_key_id", f"'{CENTRAL_KEY}'",
             yaml=(f"store_secrets_in_central_account: true\ncentral_account: '444455556666'\n"
                   f"secrets_kms_key_id: '{CENTRAL_KEY}'\nregion: eu-west-1\n"),
             also=("home region eu-west-1",)),
    BadInput("central-single-region-key-with-replicas", "secrets_kms_key_id",
             f"'{SINGLE_REGION_KEY}'",
             {**CENTRAL, "SecretsKmsKeyId": SINGLE_REGION_KEY,
              "CredentialReplicationRegions": "eu-west-1"}, also=("multi-Region",)),
    BadInput("central-alias-with-replicas", "secrets_kms_key_id", "'alias/keyrotate'",
             {**CENTRAL, "SecretsKmsKeyId": "alias/keyrotate",
              "CredentialReplicationRegions": "eu-west-1"}, also=("multi-Region",)),
    BadInput("kms-key-not-an-identifier", "secrets_kms_key_id (SecretsKmsKeyId)", "'my key'",
             {**CENTRAL, "SecretsKmsKeyId": "my key"}, also=("KMS key ARN",)),
    # e-mail
    BadInput("transport-unknown", "email_transport (EmailTransport)", "'sms'",
             {"EmailTransport": "sms"}, also=("'ses', 'smtp', 'file' or 'none'",)),
    BadInput("smtp-without-host", "smtp_host (SMTPHost)", "None",
             {"EmailTransport": "smtp", "EmailSender": "keys@example.com"}),
    BadInput("ses-without-sender-file", "email_sender", "None",
             yaml="email_transport: ses\n", also=("From address",)),
    BadInput("file-transport-without-mail-dir-file", "mail_dir", "''",
             yaml="email_transport: file\nmail_dir: ''\n", also=("folder",)),
    BadInput("smtp-security-unknown", "smtp_security (SMTPSecurity)", "'ssl'",
             {"SMTPSecurity": "ssl"}, also=("'starttls', 'tls' or 'none'",)),
    BadInput("smtp-user-without-password", "smtp_password_param_name (SMTPPasswordParamName)",
             "None", {"SMTPUserParamName": "/keyrotate/smtp/user"}, also=("or neither",)),
    BadInput("admin-email-no-at", "admin_email_address (AdminEmailAddress)",
             "'admin-at-example.com'", {"AdminEmailAddress": "admin-at-example.com"}),
    BadInput("smtp-port-too-high", "smtp_port (SMTPPort)", "'99999'", {"SMTPPort": "99999"}),
    BadInput("template-http-url", "email_template_audit (EmailTemplateAudit)",
             "'https://example.com/t.html'", {"EmailTemplateAudit": "https://example.com/t.html"},
             also=("s3://bucket/key",)),
)
# fmt: on


def load_bad(case: BadInput, tmp_path: Path) -> InputError:
    config_path = None
    if case.yaml is not None:
        config_path = tmp_path / "keyrotate.yaml"
        config_path.write_text(case.yaml, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_settings(config_path, case.env, {})
    return caught.value


def test_the_table_holds_at_least_25_distinct_bad_inputs() -> None:
    assert len({case.id for case in BAD_INPUTS}) == len(BAD_INPUTS) >= 25


@pytest.mark.parametrize("case", BAD_INPUTS, ids=[case.id for case in BAD_INPUTS])
def test_bad_input_is_an_input_error_naming_field_value_and_fix(
    case: BadInput, tmp_path: Path
) -> None:
    message = str(load_bad(case, tmp_path))
    assert case.field in message
    assert f"{case.value} is not valid" in message
    for text in case.also:
        assert text in message
    assert "pydantic" not in message
    assert "errors.pydantic.dev" not in message
    assert len(message.splitlines()) == 1


def test_the_message_says_which_source_the_bad_value_came_from(tmp_path: Path) -> None:
    config_path = tmp_path / "k.yaml"
    config_path.write_text("workers: 0\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"from .*k\.yaml"):
        load_settings(config_path, {}, {})
    with pytest.raises(InputError, match="from the environment variable MaxWorkers"):
        load_settings(config_path, {"MaxWorkers": "0"}, {})
    with pytest.raises(InputError, match="from a command-line flag"):
        load_settings(config_path, {"MaxWorkers": "4"}, {"workers": "0"})


def test_several_problems_are_reported_together_one_per_line() -> None:
    with pytest.raises(InputError) as caught:
        load_settings(None, {"AWSOrgID": "o-x", "DryRunFlag": "Ture", "MaxWorkers": "x"}, {})
    lines = str(caught.value).splitlines()
    assert len(lines) == 3
    assert {line.split(" ", 1)[0] for line in lines} == {"dry_run", "aws_org_id", "workers"}


def test_a_missing_config_file_is_an_input_error_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(InputError, match="no such file") as caught:
        load_settings(missing, {}, {})
    assert caught.value.field == "--config"
    assert caught.value.value == str(missing)


def test_an_unknown_override_key_is_an_input_error() -> None:
    with pytest.raises(InputError, match="did you mean 'workers'"):
        load_settings(None, {}, {"worker": 3})


def test_unknown_keys_far_from_any_setting_get_no_wrong_guess(tmp_path: Path) -> None:
    config_path = tmp_path / "k.yaml"
    config_path.write_text("zzzz: 1\n", encoding="utf-8")
    with pytest.raises(InputError, match="unknown setting; see `keyrotate config`") as caught:
        load_settings(config_path, {}, {})
    assert "did you mean" not in str(caught.value)

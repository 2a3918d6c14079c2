"""Malformed input through the real CLI: exit 2, the message names the field, no traceback,
and nothing in AWS changes (state read before and after from the moto server).

Sources: flags, environment variables, the YAML config file, account and OU lists. Lambda
event inputs are covered with the handlers.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner

from keyrotate.cli import main

GOOD_ACCOUNT = "123456789012"

# (id, extra CLI args, environment, config file text or None, text the message must name)
CASES: list[tuple[str, list[str], dict[str, str], str | None, str]] = [
    # flags
    ("flag-accounts-short", ["--accounts", "12345"], {}, None, "include_accounts"),
    ("flag-accounts-letters", ["--accounts", "12345678901a"], {}, None, "include_accounts"),
    ("flag-accounts-13-digits", ["--accounts", "1234567890123"], {}, None, "include_accounts"),
    ("flag-accounts-one-bad", ["--accounts", f"{GOOD_ACCOUNT},x"], {}, None, "include_accounts"),
    ("flag-accounts-dashes", ["--accounts", "1234-5678-9012"], {}, None, "include_accounts"),
    ("flag-ou-no-prefix", ["--ou", "ab12-cdef3456"], {}, None, "organizational_units"),
    ("flag-ou-upper", ["--ou", "OU-AB12-CDEF3456"], {}, None, "organizational_units"),
    ("flag-ou-short", ["--ou", "ou-a-b"], {}, None, "organizational_units"),
    ("flag-ou-account-id", ["--ou", GOOD_ACCOUNT], {}, None, "organizational_units"),
    ("flag-root-bad", ["--ou", "r-"], {}, None, "organizational_units"),
    ("flag-force-user-no-colon", ["--force-user", "deploy-bot"], {}, None, "force_users"),
    ("flag-force-user-bad-acct", ["--force-user", "123:deploy"], {}, None, "force_users"),
    ("flag-force-user-space", ["--force-user", f"{GOOD_ACCOUNT}:a b"], {}, None, "force_users"),
    ("flag-workers-zero", ["--workers", "0"], {}, None, "workers"),
    ("flag-workers-big", ["--workers", "65"], {}, None, "workers"),
    ("flag-workers-word", ["--workers", "many"], {}, None, "workers"),
    ("flag-workers-float", ["--workers", "2.5"], {}, None, "workers"),
    ("flag-region-typo", ["--region", "us-esat-1"], {}, None, "region"),
    ("flag-region-nonsense", ["--region", "mars-1"], {}, None, "region"),
    ("flag-output-bad", ["--output", "xml"], {}, None, "--output"),
    ("flag-unknown", ["--rotate-now"], {}, None, "--rotate-now"),
    ("flag-config-missing", ["--config", "/nonexistent/keyrotate.yaml"], {}, None, "--config"),
    # environment
    ("env-dryrun-word", [], {"DryRunFlag": "maybe"}, None, "DryRunFlag"),
    ("env-rotation-word", [], {"RotationPeriod": "ninety"}, None, "RotationPeriod"),
    ("env-rotation-negative", [], {"RotationPeriod": "-5"}, None, "rotate"),
    ("env-rotation-zero", [], {"RotationPeriod": "0"}, None, "rotate"),
    ("env-order", [], {"RotationPeriod": "120"}, None, "rotate"),
    ("env-inactive-float", [], {"InactivePeriod": "100.5"}, None, "InactivePeriod"),
    ("env-delete-before-deactivate", [], {"DeletePeriod": "95"}, None, "delete"),
    ("env-warn-too-big", [], {"WarnPeriod": "95"}, None, "warn"),
    ("env-unused-action", [], {"UnusedKeyAction": "shred"}, None, "UnusedKeyAction"),
    ("env-hold-flag", [], {"HoldIfPreviousInUse": "sometimes"}, None, "HoldIfPreviousInUse"),
    ("env-role-name-space", [], {"IAMRoleName": "bad role"}, None, "IAMRoleName"),
    ("env-role-name-long", [], {"IAMRoleName": "r" * 65}, None, "IAMRoleName"),
    ("env-org-id", [], {"AWSOrgID": "org-123"}, None, "AWSOrgID"),
    ("env-include-bad", [], {"IncludeAccounts": "1,2,3"}, None, "IncludeAccounts"),
    ("env-exclude-bad", [], {"ExcludeAccounts": "abc"}, None, "ExcludeAccounts"),
    ("env-ou-bad", [], {"OrganizationalUnits": "ou-!!"}, None, "OrganizationalUnits"),
    ("env-max-workers", [], {"MaxWorkers": "-1"}, None, "MaxWorkers"),
    ("env-scan-mode", [], {"ScanMode": "fast"}, None, "ScanMode"),
    ("env-verify", [], {"VerifyNewKeys": "perhaps"}, None, "VerifyNewKeys"),
    ("env-admin-email", [], {"AdminEmailAddress": "not-an-address"}, None, "AdminEmailAddress"),
    ("env-transport", [], {"EmailTransport": "pigeon"}, None, "EmailTransport"),
    ("env-smtp-port", [], {"SMTPPort": "70000"}, None, "SMTPPort"),
    ("env-smtp-security", [], {"SMTPSecurity": "ssl3"}, None, "SMTPSecurity"),
    ("env-secret-format", [], {"SecretNameFormat": "keyrotate/{account_id}"}, None, "Secret"),
    ("env-secret-format-brace", [], {"SecretNameFormat": "k/{user_name"}, None, "Secret"),
    ("env-secret-format-unknown", [], {"SecretNameFormat": "k/{user}/{x}"}, None, "Secret"),
    ("env-reader-arn", [], {"SecretReaderPrincipals": "arn:aws:s3:::b"}, None, "SecretReader"),
    ("env-replica-region", [], {"CredentialReplicationRegions": "eu-nowhere-9"}, None, "Credent"),
    ("env-sender", [], {"EmailSender": "Keys <keys@>"}, None, "EmailSender"),
    ("env-session-name", [], {"SessionName": "a"}, None, "SessionName"),
    ("env-external-id", [], {"ExternalId": "x"}, None, "ExternalId"),
    ("env-region", [], {"AWS_REGION": "moon-1"}, None, "region"),
    ("env-force-users", [], {"ForceUsers": "nobody"}, None, "ForceUsers"),
    # config file
    ("file-not-mapping", [], {}, "- a\n- b\n", "config file"),
    ("file-bad-yaml", [], {}, "rotate_after_days: [90\n", "config file"),
    ("file-unknown-key", [], {}, "rotate_after_dayz: 90\n", "rotate_after_dayz"),
    ("file-env-name-key", [], {}, "RotationPeriod: 90\n", "RotationPeriod"),
    ("file-days-text", [], {}, "rotate_after_days: soon\n", "rotate_after_days"),
    ("file-days-bool", [], {}, "rotate_after_days: true\n", "rotate_after_days"),
    ("file-accounts-short", [], {}, "include_accounts: [12345]\n", "include_accounts"),
    ("file-ou-number", [], {}, "organizational_units: [42]\n", "organizational_units"),
    ("file-workers-list", [], {}, "workers: [1, 2]\n", "workers"),
    ("file-port-text", [], {}, "smtp_port: smtp\n", "smtp_port"),
    ("file-tag-key-bad", [], {}, "exemption_tag: 'a*b'\n", "exemption_tag"),
]


def _state() -> dict[str, Any]:
    """Users, their keys (id, status) and secrets of the caller's account."""
    iam = boto3.client("iam")
    users = {
        u["UserName"]: sorted(
            (k["AccessKeyId"], k["Status"])
            for k in iam.list_access_keys(UserName=u["UserName"])["AccessKeyMetadata"]
        )
        for u in iam.list_users()["Users"]
    }
    secrets = sorted(s["Name"] for s in boto3.client("secretsmanager").list_secrets()["SecretList"])
    return {"users": users, "secrets": secrets}


def _invoke(
    tmp_path: Path, args: list[str], env: dict[str, str], text: str | None
) -> tuple[int, str]:
    if text is not None:
        path = tmp_path / "keyrotate.yaml"
        path.write_text(text, encoding="utf-8")
        args = ["--config", str(path), *args]
    # --enforce would override DryRunFlag (flags win), and hide that case.
    mode = [] if "DryRunFlag" in env else ["--enforce"]
    # Never real AWS, even if a case is wrongly accepted: a dead local port unless a
    # fixture points boto3 at the moto server.
    env = {"AWS_ENDPOINT_URL": os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:9"), **env}
    result = CliRunner().invoke(main, ["run", *mode, *args], env=env)
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    return result.exit_code, output


@pytest.mark.parametrize(
    ("args", "env", "text", "names"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_exits_2_naming_the_field_without_traceback(
    tmp_path: Path, args: list[str], env: dict[str, str], text: str | None, names: str
) -> None:
    code, output = _invoke(tmp_path, args, env, text)
    assert code == 2, output
    assert names.lower() in output.lower(), output
    assert "Traceback" not in output


@pytest.fixture
def seeded(moto_endpoint: str) -> dict[str, Any]:
    """One user with an old key (an enforce run would rotate it) and an organization."""
    iam = boto3.client("iam")
    iam.create_user(UserName="victim")
    iam.create_access_key(UserName="victim")
    boto3.client("organizations").create_organization(FeatureSet="ALL")
    return _state()


@pytest.mark.parametrize(
    ("args", "env", "names"),
    [
        (["--accounts", "12345"], {}, "include_accounts"),
        (["--workers", "0"], {}, "workers"),
        ([], {"RotationPeriod": "-1"}, "rotate"),
        ([], {"EmailTransport": "pigeon"}, "EmailTransport"),
        (["--ou", "ou-zz99-zzzzzzzz"], {}, "ou-zz99-zzzzzzzz"),  # well formed, not in the org
        (["--ou", "r-zz99"], {}, "r-zz99"),  # a root id of another organization
        (["--ou", "/Root/Nowhere"], {}, "/Root/Nowhere"),  # a path as reports print, no OU
    ],
    ids=["account", "workers", "policy", "transport", "ou-not-in-org", "foreign-root", "ou-path"],
)
def test_bad_input_changes_nothing_in_aws(
    seeded: dict[str, Any], tmp_path: Path, args: list[str], env: dict[str, str], names: str
) -> None:
    code, output = _invoke(tmp_path, args, env, None)
    assert code == 2, output
    assert names.lower() in output.lower(), output
    assert "Traceback" not in output
    assert _state() == seeded


def test_the_table_holds_at_least_fifty_bad_inputs() -> None:
    assert len(CASES) + 7 >= 50
    assert len({c[0] for c in CASES}) == len(CASES)

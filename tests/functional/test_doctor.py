"""``keyrotate doctor`` through the CLI against the emulator: each unready thing it must find,
a ready organization passing, and not one write call made on the way.

Each test builds a small organization of its own (member accounts as member-role.yaml sets
them up: the role, the read-own-secret policy, the exemption group) and breaks one thing. An
account whose role cannot be assumed is a fault on AssumeRole into it: moto does not check
trust policies (docs/emulator.md). moto does not implement SimulatePrincipalPolicy either, so
the doctor falls back to its read probes and reports the writes unchecked (warn); the last
tests put a stand-in for IAM's decision in the adapter's place to show the simulated path.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from click.testing import CliRunner

from keyrotate.aws import iam, preflight, secrets
from keyrotate.cli import main
from keyrotate_emulator.faults import Fault
from keyrotate_emulator.seed import (
    MANAGEMENT_ACCOUNT_ID,
    OrganizationBuilder,
    assume_member_role,
    create_member_roles,
    create_multi_region_key,
    iam_client,
    read_own_secret_policy,
)
from keyrotate_emulator.server import EmulatorServer
from tests.functional.test_notify_smtp import LoopbackController

ROLE = "keyrotate-member"
READ_POLICY = "keyrotate-read-own-secret"
GROUP = "IAMKeyRotationExemptionGroup"
SENDER = "keyrotate@example.com"
SMTP_USER = "mailer"
SMTP_PASSWORD = "right-password"
USER_PARAM = "/keyrotate/smtp/user"
PASSWORD_PARAM = "/keyrotate/smtp/password"
# What a doctor may call: reads, the role, the simulation. Anything else would be a change.
READ_PREFIXES = ("Get", "List", "Describe", "AssumeRole", "Simulate")
_SESSION = boto3.session.Session()  # one session: a new one reloads botocore's models


@dataclass(frozen=True)
class Doctor:
    exit_code: int
    document: dict[str, Any]
    stderr: str

    def rows(self, account_id: str | None = None) -> dict[str, dict[str, str]]:
        """``{check: row}`` of one account (``-``: the run-wide checks)."""
        key = "-" if account_id is None else account_id
        return {c["check"]: c for c in self.document["checks"] if c["account_id"] == key}

    def failing(self) -> set[tuple[str, str]]:
        return {
            (c["account_id"], c["check"]) for c in self.document["checks"] if c["status"] == "fail"
        }


def build_accounts(url: str, count: int, *, policy: bool = True, group: bool = True) -> list[str]:
    builder = OrganizationBuilder(url)
    made = [builder.account(f"member-{i}", f"member-{i}@example.com") for i in range(count)]
    accounts = sorted(a.account_id for a in made)
    create_member_roles(url, accounts, ROLE)
    for account_id in accounts:
        iam = iam_client(url, account_id, ROLE)
        if policy:
            iam.create_policy(
                PolicyName=READ_POLICY, PolicyDocument=read_own_secret_policy(account_id)
            )
        if group:
            iam.create_group(GroupName=GROUP)
    return accounts


def doctor(accounts: list[str], env: Mapping[str, str], *args: str) -> Doctor:
    result = CliRunner().invoke(
        main,
        ["doctor", "--accounts", ",".join(accounts), "--output", "json", *args],
        env={"IAMRoleName": ROLE, "AWS_REGION": "us-east-1", **env},
        catch_exceptions=False,
    )
    assert result.stdout.lstrip().startswith("{"), (result.exit_code, result.stderr)
    return Doctor(result.exit_code, json.loads(result.stdout), result.stderr)


def file_mail(tmp_path: Path) -> dict[str, str]:
    return {
        "EmailTransport": "file",
        "MailDir": str(tmp_path / "mail"),
        "AdminEmailAddress": "admin@example.com",
    }


def writes(server: EmulatorServer) -> dict[tuple[str, str], int]:
    return {
        op: n
        for op, n in server.calls().by_operation.items()
        if not op[1].startswith(READ_PREFIXES)
    }


def test_a_ready_organization_passes_with_exit_0_and_no_write_call(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    accounts = build_accounts(emulator.url, 2)
    emulator.reset_calls()
    unknown = "999999999999"  # named, but not in the organization: said, not checked
    found = doctor(
        [*accounts, unknown], {**file_mail(tmp_path), "CredentialReplicationRegions": "us-west-2"}
    )
    assert found.exit_code == 0, found.document
    assert found.rows(unknown)["scope"]["status"] == "warn"
    assert "not in" in found.rows(unknown)["scope"]["reason"]
    assert found.failing() == set()
    for account_id in accounts:
        rows = found.rows(account_id)
        assert {k: r["status"] for k, r in rows.items()} == {
            "role": "ok",
            "permissions: read": "ok",
            # moto has no policy simulation: the writes cannot be checked here
            "permissions: write": "warn",
            "permissions: cleanup": "warn",  # the clean-up's deletions: unchecked too
            "exemption group": "ok",
            "read-own-secret policy": "ok",
            "secrets us-east-1": "ok",
            "secrets us-west-2": "ok",
        }
    assert {k: r["status"] for k, r in found.rows().items()} == {"mail": "ok", "templates": "ok"}
    assert writes(emulator) == {}
    assert not (tmp_path / "mail").exists()  # no mail written


def test_doctor_finds_an_unassumable_role_a_missing_policy_and_a_missing_group(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    ready, no_policy, no_group, no_role = build_accounts(emulator.url, 4)
    iam_client(emulator.url, no_policy, ROLE).delete_policy(
        PolicyArn=f"arn:aws:iam::{no_policy}:policy/{READ_POLICY}"
    )
    iam_client(emulator.url, no_group, ROLE).delete_group(GroupName=GROUP)
    emulator.inject(
        Fault(
            service="sts",
            operation="AssumeRole",
            kind="access_denied",
            times=None,
            body_contains=no_role,
        )
    )
    emulator.reset_calls()
    found = doctor([ready, no_policy, no_group, no_role], file_mail(tmp_path))
    assert found.exit_code == 1
    assert found.failing() == {
        (no_policy, "read-own-secret policy"),
        (no_group, "exemption group"),
        (no_role, "role"),
    }
    assert f"role/{ROLE}" in found.rows(no_role)["role"]["reason"]
    assert "OperatorPrincipalArn" in found.rows(no_role)["role"]["fix"]
    assert READ_POLICY in found.rows(no_policy)["read-own-secret policy"]["reason"]
    assert GROUP in found.rows(no_group)["exemption group"]["reason"]
    assert writes(emulator) == {}


def test_a_report_path_that_cannot_be_written_is_refused_before_any_check(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.reset_calls()
    result = CliRunner().invoke(
        main,
        ["doctor", "--report", str(tmp_path)],
        env={"IAMRoleName": ROLE, **file_mail(tmp_path)},
    )
    assert result.exit_code == 2
    assert "report" in result.stderr
    assert emulator.calls().by_account == {}


def test_the_table_names_each_failure_and_what_to_do_and_the_report_file_keeps_it(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    (account,) = build_accounts(emulator.url, 1, group=False)
    report = tmp_path / "reports" / "doctor.json"  # its folder made, as run does
    result = CliRunner().invoke(
        main,
        ["doctor", "--accounts", account, "--report", str(report)],
        env={
            "IAMRoleName": ROLE,
            "AWS_REGION": "us-east-1",
            "COLUMNS": "250",
            **file_mail(tmp_path),
        },
    )
    assert result.exit_code == 1
    assert "exemption group" in result.stdout
    assert "fail" in result.stdout
    written = json.loads(report.read_text("utf-8"))
    assert written["ok"] is False
    assert written["counts"]["fail"] == 1
    assert [c["check"] for c in written["checks"] if c["status"] == "fail"] == ["exemption group"]
    assert "IAMExemptionGroup" in result.stdout  # what to do
    assert "a run would fail" in result.stdout


def test_text_output_is_one_tab_separated_line_per_check(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    ready, no_group = build_accounts(emulator.url, 2)
    iam_client(emulator.url, no_group, ROLE).delete_group(GroupName=GROUP)
    as_json = doctor([ready, no_group], file_mail(tmp_path))
    result = CliRunner().invoke(
        main,
        ["doctor", "--accounts", f"{ready},{no_group}", "--output", "text"],
        env={"IAMRoleName": ROLE, "AWS_REGION": "us-east-1", **file_mail(tmp_path)},
    )
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    expected = [
        [c["account_id"], c["check"], c["status"], c["reason"], c["fix"]]
        for c in as_json.document["checks"]
    ]
    assert [line.split("\t") for line in lines] == expected
    failing = [line for line in lines if "\tfail\t" in line]  # what a grep finds
    assert len(failing) == 1
    assert failing[0].startswith(f"{no_group}\texemption group\tfail\t")


@pytest.mark.parametrize("output", ["html", "csv"])
def test_report_formats_are_refused_with_exit_2_naming_the_supported_ones(
    emulator: EmulatorServer, tmp_path: Path, output: str
) -> None:
    emulator.reset_calls()
    result = CliRunner().invoke(
        main,
        ["doctor", "--output", output],
        env={"IAMRoleName": ROLE, "AWS_REGION": "us-east-1", **file_mail(tmp_path)},
    )
    assert result.exit_code == 2
    assert "table, text, json" in result.stderr
    assert result.stdout == ""
    assert emulator.calls().by_account == {}  # refused before any call


def ses_mail() -> dict[str, str]:
    return {
        "EmailTransport": "ses",
        "EmailSender": SENDER,
        "AdminEmailAddress": "admin@example.com",
    }


def test_doctor_finds_an_unverified_ses_identity(emulator: EmulatorServer) -> None:
    accounts = build_accounts(emulator.url, 1)
    found = doctor(accounts, ses_mail())
    assert found.exit_code == 1
    assert found.failing() == {("-", "mail")}
    assert SENDER in found.rows()["mail"]["reason"]
    assert "verify" in found.rows()["mail"]["fix"]


def test_a_verified_ses_identity_passes(emulator: EmulatorServer) -> None:
    accounts = build_accounts(emulator.url, 1)
    boto3.client("ses", region_name="us-east-1").verify_domain_identity(Domain="example.com")
    emulator.reset_calls()
    found = doctor(accounts, ses_mail())
    assert found.exit_code == 0, found.document
    assert found.rows()["mail"]["status"] == "ok"
    assert writes(emulator) == {}  # nothing sent either


@dataclass
class Relay:
    logins: list[bool]
    mails: list[Any]

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails.append(envelope)
        return "250 OK"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login.decode() == SMTP_USER
            and data.password.decode() == SMTP_PASSWORD
        )
        self.logins.append(ok)
        # handled=False: aiosmtpd then answers 535 itself (its default would answer nothing)
        return AuthResult(success=ok, handled=False)


@pytest.fixture
def relay() -> Iterator[tuple[Relay, int]]:
    handler = Relay([], [])
    server = LoopbackController(
        handler,
        hostname="127.0.0.1",
        port=0,
        authenticator=handler.authenticate,
        auth_require_tls=False,
    )
    server.start()
    try:
        yield handler, server.port
    finally:
        server.stop()


def smtp_mail(port: int, password: str) -> dict[str, str]:
    ssm = boto3.client("ssm", region_name="us-east-1")
    ssm.put_parameter(Name=USER_PARAM, Value=SMTP_USER, Type="SecureString")
    ssm.put_parameter(Name=PASSWORD_PARAM, Value=password, Type="SecureString")
    return {
        "EmailTransport": "smtp",
        "EmailSender": SENDER,
        "AdminEmailAddress": "admin@example.com",
        "SMTPHost": "127.0.0.1",
        "SMTPPort": str(port),
        "SMTPSecurity": "none",
        "SMTPUserParamName": USER_PARAM,
        "SMTPPasswordParamName": PASSWORD_PARAM,
    }


def test_doctor_finds_a_wrong_smtp_password(
    emulator: EmulatorServer, relay: tuple[Relay, int]
) -> None:
    handler, port = relay
    accounts = build_accounts(emulator.url, 1)
    found = doctor(accounts, smtp_mail(port, "wrong-password"))
    assert found.exit_code == 1
    assert found.failing() == {("-", "mail")}
    assert "SMTPAuthenticationError" in found.rows()["mail"]["reason"]
    assert PASSWORD_PARAM in found.rows()["mail"]["fix"]
    assert "wrong-password" not in json.dumps(found.document)
    assert handler.logins  # smtplib tries each mechanism the server offers
    assert not any(handler.logins)
    assert handler.mails == []


def test_the_right_smtp_password_logs_in_and_sends_nothing(
    emulator: EmulatorServer, relay: tuple[Relay, int]
) -> None:
    handler, port = relay
    accounts = build_accounts(emulator.url, 1)
    found = doctor(accounts, smtp_mail(port, SMTP_PASSWORD))
    assert found.exit_code == 0, found.document
    assert found.rows()["mail"]["status"] == "ok"
    assert handler.logins == [True]
    assert handler.mails == []


# -- IAM's policy simulation (moto has none: a stand-in decides as IAM would) ---------------
@dataclass
class Simulator:
    """Answers SimulatePrincipalPolicy as IAM would for a role that lacks ``denied``."""

    denied: frozenset[str]
    asked: list[tuple[str, str, str, dict[str, list[str]]]]

    def __call__(
        self,
        client: Any,
        principal_arn: str,
        actions: Sequence[str],
        resource_arn: str,
        context: Mapping[str, Sequence[str]] | None = None,
    ) -> list[preflight.Simulated]:
        asked = {k: list(v) for k, v in (context or {}).items()}
        self.asked.extend((principal_arn, a, resource_arn, asked) for a in actions)
        return [
            preflight.Simulated(
                a, a not in self.denied, "implicitDeny" if a in self.denied else "allowed"
            )
            for a in actions
        ]


def simulated(monkeypatch: pytest.MonkeyPatch, denied: set[str]) -> Simulator:
    simulator = Simulator(frozenset(denied), [])
    monkeypatch.setattr(preflight, "simulate", simulator)
    return simulator


CLEANUP = set(secrets.CLEANUP_PERMISSIONS)
# member-role.yaml's audit tier: no write, and no deletion of orphaned secrets either
AUDIT_TIER_DENIES = set(iam.WRITE_PERMISSIONS) | set(secrets.WRITE_PERMISSIONS) | CLEANUP


def test_an_audit_tier_role_warns_an_audit_doctor_and_fails_an_enforce_one(
    emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (account,) = build_accounts(emulator.url, 1)
    simulator = simulated(monkeypatch, AUDIT_TIER_DENIES)
    audit = doctor([account], file_mail(tmp_path))
    assert audit.exit_code == 0, audit.document
    assert audit.rows(account)["permissions: read"]["status"] == "ok"
    assert audit.rows(account)["permissions: write"]["status"] == "warn"
    enforce = doctor([account], file_mail(tmp_path), "--enforce")
    assert enforce.exit_code == 1
    assert enforce.failing() == {(account, "permissions: write")}
    row = enforce.rows(account)["permissions: write"]
    assert "iam:CreateAccessKey" in row["reason"]
    assert "secretsmanager:PutSecretValue" in row["reason"]
    assert "MemberRoleTier=enforce" in row["fix"]
    # asked about the member role itself, with what the run's calls would carry
    role = f"arn:aws:iam::{account}:role/{ROLE}"
    assert {principal for principal, *_ in simulator.asked} == {role}
    asked = {action: (resource, context) for _, action, resource, context in simulator.asked}
    assert asked["iam:AttachUserPolicy"][1] == {
        "iam:PolicyARN": [f"arn:aws:iam::{account}:policy/{READ_POLICY}"]
    }
    assert asked["iam:TagUser"][1] == {"aws:TagKeys": ["keyrotate:intent"]}
    assert asked["iam:GetGroup"][0] == f"arn:aws:iam::{account}:group/{GROUP}"
    assert asked["secretsmanager:PutResourcePolicy"][1] == {
        "secretsmanager:BlockPublicPolicy": ["true"]
    }
    assert set(asked) == AUDIT_TIER_DENIES | set(iam.READ_PERMISSIONS) | set(
        secrets.READ_PERMISSIONS
    )
    # the audit tier may not delete orphans either: said, but no run needs it
    assert enforce.rows(account)["permissions: cleanup"]["status"] == "warn"


def test_a_role_that_may_not_delete_orphaned_secrets_warns_and_an_enforce_run_is_ready(
    emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (account,) = build_accounts(emulator.url, 1)
    simulator = simulated(monkeypatch, set(CLEANUP))
    found = doctor([account], file_mail(tmp_path), "--enforce")
    assert found.exit_code == 0, found.document  # keyrotate run --enforce deletes no secret
    row = found.rows(account)["permissions: cleanup"]
    assert row["status"] == "warn"
    assert "secretsmanager:DeleteSecret" in row["reason"]
    assert "secretsmanager:RemoveRegionsFromReplication" in row["reason"]
    assert "keyrotate cleanup --enforce" in row["reason"]
    assert "DeleteOnlyOrphanedSecrets" in row["fix"]
    assert found.rows(account)["permissions: write"]["status"] == "ok"
    # asked on one of the account's keyrotate secrets, marked orphaned as cleanup requires
    asked = {action: (resource, context) for _, action, resource, context in simulator.asked}
    resource, context = asked["secretsmanager:DeleteSecret"]
    assert resource.startswith(f"arn:aws:secretsmanager:us-east-1:{account}:secret:keyrotate/")
    assert list(context) == ["secretsmanager:ResourceTag/keyrotate:orphaned-at"]

    simulated(monkeypatch, set())
    allowed = doctor([account], file_mail(tmp_path), "--enforce")
    assert allowed.rows(account)["permissions: cleanup"]["status"] == "ok"


def test_a_read_the_role_is_denied_fails_whatever_the_mode(
    emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (account,) = build_accounts(emulator.url, 1)
    simulated(monkeypatch, {"iam:ListAccessKeys"})
    found = doctor([account], file_mail(tmp_path))
    assert found.exit_code == 1
    assert found.failing() == {(account, "permissions: read")}
    assert found.rows(account)["permissions: read"]["reason"] == "denied: iam:ListAccessKeys"
    assert found.rows(account)["permissions: write"]["status"] == "ok"


def member_key(url: str, account_id: str, alias: str, region: str, *, enabled: bool = True) -> None:
    """A customer-managed key under ``alias`` in the member account, as an operator makes it."""
    kms = _SESSION.client(
        "kms", region_name=region, endpoint_url=url, **assume_member_role(url, account_id, ROLE)
    )
    key_id = kms.create_key(Description="keyrotate secrets")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    if not enabled:
        kms.disable_key(KeyId=key_id)


def test_doctor_finds_a_member_key_missing_in_a_replica_region_or_disabled(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    alias = "alias/keyrotate-secrets"
    ready, no_replica, disabled = build_accounts(emulator.url, 3)
    for region in ("us-east-1", "us-west-2"):
        member_key(emulator.url, ready, alias, region)
        member_key(emulator.url, disabled, alias, region, enabled=region != "us-west-2")
    member_key(emulator.url, no_replica, alias, "us-east-1")
    settings = {
        **file_mail(tmp_path),
        "MemberSecretsKmsKeyAlias": alias,
        "CredentialReplicationRegions": "us-west-2",
    }
    emulator.reset_calls()
    found = doctor([ready, no_replica, disabled], settings)
    assert found.exit_code == 1
    assert found.failing() == {(no_replica, "kms us-west-2"), (disabled, "kms us-west-2")}
    assert found.rows(ready)["kms us-west-2"]["status"] == "ok"
    assert "Disabled" in found.rows(disabled)["kms us-west-2"]["reason"]
    assert alias in found.rows(no_replica)["kms us-west-2"]["reason"]
    assert writes(emulator) == {}


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("<html><body>{{ no_such_value }}</body></html>", "fails to render"),
        ("<html><body>{% if %}</body></html>", "does not compile"),
    ],
    ids=["renders-with-an-unknown-name", "does-not-compile"],
)
def test_doctor_finds_a_mail_template_that_would_break_the_run(
    emulator: EmulatorServer, tmp_path: Path, template: str, problem: str
) -> None:
    accounts = build_accounts(emulator.url, 1)
    override = tmp_path / "audit.html"
    override.write_text(template, "utf-8")
    found = doctor(accounts, {**file_mail(tmp_path), "EmailTemplateAudit": str(override)})
    assert found.exit_code == 1
    assert found.failing() == {("-", "templates")}
    reason = found.rows()["templates"]["reason"]
    assert problem in reason
    assert str(override) in reason


def test_central_mode_checks_the_central_store_once_in_every_region(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    accounts = build_accounts(emulator.url, 2)
    # The central key as main.yaml makes it, with a replica in one of the two replica
    # regions only: the other region's replica is missing.
    key = create_multi_region_key(MANAGEMENT_ACCOUNT_ID, "us-east-1", ["us-west-2"])
    settings = {
        **file_mail(tmp_path),
        "StoreSecretsInCentralAccount": "true",
        "CentralAccount": MANAGEMENT_ACCOUNT_ID,
        "SecretsKmsKeyId": key,
        "CredentialReplicationRegions": "us-west-2,eu-west-1",
    }
    found = doctor(accounts, settings)
    central = found.rows(MANAGEMENT_ACCOUNT_ID)
    assert {k: r["status"] for k, r in central.items()} == {
        "secrets us-east-1": "ok",
        "kms us-east-1": "ok",
        "secrets us-west-2": "ok",
        "kms us-west-2": "ok",
        "secrets eu-west-1": "ok",
        "kms eu-west-1": "fail",
    }
    for account_id in accounts:  # the members' own stores are not the run's
        assert not [k for k in found.rows(account_id) if k.startswith(("secrets", "kms"))]
    assert found.exit_code == 1
    assert found.failing() == {(MANAGEMENT_ACCOUNT_ID, "kms eu-west-1")}

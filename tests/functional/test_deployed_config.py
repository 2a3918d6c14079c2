"""A rotation with exactly the environment deploy/main.yaml gives the functions.

For each secrets mode, the functions' environment is resolved from the template
(:mod:`tests.functional.deployed_env`: defaults, the parameters deploy/README.md tells an
operator to pass, emulator-created KMS keys for SecretsKey and DataKey), set as the process
environment, and a run goes through the real handlers in-process (Inventory -> RotateAccount
per account -> Digest). The emulator plays AWS's KMS rule for Secrets Manager: a bare key id
or alias is looked up in the account that stores the secret, an ARN must name an existing key
of the secret's (or replica's) region. Each mode must rotate the due keys of two member
accounts and store each new key in the right account, under a key that account can use.

The deployment account is a member account of its own ("security"), as the README advises;
OrgListAccount is the management account.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from keyrotate.lambda_handlers import digest_handler, inventory_handler, rotate_account_handler
from keyrotate_emulator import EmulatorServer
from keyrotate_emulator.seed import (
    MANAGEMENT_ACCOUNT_ID,
    KeySpec,
    OrganizationBuilder,
    UserSpec,
    assume_member_role,
    create_member_roles,
    create_multi_region_key,
    iam_client,
    read_own_secret_policy,
    seed_users,
)
from keyrotate_emulator.strict import Strictness

from .deployed_env import main_stack

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

REGION = "us-east-1"
REPLICA_REGION = "us-west-2"
ROLE = "keyrotate-member"  # IAMRoleName's default
READ_POLICY = "keyrotate-read-own-secret"  # ReadSecretPolicyName's default
MEMBER_ALIAS = "alias/keyrotate-secrets"
REPORT_BUCKET = "keyrotate-reportbucket-1a2b3c4d5e6f"
KILL_SWITCH = "/keyrotate/kill-switch"  # main.yaml's KillSwitch, for the stack "keyrotate"
USER = "svc-app"  # in both workload accounts: central mode must keep them apart


@dataclass(frozen=True)
class Context:
    """The attributes of a LambdaContext that Powertools' Logger reads."""

    function_name: str = "keyrotate-rotate-account"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:111111111111:function:keyrotate"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"


CONTEXT: Any = Context()


@dataclass(frozen=True)
class Mode:
    """An operator's choices on top of the README's step 1."""

    name: str
    central: bool
    replicas: tuple[str, ...] = ()
    member_alias: str = ""

    def parameters(self) -> dict[str, str]:
        return {
            "DryRunFlag": "False",  # the README's last step, once the audit mails look right
            "StoreSecretsInCentralAccount": str(self.central),
            "CredentialReplicationRegions": ",".join(self.replicas),
            "MemberSecretsKmsKeyAlias": self.member_alias,
        }


MODES = (
    Mode("member", False),
    Mode("member-with-alias-and-replica", False, (REPLICA_REGION,), MEMBER_ALIAS),
    Mode("central-with-replica", True, (REPLICA_REGION,)),
)


@dataclass(frozen=True)
class Org:
    org_id: str
    root_id: str
    deployment: str
    workloads: tuple[str, str]
    seeded_keys: dict[str, str]  # account -> the due key of USER

    @property
    def all_accounts(self) -> tuple[str, ...]:
        return (MANAGEMENT_ACCOUNT_ID, self.deployment, *self.workloads)


@pytest.fixture
def emulator(emulator: EmulatorServer) -> EmulatorServer:
    """The shared emulator, empty. New keys are usable at once here: the verification wait is
    another test's subject.
    """
    emulator.strictness = Strictness(key_propagation_seconds=0)
    return emulator


def _session(url: str, account_id: str) -> boto3.Session:
    creds = assume_member_role(url, account_id, ROLE)
    return boto3.Session(region_name=REGION, **creds)


def build_org(url: str, now: datetime) -> Org:
    """Management, a deployment account and two workload accounts with one due key each."""
    builder = OrganizationBuilder(url)
    deployment = builder.account("security", "security@example.com", "Security").account_id
    workloads = tuple(
        builder.account(name, f"{name}@example.com", "Workloads").account_id
        for name in ("workload-a", "workload-b")
    )
    org = boto3.client("organizations").describe_organization()["Organization"]
    accounts = (MANAGEMENT_ACCOUNT_ID, deployment, *workloads)
    create_member_roles(url, accounts, ROLE)  # what member-role.yaml deploys, per account
    for account in accounts:
        iam_client(url, account, ROLE).create_policy(
            PolicyName=READ_POLICY, PolicyDocument=read_own_secret_policy(account)
        )
    due = (KeySpec(age_days=95, active=True, used_days_ago=1),)
    keys = {
        account: seed_users(url, account, [UserSpec(USER, due)], now, role_name=ROLE)[USER][0]
        for account in workloads
    }
    return Org(
        org["Id"],
        builder.root_id,
        deployment,
        (workloads[0], workloads[1]),
        {account: key.key_id for account, key in keys.items()},
    )


def deploy(url: str, org: Org, mode: Mode) -> dict[str, dict[str, str]]:
    """What the operator's stacks create that the functions use; returns resources by id."""
    session = _session(url, org.deployment)
    session.client("s3").create_bucket(Bucket=REPORT_BUCKET)
    session.client("ses").verify_email_identity(EmailAddress="security@example.com")
    kms = session.client("kms")
    data_key = kms.create_key(Description="keyrotate data")["KeyMetadata"]
    # SecretsKey, and in central mode secrets-key-replica.yaml's stack in each replica region
    secrets_key_arn = create_multi_region_key(
        org.deployment, REGION, mode.replicas if mode.central else (), description="secrets"
    )
    if mode.member_alias:  # the operator's own key under that alias, everywhere
        for account in org.all_accounts:
            for region in (REGION, *mode.replicas):
                member_kms = _session(url, account).client("kms", region_name=region)
                key_id = member_kms.create_key(Description="team secrets")["KeyMetadata"]["KeyId"]
                member_kms.create_alias(AliasName=mode.member_alias, TargetKeyId=key_id)
    # the stack's kill switch, as created: off
    session.client("ssm").put_parameter(Name=KILL_SWITCH, Value="off", Type="String")
    return {
        "ReportBucket": {"Ref": REPORT_BUCKET},
        "SecretsKey": {"Ref": secrets_key_arn.rpartition("/")[2], "Arn": secrets_key_arn},
        "DataKey": {"Ref": data_key["KeyId"], "Arn": data_key["Arn"]},
        "KillSwitch": {"Ref": KILL_SWITCH},
    }


def deployed_environment(org: Org, mode: Mode, resources: dict[str, Any]) -> dict[str, str]:
    stack = main_stack(
        org_id=org.org_id,
        root_id=org.root_id,
        management_account=MANAGEMENT_ACCOUNT_ID,
        deployment_account=org.deployment,
        parameters=mode.parameters(),
        resources=resources,
    )
    environments = stack.function_environments()
    assert len(environments) == 3
    first, *others = environments.values()
    assert all(env == first for env in others)  # one config loader serves the three
    return first


def run_chain(now: datetime) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """Inventory -> RotateAccount per account (inline map) -> Digest, as the ASL passes."""
    started = now.isoformat()
    inventory = inventory_handler(
        {"run_id": "deployed", "started_at": started, "map_mode": "inline", "request": {}},
        CONTEXT,
    )
    summaries = [
        json.loads(
            json.dumps(
                rotate_account_handler(
                    {"run_id": "deployed", "mode": inventory["mode"], "account": account},
                    CONTEXT,
                )
            )
        )
        for account in inventory["accounts"]
    ]
    digest = digest_handler(
        {
            "run_id": "deployed",
            "mode": inventory["mode"],
            "started_at": started,
            "skipped": inventory["skipped"],
            "results": summaries,
        },
        CONTEXT,
    )
    return inventory, summaries, digest


def _secrets(session: boto3.Session, region: str = REGION) -> dict[str, dict[str, Any]]:
    client = session.client("secretsmanager", region_name=region)
    listed = client.list_secrets()["SecretList"]
    return {s["Name"]: client.describe_secret(SecretId=s["Name"]) for s in listed}


def _held_key_id(session: boto3.Session, name: str) -> str:
    """The AccessKeyId in the secret's value; the secret access key goes nowhere."""
    value = session.client("secretsmanager").get_secret_value(SecretId=name)["SecretString"]
    return str(json.loads(value)["AccessKeyId"])


@pytest.mark.parametrize("mode", MODES, ids=[m.name for m in MODES])
def test_the_deployed_configuration_rotates_and_stores_under_a_key_the_account_can_use(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, mode: Mode
) -> None:
    assert emulator.strictness.kms_ownership  # AWS's KMS rule for Secrets Manager is on
    now = datetime.now(UTC).replace(microsecond=0)
    org = build_org(emulator.url, now)
    resources = deploy(emulator.url, org, mode)
    environment = deployed_environment(org, mode, resources)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    deployment_creds = assume_member_role(emulator.url, org.deployment, ROLE)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", deployment_creds["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", deployment_creds["aws_secret_access_key"])
    monkeypatch.setenv("AWS_SESSION_TOKEN", deployment_creds["aws_session_token"])
    emulator.reset_calls()

    inventory, summaries, digest = run_chain(now)

    assert {a["account_id"] for a in inventory["accounts"]} == set(org.all_accounts)
    assert {s["status"] for s in summaries} == {"ok"}, [s.get("error") for s in summaries]
    assert (digest["accounts_failed"], digest["keys_rotated"]) == (0, 2)
    calls = emulator.calls()
    assert calls.total("iam", "CreateAccessKey") == 2
    assert calls.total("iam", "DeleteAccessKey") == 0  # no key created, then undone
    assert environment["KillSwitchParameter"] == KILL_SWITCH
    # read before each account, in the deployment account, and found off
    assert calls.total("ssm", "GetParameter", org.deployment) == len(org.all_accounts)

    deployment = _session(emulator.url, org.deployment)
    for account in org.workloads:
        member = _session(emulator.url, account)
        keys = member.client("iam").list_access_keys(UserName=USER)["AccessKeyMetadata"]
        (new_key,) = [
            k["AccessKeyId"] for k in keys if k["AccessKeyId"] != org.seeded_keys[account]
        ]
        name = f"keyrotate/{account}/{USER}"
        store = deployment if mode.central else member
        secrets = _secrets(store)
        assert name in secrets, sorted(secrets)
        described = secrets[name]
        assert described["ARN"].startswith(
            f"arn:aws:secretsmanager:{REGION}:{org.deployment if mode.central else account}:"
        )
        assert _held_key_id(store, name) == new_key
        replicas = {r["Region"] for r in described.get("ReplicationStatus", [])}
        assert replicas == set(mode.replicas)
        for region in mode.replicas:
            assert name in _secrets(store, region)
        if mode.central:
            assert described["KmsKeyId"] == resources["SecretsKey"]["Arn"]
            assert _secrets(member) == {}  # nothing in the member account
        elif mode.member_alias:
            assert described["KmsKeyId"] == mode.member_alias
            for region in (REGION, *mode.replicas):  # the alias resolves in the member account
                metadata = member.client("kms", region_name=region).describe_key(
                    KeyId=mode.member_alias
                )["KeyMetadata"]
                assert metadata["AWSAccountId"] == account
        else:
            assert "KmsKeyId" not in described  # the account's own aws/secretsmanager
    if not mode.central:
        assert _secrets(deployment) == {}  # member mode stores nothing centrally


def test_member_mode_gives_the_functions_no_key_of_the_deployment_account() -> None:
    """The issue's bug: every function was given the central key's id in every mode."""
    org = Org("o-abcdefghij", "r-ab12", "111111111111", ("222222222222", "333333333333"), {})
    resources = {
        "ReportBucket": {"Ref": REPORT_BUCKET},
        "SecretsKey": {"Ref": "mrk-0123456789abcdef0123456789abcdef", "Arn": "arn:..."},
        "DataKey": {"Ref": "k", "Arn": "arn:aws:kms:us-east-1:111111111111:key/k"},
        "KillSwitch": {"Ref": KILL_SWITCH},
    }
    member = deployed_environment(org, MODES[0], resources)
    assert (member["SecretsKmsKeyId"], member["MemberSecretsKmsKeyAlias"]) == ("", "")
    central = deployed_environment(org, MODES[2], resources)
    assert central["SecretsKmsKeyId"] == "arn:..."


def test_the_template_refuses_a_member_key_alias_with_central_secrets() -> None:
    org = Org("o-abcdefghij", "r-ab12", "111111111111", ("222222222222", "333333333333"), {})
    both = Mode("both", True, (), MEMBER_ALIAS)
    with pytest.raises(ValueError, match="MemberKeyAliasOnlyInMemberMode"):
        deployed_environment(org, both, {})

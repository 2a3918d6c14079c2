"""Central mode: every secret in one account, under its KMS key, replicated, ARNs right.

The demo organization is enforced once for the module with

    StoreSecretsInCentralAccount=true  CentralAccount=<management>
    SecretsKmsKeyId=<a multi-Region customer-managed key of the central account>
    CredentialReplicationRegions=us-west-2,eu-west-1

and each test checks one property of what AWS then holds. The last test (its own small
organization, after a reset) shows an existing secret gaining a newly configured region.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from keyrotate_emulator.demo_org import DemoManifest
from keyrotate_emulator.seed import (
    MANAGEMENT_ACCOUNT_ID,
    KeySpec,
    OrganizationBuilder,
    UserSpec,
    create_member_roles,
    create_multi_region_key,
    read_own_secret_policy,
    seed_users,
)

from .org_support import ROLE_NAME, CliRun, client, reset_moto, run_cli, seeded_demo_org

CENTRAL = MANAGEMENT_ACCOUNT_ID
REPLICAS = ("us-west-2", "eu-west-1")


@dataclass(frozen=True)
class CentralRun:
    endpoint: str
    manifest: DemoManifest
    kms_key_arn: str
    run: CliRun
    secrets: dict[str, dict[str, Any]]  # name -> describe_secret of the central account
    policies: dict[str, dict[str, Any]]  # name -> resource policy
    held_key_ids: dict[str, str]  # name -> AccessKeyId in the value
    member_secrets: dict[str, list[str]]  # member account -> names of its own secrets


def central_env(kms_key_arn: str, regions: tuple[str, ...]) -> dict[str, str | None]:
    return {
        "StoreSecretsInCentralAccount": "true",
        "CentralAccount": CENTRAL,
        "SecretsKmsKeyId": kms_key_arn,
        "CredentialReplicationRegions": ",".join(regions),
    }


def create_kms_key() -> str:
    """A multi-Region key of the central account, replicated to every replica region.

    main.yaml's SecretsKey and deploy/secrets-key-replica.yaml do the same on AWS: a replica
    of a central secret is encrypted with the key's replica in its own region.
    """
    return create_multi_region_key(CENTRAL, "us-east-1", REPLICAS, description="secrets")


@pytest.fixture(scope="module")
def central(_moto_server: str) -> Iterator[CentralRun]:
    with seeded_demo_org(_moto_server, datetime.now(UTC)) as manifest:
        key_arn = create_kms_key()
        run = run_cli("--enforce", env=central_env(key_arn, REPLICAS))
        sm = client(_moto_server, CENTRAL, "secretsmanager")
        names = [
            s["Name"]
            for page in sm.get_paginator("list_secrets").paginate()
            for s in page["SecretList"]
        ]
        secrets = {name: sm.describe_secret(SecretId=name) for name in names}
        policies = {
            name: json.loads(sm.get_resource_policy(SecretId=name)["ResourcePolicy"])
            for name in names
        }
        # Values are read for their key id only; the secret access key goes nowhere.
        held = {
            name: json.loads(sm.get_secret_value(SecretId=name)["SecretString"])["AccessKeyId"]
            for name in names
        }
        members = {
            account.account_id: [
                s["Name"]
                for s in client(_moto_server, account.account_id, "secretsmanager").list_secrets()[
                    "SecretList"
                ]
            ]
            for account in manifest.accounts
            if account.account_id != CENTRAL
        }
        yield CentralRun(_moto_server, manifest, key_arn, run, secrets, policies, held, members)


def rotations(run: CliRun) -> list[dict[str, Any]]:
    return [r for r in run.report["keys"] if r["action"] == "ROTATE"]


def test_the_central_enforce_run_rotates_in_several_member_accounts(central: CentralRun) -> None:
    assert central.run.exit_code == 0, central.run.stderr
    done = rotations(central.run)
    assert {r["outcome"] for r in done} == {"done"}
    assert len({r["account_id"] for r in done} - {CENTRAL}) >= 2


def test_every_secret_is_in_the_central_account_and_none_in_the_members(
    central: CentralRun,
) -> None:
    expected = {f"keyrotate/{r['account_id']}/{r['user_name']}" for r in rotations(central.run)}
    assert set(central.secrets) == expected
    assert central.member_secrets
    assert all(names == [] for names in central.member_secrets.values())
    for secret in central.secrets.values():
        assert secret["ARN"].startswith(f"arn:aws:secretsmanager:us-east-1:{CENTRAL}:secret:")


def test_every_secret_is_encrypted_with_the_configured_kms_key(central: CentralRun) -> None:
    assert central.kms_key_arn.startswith(f"arn:aws:kms:us-east-1:{CENTRAL}:key/")
    assert {s.get("KmsKeyId") for s in central.secrets.values()} == {central.kms_key_arn}


def test_each_secret_holds_the_member_users_new_key_and_says_whose_it_is(
    central: CentralRun,
) -> None:
    for record in rotations(central.run):
        name = f"keyrotate/{record['account_id']}/{record['user_name']}"
        assert central.held_key_ids[name] == record["new_access_key_id"]
        tags = {t["Key"]: t["Value"] for t in central.secrets[name]["Tags"]}
        assert tags["keyrotate:access-key-id"] == record["new_access_key_id"]
        assert tags["keyrotate:account-id"] == record["account_id"]
        assert record["secret_arn"] == central.secrets[name]["ARN"]


def test_the_resource_policy_lets_the_member_user_read_and_names_the_right_accounts(
    central: CentralRun,
) -> None:
    for record in rotations(central.run):
        name = f"keyrotate/{record['account_id']}/{record['user_name']}"
        statements = central.policies[name]["Statement"]
        allow = next(s for s in statements if s["Effect"] == "Allow")
        user_arn = f"arn:aws:iam::{record['account_id']}:user/{record['user_name']}"
        assert allow["Principal"]["AWS"] == [user_arn]
        for arn in _arns(central.policies[name]):
            account = arn.split(":")[4]
            assert account in {record["account_id"], CENTRAL}, arn
            if ":user/" in arn:
                assert account == record["account_id"], arn


def test_every_secret_is_replicated_to_every_configured_region(
    central: CentralRun,
) -> None:
    for name, secret in central.secrets.items():
        status = {r["Region"]: r for r in secret.get("ReplicationStatus", [])}
        assert set(status) == set(REPLICAS), name
    for region in REPLICAS:
        replica = client(central.endpoint, CENTRAL, "secretsmanager", region=region)
        listed = {s["Name"] for s in replica.list_secrets()["SecretList"]}
        assert listed == set(central.secrets), region
        some = next(iter(central.secrets))
        described = replica.describe_secret(SecretId=some)
        assert f":{region}:{CENTRAL}:secret:" in described["ARN"]


def _arns(document: Any) -> Iterator[str]:
    """Every ARN string anywhere in a policy document."""
    if isinstance(document, str):
        if document.startswith("arn:"):
            yield document
    elif isinstance(document, Mapping):
        for value in document.values():
            yield from _arns(value)
    elif isinstance(document, list):
        for value in document:
            yield from _arns(value)


# after a reset: runs last ------------------------------------------------------------------
def test_an_existing_secret_gains_a_newly_added_replica_region_on_its_next_rotation(
    moto_endpoint: str,
) -> None:
    reset_moto(moto_endpoint)  # forget role credentials cached for the module's organization
    now = datetime.now(UTC)
    member = OrganizationBuilder(moto_endpoint).account("m", "m@example.com", "Workloads")
    create_member_roles(moto_endpoint, [member.account_id], ROLE_NAME)
    # what member-role.yaml deploys: without it every rotation here would be partial
    client(moto_endpoint, member.account_id, "iam").create_policy(
        PolicyName="keyrotate-read-own-secret",
        PolicyDocument=read_own_secret_policy(member.account_id),
    )
    (old,) = seed_users(
        moto_endpoint,
        member.account_id,
        [UserSpec("svc-app", (KeySpec(95, True, 1.0),))],
        now,
        role_name=ROLE_NAME,
    )["svc-app"]
    key_arn = create_kms_key()
    name = f"keyrotate/{member.account_id}/svc-app"
    sm = client(moto_endpoint, CENTRAL, "secretsmanager")

    first = run_cli("--enforce", env=central_env(key_arn, ("us-west-2",)))
    assert [r["action"] for r in first.report["keys"]] == ["ROTATE"], first.stderr
    regions = {r["Region"] for r in sm.describe_secret(SecretId=name)["ReplicationStatus"]}
    assert regions == {"us-west-2"}

    # The old key's life ends (as the tool would delete it days later); then a forced rotation.
    client(moto_endpoint, member.account_id, "iam").delete_access_key(
        UserName="svc-app", AccessKeyId=old.key_id
    )
    second = run_cli(
        "--enforce",
        "--force-user",
        f"{member.account_id}:svc-app",
        env=central_env(key_arn, ("us-west-2", "eu-west-1")),
    )
    (record,) = [r for r in second.report["keys"] if r["action"]]
    assert (record["action"], record["outcome"]) == ("ROTATE", "done"), record["error"]
    described = sm.describe_secret(SecretId=name)
    assert {r["Region"] for r in described["ReplicationStatus"]} == {"us-west-2", "eu-west-1"}
    replica = client(moto_endpoint, CENTRAL, "secretsmanager", region="eu-west-1")
    assert replica.describe_secret(SecretId=name)["Name"] == name
    held = json.loads(sm.get_secret_value(SecretId=name)["SecretString"])["AccessKeyId"]
    assert held == record["new_access_key_id"]

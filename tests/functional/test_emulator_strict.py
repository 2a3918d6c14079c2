"""The emulator refuses what AWS refuses where moto is kinder (docs/emulator.md).

Every case runs against the HTTP server with real boto3 clients: what a request gets back is
what the product would get back.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from keyrotate.emulator import EmulatorServer, Strictness
from keyrotate.emulator.seed import MANAGEMENT_ACCOUNT_ID, OrganizationBuilder, assume_member_role
from keyrotate.emulator.server import post

HOME = "us-east-1"
REPLICA = "us-west-2"
NO_RETRY = Config(retries={"total_max_attempts": 1})
KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer() as server:
        yield server


@pytest.fixture
def server(emulator: EmulatorServer) -> Iterator[EmulatorServer]:
    """The module's emulator, empty and fully strict."""
    emulator.reset()
    emulator.strictness = Strictness()
    yield emulator
    emulator.strictness = Strictness()


def client(server: EmulatorServer, service: str, region: str = HOME, **creds: str) -> Any:
    return boto3.client(
        service, endpoint_url=server.url, region_name=region, config=NO_RETRY, **(creds or KEYS)
    )


def error_code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return str(excinfo.value.response["Error"]["Code"])


# KMS keys in Secrets Manager ---------------------------------------------------------------
@dataclass(frozen=True)
class Org:
    """The management account (the caller) and one member, each with a key in HOME."""

    member: str
    member_creds: dict[str, str]
    own_key: dict[str, Any]  # the management's key metadata (HOME)
    member_key: dict[str, Any]  # the member's key metadata (HOME)


@pytest.fixture
def org(server: EmulatorServer) -> Org:
    builder = OrganizationBuilder(server.url)
    member = builder.account("member", "member@example.com").account_id
    creds = assume_member_role(server.url, member, "any-role")
    own = client(server, "kms").create_key(Description="own")["KeyMetadata"]
    theirs = client(server, "kms", **creds).create_key(Description="member's")["KeyMetadata"]
    return Org(member, creds, own, theirs)


def secrets(server: EmulatorServer, region: str = HOME) -> Any:
    return client(server, "secretsmanager", region)


def secret_names(server: EmulatorServer, region: str = HOME) -> list[str]:
    return [s["Name"] for s in secrets(server, region).list_secrets()["SecretList"]]


def test_a_bare_key_id_of_the_callers_own_account_is_accepted(
    server: EmulatorServer, org: Org
) -> None:
    arn = secrets(server).create_secret(Name="own", KmsKeyId=org.own_key["KeyId"])["ARN"]

    assert secrets(server).describe_secret(SecretId=arn)["KmsKeyId"] == org.own_key["KeyId"]


def test_a_bare_key_id_of_another_accounts_key_is_refused_and_nothing_is_created(
    server: EmulatorServer, org: Org
) -> None:
    # AWS looks a bare id up in the caller's account, where this key does not exist.
    with pytest.raises(ClientError) as excinfo:
        secrets(server).create_secret(Name="theirs", KmsKeyId=org.member_key["KeyId"])

    assert error_code(excinfo) == "AccessDeniedException"
    assert "Access to KMS is not allowed" in str(excinfo.value)
    assert secret_names(server) == []


def test_the_full_arn_of_another_accounts_existing_key_is_accepted(
    server: EmulatorServer, org: Org
) -> None:
    # Cross-account use is legitimate when the key policy allows it; policies are not checked.
    secrets(server).create_secret(Name="cross", KmsKeyId=org.member_key["Arn"])

    assert secret_names(server) == ["cross"]


def test_the_arn_of_a_key_that_does_not_exist_in_the_named_account_is_refused(
    server: EmulatorServer, org: Org
) -> None:
    # The management's key id, but under the member's account: no such key there.
    wrong = f"arn:aws:kms:{HOME}:{org.member}:key/{org.own_key['KeyId']}"

    with pytest.raises(ClientError) as excinfo:
        secrets(server).create_secret(Name="ghost", KmsKeyId=wrong)

    assert error_code(excinfo) == "AccessDeniedException"
    assert secret_names(server) == []


def test_a_key_arn_of_another_region_is_refused(server: EmulatorServer, org: Org) -> None:
    # KMS keys are regional: a secret in REPLICA cannot be encrypted by a key in HOME.
    with pytest.raises(ClientError) as excinfo:
        secrets(server, REPLICA).create_secret(Name="far", KmsKeyId=org.own_key["Arn"])

    assert error_code(excinfo) == "AccessDeniedException"
    assert secret_names(server, REPLICA) == []


def test_an_alias_is_looked_up_in_the_callers_account(server: EmulatorServer, org: Org) -> None:
    client(server, "kms", **org.member_creds).create_alias(
        AliasName="alias/members-only", TargetKeyId=org.member_key["KeyId"]
    )
    client(server, "kms").create_alias(AliasName="alias/mine", TargetKeyId=org.own_key["KeyId"])

    secrets(server).create_secret(Name="by-alias", KmsKeyId="alias/mine")
    with pytest.raises(ClientError) as excinfo:
        secrets(server).create_secret(Name="their-alias", KmsKeyId="alias/members-only")

    assert error_code(excinfo) == "AccessDeniedException"
    assert secret_names(server) == ["by-alias"]
    # The member itself may use its alias.
    client(server, "secretsmanager", **org.member_creds).create_secret(
        Name="member-secret", KmsKeyId="alias/members-only"
    )


def test_the_aws_managed_key_is_usable_in_its_own_account_only(
    server: EmulatorServer, org: Org
) -> None:
    secrets(server).create_secret(Name="managed", KmsKeyId="alias/aws/secretsmanager")
    foreign = f"arn:aws:kms:{HOME}:{org.member}:alias/aws/secretsmanager"

    with pytest.raises(ClientError) as excinfo:
        secrets(server).create_secret(Name="foreign-managed", KmsKeyId=foreign)

    assert error_code(excinfo) == "AccessDeniedException"
    assert secret_names(server) == ["managed"]


def test_a_replicas_key_is_resolved_in_the_replica_region(server: EmulatorServer, org: Org) -> None:
    kms_home = client(server, "kms")
    kms_home.create_alias(AliasName="alias/secrets", TargetKeyId=org.own_key["KeyId"])

    # The alias exists in HOME only: the replica in REPLICA cannot use it.
    with pytest.raises(ClientError) as excinfo:
        secrets(server).create_secret(
            Name="replicated",
            KmsKeyId="alias/secrets",
            AddReplicaRegions=[{"Region": REPLICA, "KmsKeyId": "alias/secrets"}],
        )
    assert error_code(excinfo) == "AccessDeniedException"
    assert secret_names(server) == []

    kms_far = client(server, "kms", REPLICA)
    far_key = kms_far.create_key(Description="replica key")["KeyMetadata"]
    kms_far.create_alias(AliasName="alias/secrets", TargetKeyId=far_key["KeyId"])
    secrets(server).create_secret(
        Name="replicated",
        KmsKeyId="alias/secrets",
        AddReplicaRegions=[{"Region": REPLICA, "KmsKeyId": "alias/secrets"}],
    )
    assert secret_names(server) == ["replicated"]
    assert secret_names(server, REPLICA) == ["replicated"]


def test_replicate_secret_to_regions_checks_each_replicas_key(
    server: EmulatorServer, org: Org
) -> None:
    secrets(server).create_secret(Name="later")

    with pytest.raises(ClientError) as excinfo:
        secrets(server).replicate_secret_to_regions(
            SecretId="later", AddReplicaRegions=[{"Region": REPLICA, "KmsKeyId": "alias/nope"}]
        )

    assert error_code(excinfo) == "AccessDeniedException"
    assert secret_names(server, REPLICA) == []
    secrets(server).replicate_secret_to_regions(
        SecretId="later",
        AddReplicaRegions=[{"Region": REPLICA}],  # the replica's default key
    )
    assert secret_names(server, REPLICA) == ["later"]


def test_update_secret_refuses_another_accounts_bare_key_id(
    server: EmulatorServer, org: Org
) -> None:
    secrets(server).create_secret(Name="moving", KmsKeyId=org.own_key["KeyId"])

    with pytest.raises(ClientError) as excinfo:
        secrets(server).update_secret(SecretId="moving", KmsKeyId=org.member_key["KeyId"])

    assert error_code(excinfo) == "AccessDeniedException"
    described = secrets(server).describe_secret(SecretId="moving")
    assert described["KmsKeyId"] == org.own_key["KeyId"]
    secrets(server).update_secret(SecretId="moving", KmsKeyId=org.member_key["Arn"])


def test_something_that_is_no_key_identifier_is_an_invalid_parameter(
    server: EmulatorServer, org: Org
) -> None:
    # Terraform users met this one: an alias name without its "alias/" prefix.
    with pytest.raises(ClientError) as excinfo:
        secrets(server).create_secret(Name="typo", KmsKeyId="my-alias")

    assert error_code(excinfo) == "InvalidParameterException"
    assert "invalid KMS key" in str(excinfo.value)


def test_a_disabled_key_cannot_encrypt(server: EmulatorServer, org: Org) -> None:
    client(server, "kms").disable_key(KeyId=org.own_key["KeyId"])

    with pytest.raises(ClientError) as excinfo:
        secrets(server).create_secret(Name="disabled", KmsKeyId=org.own_key["Arn"])

    assert error_code(excinfo) == "EncryptionFailure"
    assert secret_names(server) == []


def test_kms_ownership_can_be_switched_off_over_http_which_is_moto_as_it_is(
    server: EmulatorServer, org: Org
) -> None:
    answer = post(f"{server.url}/_keyrotate/strict", {"kms_ownership": False})
    assert answer["kms_ownership"] is False
    assert server.strictness.kms_ownership is False

    secrets(server).create_secret(Name="kind", KmsKeyId=org.member_key["KeyId"])

    assert secret_names(server) == ["kind"]  # the gap the strict emulator closes
    assert post(f"{server.url}/_keyrotate/strict", method="GET")["kms_ownership"] is False


def test_the_strict_endpoint_refuses_unknown_settings(server: EmulatorServer) -> None:
    import urllib.error

    with pytest.raises(urllib.error.HTTPError) as excinfo:
        post(f"{server.url}/_keyrotate/strict", {"kms_owner": False})

    assert excinfo.value.code == 400
    assert server.strictness == Strictness()


def test_a_refused_call_is_still_counted(server: EmulatorServer, org: Org) -> None:
    server.reset_calls()

    with pytest.raises(ClientError):
        secrets(server).create_secret(Name="counted", KmsKeyId=org.member_key["KeyId"])

    calls = server.calls()
    assert calls.total("secretsmanager", "CreateSecret", MANAGEMENT_ACCOUNT_ID) == 1

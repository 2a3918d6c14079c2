"""The emulator refuses what AWS refuses where moto is kinder (docs/emulator.md).

Every case runs against the HTTP server with real boto3 clients: what a request gets back is
what the product would get back.
"""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from keyrotate_emulator import EmulatorServer, Strictness
from keyrotate_emulator.seed import (
    MANAGEMENT_ACCOUNT_ID,
    KeySpec,
    OrganizationBuilder,
    UserSpec,
    age_key,
    assume_member_role,
    seed_users,
)
from keyrotate_emulator.server import expire_credential_reports, post, update_strictness
from keyrotate_emulator.strict import DEFAULT_KEY_PROPAGATION_SECONDS

HOME = "us-east-1"
REPLICA = "us-west-2"
NOW = datetime.now(UTC)
NO_RETRY = Config(retries={"total_max_attempts": 1})
KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@pytest.fixture
def server(emulator: EmulatorServer) -> EmulatorServer:
    """The shared emulator, empty and fully strict (conftest puts its own strictness back)."""
    emulator.strictness = Strictness()
    return emulator


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


def test_a_multi_region_key_serves_each_region_under_that_regions_arn(
    server: EmulatorServer, org: Org
) -> None:
    kms = client(server, "kms")
    primary = kms.create_key(Description="secrets", MultiRegion=True)["KeyMetadata"]
    replica = kms.replicate_key(KeyId=primary["KeyId"], ReplicaRegion=REPLICA)["ReplicaKeyMetadata"]
    assert primary["KeyId"].startswith("mrk-")

    # The primary's ARN names HOME: not usable for the replica in REPLICA.
    with pytest.raises(ClientError) as excinfo:
        secrets(server).create_secret(
            Name="multi",
            KmsKeyId=primary["Arn"],
            AddReplicaRegions=[{"Region": REPLICA, "KmsKeyId": primary["Arn"]}],
        )
    assert error_code(excinfo) == "AccessDeniedException"

    secrets(server).create_secret(
        Name="multi",
        KmsKeyId=primary["Arn"],
        AddReplicaRegions=[{"Region": REPLICA, "KmsKeyId": replica["Arn"]}],
    )
    assert secret_names(server, REPLICA) == ["multi"]


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


# a new key is refused while IAM propagates it ---------------------------------------------
DELAY = 0.6  # seconds: long enough to see, short enough for CI


@dataclass(frozen=True)
class UserKey:
    """A user's access key; its secret never appears in a repr (nor in a failed assertion)."""

    key_id: str
    secret: str = field(repr=False)

    def creds(self) -> dict[str, str]:
        return {"aws_access_key_id": self.key_id, "aws_secret_access_key": self.secret}


def new_user_key(server: EmulatorServer, user: str = "app") -> UserKey:
    """A key just created over the API, for a new user."""
    iam = client(server, "iam")
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return UserKey(key["AccessKeyId"], key["SecretAccessKey"])


def backend_key(key_id: str) -> UserKey:
    """A seeded key, its secret read from moto's backend (this process serves the emulator)."""
    from moto.iam.models import iam_backends

    secret = iam_backends[MANAGEMENT_ACCOUNT_ID]["global"].access_keys[key_id].secret_access_key
    return UserKey(key_id, str(secret))


def caller_arn(server: EmulatorServer, key: UserKey | dict[str, str]) -> str:
    creds = key.creds() if isinstance(key, UserKey) else key
    return str(client(server, "sts", **creds).get_caller_identity()["Arn"])


def report_rows(server: EmulatorServer) -> dict[str, dict[str, str]]:
    """The management account's credential report, generated now, by user."""
    iam = client(server, "iam")
    iam.generate_credential_report()
    content = iam.get_credential_report()["Content"].decode("utf-8")
    return {row["user"]: row for row in csv.DictReader(io.StringIO(content))}


@pytest.fixture
def delayed(server: EmulatorServer) -> EmulatorServer:
    server.strictness = Strictness(key_propagation_seconds=DELAY)
    return server


def test_sts_refuses_a_new_key_until_the_delay_has_passed(delayed: EmulatorServer) -> None:
    creds = new_user_key(delayed)
    issued = time.monotonic()  # at or after the moment the emulator saw the key issued

    with pytest.raises(ClientError) as excinfo:
        caller_arn(delayed, creds)

    assert error_code(excinfo) == "InvalidClientTokenId"
    assert "security token included in the request is invalid" in str(excinfo.value)
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    time.sleep(max(0.0, DELAY - (time.monotonic() - issued)) + 0.05)
    assert caller_arn(delayed, creds) == f"arn:aws:iam::{MANAGEMENT_ACCOUNT_ID}:user/app"


def test_any_call_signed_with_a_new_key_is_refused_in_its_protocols_words(
    delayed: EmulatorServer,
) -> None:
    creds = new_user_key(delayed)

    with pytest.raises(ClientError) as json_refusal:
        client(delayed, "secretsmanager", **creds.creds()).list_secrets()
    with pytest.raises(ClientError) as query_refusal:
        client(delayed, "iam", **creds.creds()).list_users()

    assert error_code(json_refusal) == "UnrecognizedClientException"
    assert error_code(query_refusal) == "InvalidClientTokenId"


def test_a_refused_call_does_not_mark_the_key_used(delayed: EmulatorServer) -> None:
    creds = new_user_key(delayed)
    with pytest.raises(ClientError):
        caller_arn(delayed, creds)

    used = client(delayed, "iam").get_access_key_last_used(AccessKeyId=creds.key_id)[
        "AccessKeyLastUsed"
    ]

    assert "LastUsedDate" not in used
    assert used["ServiceName"] == "N/A"


def test_seeded_keys_are_old_and_accepted_at_once(delayed: EmulatorServer) -> None:
    # Seeding over the API creates keys with CreateAccessKey, then ages them in moto.
    seeded = seed_users(
        delayed.url, MANAGEMENT_ACCOUNT_ID, [UserSpec("old", (KeySpec(95),))], NOW, via="api"
    )
    key_id = seeded["old"][0].key_id

    assert caller_arn(delayed, backend_key(key_id)).endswith(":user/old")


def test_a_key_aged_by_a_test_after_creation_is_accepted_at_once(delayed: EmulatorServer) -> None:
    creds = new_user_key(delayed)

    age_key(MANAGEMENT_ACCOUNT_ID, creds.key_id, NOW - timedelta(days=3))

    assert caller_arn(delayed, creds).endswith(":user/app")


def test_assumed_role_credentials_work_at_once(delayed: EmulatorServer) -> None:
    member = OrganizationBuilder(delayed.url).account("m", "m@example.com").account_id

    creds = assume_member_role(delayed.url, member, "any-role")

    assert f":{member}:" in caller_arn(delayed, creds)


def test_the_delay_is_set_per_instance_over_http(delayed: EmulatorServer) -> None:
    assert update_strictness(delayed.url, key_propagation_seconds=0).key_propagation_seconds == 0
    creds = new_user_key(delayed)

    assert caller_arn(delayed, creds).endswith(":user/app")  # no delay: moto as it is
    # The default (keyrotate demo's): a few seconds, as AWS.
    assert Strictness().key_propagation_seconds == DEFAULT_KEY_PROPAGATION_SECONDS >= 2
    assert EmulatorServer().strictness == Strictness()


# inactive and deleted keys ---------------------------------------------------------------
def test_an_inactive_key_authenticates_nothing_until_reactivated(server: EmulatorServer) -> None:
    server.strictness = Strictness(key_propagation_seconds=0)
    creds = new_user_key(server)
    iam = client(server, "iam")
    key_id = creds.key_id

    iam.update_access_key(UserName="app", AccessKeyId=key_id, Status="Inactive")
    with pytest.raises(ClientError) as excinfo:
        caller_arn(server, creds)
    assert error_code(excinfo) == "InvalidClientTokenId"

    iam.update_access_key(UserName="app", AccessKeyId=key_id, Status="Active")
    assert caller_arn(server, creds).endswith(":user/app")


def test_a_deleted_key_authenticates_nothing(server: EmulatorServer) -> None:
    server.strictness = Strictness(key_propagation_seconds=0)
    creds = new_user_key(server)
    assert caller_arn(server, creds).endswith(":user/app")

    client(server, "iam").delete_access_key(UserName="app", AccessKeyId=creds.key_id)

    with pytest.raises(ClientError) as excinfo:
        client(server, "secretsmanager", **creds.creds()).list_secrets()
    assert error_code(excinfo) == "UnrecognizedClientException"
    # The fixed test keys still stand for the management account.
    assert caller_arn(server, KEYS) == f"arn:aws:sts::{MANAGEMENT_ACCOUNT_ID}:user/moto"


# any signed call marks its key as used ----------------------------------------------------
def test_get_caller_identity_marks_the_key_used_for_last_use_and_the_report(
    server: EmulatorServer,
) -> None:
    server.strictness = Strictness(key_propagation_seconds=0)
    creds = new_user_key(server)
    iam = client(server, "iam")
    before = datetime.now(UTC).replace(microsecond=0)

    caller_arn(server, creds)

    used = iam.get_access_key_last_used(AccessKeyId=creds.key_id)
    last = used["AccessKeyLastUsed"]
    assert last["ServiceName"] == "sts"
    assert last["Region"] == HOME
    assert last["LastUsedDate"] >= before
    # moto leaves the report's last-used service and region "not_supported" (docs/emulator.md).
    row = report_rows(server)["app"]
    assert datetime.fromisoformat(row["access_key_1_last_used_date"]) >= before


def test_any_other_signed_call_marks_the_key_used_by_its_service(server: EmulatorServer) -> None:
    server.strictness = Strictness(key_propagation_seconds=0)
    creds = new_user_key(server)

    client(server, "secretsmanager", **creds.creds()).list_secrets()

    last = client(server, "iam").get_access_key_last_used(AccessKeyId=creds.key_id)
    assert last["AccessKeyLastUsed"]["ServiceName"] == "secretsmanager"


# the credential report is cached for four hours --------------------------------------------
def report_of(iam: Any) -> tuple[datetime, set[str]]:
    """(GeneratedTime, users) of the account's current report."""
    answer = iam.get_credential_report()
    content = answer["Content"].decode("utf-8")
    return answer["GeneratedTime"], {r["user"] for r in csv.DictReader(io.StringIO(content))}


def test_the_report_is_dated_when_it_was_really_generated(server: EmulatorServer) -> None:
    iam = client(server, "iam")
    before = datetime.now(UTC).replace(microsecond=0)

    assert iam.generate_credential_report()["State"] == "STARTED"
    generated, _ = report_of(iam)

    assert before <= generated <= datetime.now(UTC)  # moto alone says 2015-02-02


def test_a_report_under_four_hours_old_is_reused_not_regenerated(server: EmulatorServer) -> None:
    iam = client(server, "iam")
    iam.create_user(UserName="before")
    iam.generate_credential_report()
    first, users = report_of(iam)

    iam.create_user(UserName="after")
    assert iam.generate_credential_report()["State"] == "COMPLETE"

    again, users_again = report_of(iam)
    assert again == first
    assert users_again == users == {"before"}  # moto has no <root_account> row


def test_an_expired_report_is_refused_until_a_new_one_is_generated(
    server: EmulatorServer,
) -> None:
    iam = client(server, "iam")
    iam.generate_credential_report()
    iam.create_user(UserName="after")

    assert expire_credential_reports(server.url) == 1
    with pytest.raises(ClientError) as excinfo:
        iam.get_credential_report()
    assert error_code(excinfo) == "ReportExpired"

    assert iam.generate_credential_report()["State"] == "STARTED"
    _, users = report_of(iam)
    assert "after" in users


def test_aging_the_report_moves_its_generated_time_and_expires_it_past_four_hours(
    server: EmulatorServer,
) -> None:
    iam = client(server, "iam")
    iam.generate_credential_report()
    generated, _ = report_of(iam)

    assert post(f"{server.url}/_keyrotate/credential-report/age", {"seconds": 3 * 3600}) == {
        "aged": 1
    }
    aged, _ = report_of(iam)
    assert aged == generated - timedelta(hours=3)
    assert iam.generate_credential_report()["State"] == "COMPLETE"  # still under four hours

    post(f"{server.url}/_keyrotate/credential-report/age", {"seconds": 3600})
    with pytest.raises(ClientError) as excinfo:
        iam.get_credential_report()
    assert error_code(excinfo) == "ReportExpired"


def test_each_account_has_its_own_report(server: EmulatorServer, org: Org) -> None:
    management = client(server, "iam")
    member = client(server, "iam", **org.member_creds)
    management.generate_credential_report()

    with pytest.raises(ClientError) as excinfo:
        member.get_credential_report()
    assert error_code(excinfo) == "ReportNotPresent"

    assert member.generate_credential_report()["State"] == "STARTED"
    assert server.expire_credential_reports(org.member) == 1
    assert management.generate_credential_report()["State"] == "COMPLETE"
    assert member.generate_credential_report()["State"] == "STARTED"


def test_a_reset_forgets_every_report(server: EmulatorServer) -> None:
    iam = client(server, "iam")
    iam.generate_credential_report()

    server.reset()

    with pytest.raises(ClientError) as excinfo:
        iam.get_credential_report()
    assert error_code(excinfo) == "ReportNotPresent"
    assert iam.generate_credential_report()["State"] == "STARTED"


def test_without_the_cache_moto_regenerates_on_every_call(server: EmulatorServer) -> None:
    update_strictness(server.url, credential_report_cache=False)
    iam = client(server, "iam")
    iam.generate_credential_report()
    iam.create_user(UserName="after")

    generated, users = report_of(iam)

    assert "after" in users
    assert generated.year == 2015  # the gap the cache closes

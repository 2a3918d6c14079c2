"""Assumed-role sessions per account, against a real moto server over HTTP.

moto routes every call made with assumed-role credentials to the member account's backend,
and does not check trust policies, so an unassumable role is simulated with a botocore
``before-send`` hook on the base session (EMULATOR.md "Injecting faults", unit level).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.credentials import RefreshableCredentials
from botocore.exceptions import ClientError, EndpointConnectionError

from keyrotate.aws.errors import REDACTED, aws_error, redact, translate
from keyrotate.aws.session import (
    PERMISSIONS,
    AccountSessions,
    base_session,
    partition_for_region,
    retry_config,
    role_session_name,
)
from keyrotate.domain.errors import AccessDenied, AwsError, InputError, KeySlotsFull

CALLER = "123456789012"  # moto's default account for the fake credentials
MEMBER = "111122223333"
OTHER = "444455556666"
ROLE = "keyrotate-member"


class _Body:
    """The raw body botocore reads a canned response from."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


def _sts_error(code: str, message: str, status: int = 403) -> AWSResponse:
    body = (
        "<ErrorResponse><Error><Type>Sender</Type>"
        f"<Code>{code}</Code><Message>{message}</Message>"
        "</Error><RequestId>fault-injected</RequestId></ErrorResponse>"
    ).encode()
    return AWSResponse("https://sts.invalid/", status, {}, _Body(body))


def _deny_assume_role_into(session: boto3.Session, account_id: str) -> None:
    """Make sts:AssumeRole into ``account_id`` fail as if the trust policy refused it."""

    def before_send(request: Any, **_: Any) -> AWSResponse | None:
        body = request.body.decode() if isinstance(request.body, bytes) else str(request.body)
        if account_id in body:
            return _sts_error("AccessDenied", "not authorized to perform: sts:AssumeRole")
        return None

    session.events.register("before-send.sts.AssumeRole", before_send)


def _record_assume_role_calls(session: boto3.Session) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def before_call(params: dict[str, Any], **_: Any) -> None:
        calls.append(dict(params["body"]))

    session.events.register("before-call.sts.AssumeRole", before_call)
    return calls


def _sessions(base: boto3.Session, **kwargs: Any) -> AccountSessions:
    kwargs.setdefault("region", "us-east-1")
    kwargs.setdefault("session_name", "keyrotate-test-run")
    return AccountSessions(base, ROLE, **kwargs)


@pytest.fixture
def base(moto_endpoint: str) -> boto3.Session:
    return base_session(profile=None, region="us-east-1")


# -- partition, names, config -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "partition"),
    [("us-gov-west-1", "aws-us-gov"), ("cn-north-1", "aws-cn"), ("eu-west-1", "aws")],
)
def test_partition_comes_from_the_region(region: str, partition: str) -> None:
    assert partition_for_region(region) == partition


def test_unknown_region_is_an_input_error_naming_the_region() -> None:
    with pytest.raises(InputError, match="mars-north-1"):
        partition_for_region("mars-north-1")


@pytest.mark.parametrize(
    ("region", "arn"),
    [
        ("us-gov-west-1", f"arn:aws-us-gov:iam::{MEMBER}:role/{ROLE}"),
        ("cn-north-1", f"arn:aws-cn:iam::{MEMBER}:role/{ROLE}"),
        ("eu-west-1", f"arn:aws:iam::{MEMBER}:role/{ROLE}"),
    ],
)
def test_member_role_arn_is_in_the_regions_partition(region: str, arn: str) -> None:
    sessions = AccountSessions(boto3.Session(), ROLE, region=region)
    assert sessions.role_arn(MEMBER) == arn


def test_session_name_is_valid_for_sts_whatever_the_run_id() -> None:
    name = role_session_name("2024-05-01T10:00:00Z run/with spaces " * 4)
    assert name.startswith("keyrotate-2024-05-01T10-00-00Z")
    assert re.fullmatch(r"[\w+=,.@-]{2,64}", name)


def test_invalid_session_name_is_refused_before_any_call() -> None:
    with pytest.raises(InputError, match="session name"):
        AccountSessions(boto3.Session(), ROLE, region="us-east-1", session_name="has space")


def test_duration_outside_sts_limits_is_refused() -> None:
    with pytest.raises(InputError, match="duration_seconds"):
        AccountSessions(boto3.Session(), ROLE, region="us-east-1", duration_seconds=60)


def test_retry_config_uses_botocore_retries_and_timeouts() -> None:
    config = retry_config(max_attempts=4, mode="standard")
    assert config.retries == {"total_max_attempts": 4, "mode": "standard"}
    assert config.connect_timeout == 10
    assert config.read_timeout == 60
    with pytest.raises(InputError, match="retry mode"):
        retry_config(mode="legacy-ish")


def test_permissions_name_the_sts_actions_used() -> None:
    assert PERMISSIONS == ("sts:AssumeRole", "sts:GetCallerIdentity")


# -- assuming roles ---------------------------------------------------------------------------


def test_assumed_role_routes_calls_to_the_member_account(base: boto3.Session) -> None:
    sessions = _sessions(base)
    identity = sessions.client(MEMBER, "sts").get_caller_identity()
    assert identity["Account"] == MEMBER
    assert identity["Arn"].endswith(f":assumed-role/{ROLE}/keyrotate-test-run")


def test_iam_calls_through_the_member_session_change_only_that_account(
    base: boto3.Session,
) -> None:
    sessions = _sessions(base)
    sessions.client(MEMBER, "iam").create_user(UserName="only-in-member")
    member_users = sessions.client(MEMBER, "iam").list_users()["Users"]
    caller_users = base.client("iam").list_users()["Users"]
    assert [u["UserName"] for u in member_users] == ["only-in-member"]
    assert caller_users == []


def test_one_client_per_account_service_and_region_is_reused(base: boto3.Session) -> None:
    sessions = _sessions(base)
    iam = sessions.client(MEMBER, "iam")
    assert sessions.client(MEMBER, "iam") is iam
    assert sessions.client(MEMBER, "iam", "us-east-1") is iam
    assert sessions.client(MEMBER, "sts") is not iam
    assert sessions.client(OTHER, "iam") is not iam
    secrets_east = sessions.client(MEMBER, "secretsmanager")
    secrets_west = sessions.client(MEMBER, "secretsmanager", "eu-west-1")
    assert secrets_west is not secrets_east
    assert secrets_west.meta.region_name == "eu-west-1"
    assert sessions.for_account(MEMBER) is sessions.for_account(MEMBER)


def test_role_is_assumed_once_per_account_even_from_many_threads(base: boto3.Session) -> None:
    calls = _record_assume_role_calls(base)
    sessions = _sessions(base)
    with ThreadPoolExecutor(max_workers=8) as pool:
        clients = list(
            pool.map(lambda i: sessions.client((MEMBER, OTHER)[i % 2], "iam"), range(16))
        )
    assert len({id(c) for c in clients}) == 2
    assert sorted(c["RoleArn"] for c in calls) == [
        f"arn:aws:iam::{MEMBER}:role/{ROLE}",
        f"arn:aws:iam::{OTHER}:role/{ROLE}",
    ]


def test_external_id_and_session_name_are_sent_with_assume_role(base: boto3.Session) -> None:
    calls = _record_assume_role_calls(base)
    sessions = _sessions(base, external_id="org-secret-handshake", duration_seconds=1800)
    sessions.for_account(MEMBER)
    assert calls == [
        {
            "RoleArn": f"arn:aws:iam::{MEMBER}:role/{ROLE}",
            "RoleSessionName": "keyrotate-test-run",
            "DurationSeconds": 1800,
            "ExternalId": "org-secret-handshake",
            "Action": "AssumeRole",
            "Version": "2011-06-15",
        }
    ]


def test_credentials_near_expiry_are_refreshed_by_assuming_the_role_again(
    base: boto3.Session,
) -> None:
    calls = _record_assume_role_calls(base)
    # 15 minutes is inside botocore's advisory refresh window: the next use refreshes.
    sessions = _sessions(base, duration_seconds=900)
    session = sessions.for_account(MEMBER)
    credentials = session.get_credentials()
    assert isinstance(credentials, RefreshableCredentials)
    first = credentials.get_frozen_credentials()
    used_before = len(calls)
    second = credentials.get_frozen_credentials()
    assert len(calls) == used_before + 1
    assert second.access_key != first.access_key
    assert sessions.client(MEMBER, "sts").get_caller_identity()["Account"] == MEMBER


def test_fresh_credentials_are_not_refreshed(base: boto3.Session) -> None:
    calls = _record_assume_role_calls(base)
    session = _sessions(base, duration_seconds=3600).for_account(MEMBER)
    credentials = session.get_credentials()
    assert credentials is not None
    first = credentials.get_frozen_credentials()
    assert credentials.get_frozen_credentials().access_key == first.access_key
    assert len(calls) == 1


def test_own_account_uses_caller_credentials_when_not_assuming_there(
    base: boto3.Session,
) -> None:
    calls = _record_assume_role_calls(base)
    sessions = _sessions(base, assume_in_own_account=False)
    assert sessions.caller_account_id == CALLER
    assert sessions.for_account(CALLER) is base
    assert calls == []
    sessions.for_account(MEMBER)
    assert len(calls) == 1


def test_own_account_assumes_the_role_by_default(base: boto3.Session) -> None:
    sessions = _sessions(base)
    arn = sessions.client(CALLER, "sts").get_caller_identity()["Arn"]
    assert f":assumed-role/{ROLE}/" in arn


def test_unassumable_role_raises_access_denied_naming_account_and_role(
    base: boto3.Session,
) -> None:
    _deny_assume_role_into(base, MEMBER)
    sessions = _sessions(base)
    with pytest.raises(AccessDenied) as caught:
        sessions.client(MEMBER, "iam")
    message = str(caught.value)
    assert MEMBER in message
    assert f"arn:aws:iam::{MEMBER}:role/{ROLE}" in message
    assert message.count("sts:AssumeRole failed: AccessDenied") == 1
    assert caught.value.operation == "sts:AssumeRole"
    assert caught.value.code == "AccessDenied"
    # Every other account still works.
    assert sessions.client(OTHER, "sts").get_caller_identity()["Account"] == OTHER


def test_malformed_account_id_is_an_input_error(base: boto3.Session) -> None:
    with pytest.raises(InputError, match="12 digits"):
        _sessions(base).for_account("1234")


# -- error translation ------------------------------------------------------------------------


def _client_error(code: str, message: str, operation: str = "Whatever") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


@pytest.mark.parametrize("code", ["AccessDenied", "AccessDeniedException", "UnauthorizedOperation"])
def test_denied_codes_become_access_denied(code: str) -> None:
    error = aws_error(_client_error(code, "no"), "iam:ListUsers", hint="grant it")
    assert type(error) is AccessDenied
    assert (error.operation, error.code) == ("iam:ListUsers", code)
    assert "grant it" in str(error)


def test_two_key_limit_from_iam_becomes_key_slots_full(base: boto3.Session) -> None:
    iam = base.client("iam")
    iam.create_user(UserName="busy")
    iam.create_access_key(UserName="busy")
    iam.create_access_key(UserName="busy")
    with pytest.raises(KeySlotsFull) as caught, translate("iam:CreateAccessKey"):
        iam.create_access_key(UserName="busy")
    assert caught.value.code == "LimitExceeded"


def test_other_limit_exceeded_is_a_plain_aws_error() -> None:
    error = aws_error(_client_error("LimitExceeded", "policies per user", "PutUserPolicy"), "x")
    assert type(error) is AwsError


def test_other_client_errors_become_aws_error_with_code(base: boto3.Session) -> None:
    with pytest.raises(AwsError) as caught, translate("iam:GetUser"):
        base.client("iam").get_user(UserName="nobody")
    assert type(caught.value) is AwsError
    assert caught.value.code == "NoSuchEntity"
    assert isinstance(caught.value.__cause__, ClientError)


def test_connection_errors_become_aws_error() -> None:
    error = aws_error(EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), "iam:ListUsers")
    assert type(error) is AwsError
    assert error.code == "EndpointConnectionError"


def test_secret_shaped_text_never_reaches_the_error_message() -> None:
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    error = aws_error(_client_error("InvalidInput", f"bad value {secret} here"), "iam:X")
    assert secret not in str(error)
    assert REDACTED in str(error)
    assert redact("arn:aws:iam::123456789012:user/alice") == "arn:aws:iam::123456789012:user/alice"


def test_the_check_of_a_new_key_follows_the_run_profile_endpoint(
    moto_endpoint: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--profile`` with its own endpoint (a VPC or FIPS endpoint, here the emulator): the
    STS check of a new key goes there too, never to the default endpoint."""
    from keyrotate.aws.verify import verify_key
    from keyrotate.domain.secret import SecretText

    iam = boto3.client("iam", endpoint_url=moto_endpoint, region_name="us-east-1")
    iam.create_user(UserName="svc-profile")
    made = iam.create_access_key(UserName="svc-profile")["AccessKey"]
    config = tmp_path / "config"
    config.write_text(
        "[profile keyrotate-endpoint-test]\n"
        f"endpoint_url = {moto_endpoint}\n"
        "region = us-east-1\n"
        "aws_access_key_id = AKIAPROFILE000000000\n"
        "aws_secret_access_key = not-used-by-the-check\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    sessions = AccountSessions(
        base_session("keyrotate-endpoint-test", "us-east-1"), ROLE, region="us-east-1"
    )
    assert sessions.profile == "keyrotate-endpoint-test"

    problem = verify_key(
        made["AccessKeyId"],
        SecretText(made["SecretAccessKey"]),
        region="us-east-1",
        expected_arn=f"arn:aws:iam::{CALLER}:user/svc-profile",
        profile=sessions.profile,
        attempts=1,
    )

    assert problem is None

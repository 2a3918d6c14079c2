"""The emulator's server-side wrappers, seen by real boto3 clients over HTTP.

Paging makes moto answer like real IAM (at most N items, Marker), the counter counts what
clients spend, faults fail exactly the calls they name in the protocol's error shape, and a
latency makes each call wait as a round trip to AWS would.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError

from keyrotate_emulator import EmulatorServer, Fault, Strictness
from keyrotate_emulator.process import fetch_calls
from keyrotate_emulator.seed import (
    MANAGEMENT_ACCOUNT_ID,
    KeySpec,
    OrganizationBuilder,
    UserSpec,
    assume_member_role,
    seed_users,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
NO_RETRY = Config(retries={"total_max_attempts": 1})
KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@pytest.fixture
def server(emulator: EmulatorServer) -> EmulatorServer:
    """The shared emulator, empty, paging at 100, as strict as AWS, no calls counted and no
    faults (conftest clears them after the test too).
    """
    emulator.iam_page_size = 100
    emulator.strictness = Strictness()
    return emulator


def client(server: EmulatorServer, service: str, config: Config = NO_RETRY, **creds: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=server.url,
        region_name="us-east-1",
        config=config,
        **(creds or KEYS),
    )


def seed_plain_users(server: EmulatorServer, count: int) -> list[str]:
    names = [f"user-{i:03d}" for i in range(count)]
    seed_users(server.url, MANAGEMENT_ACCOUNT_ID, [UserSpec(n) for n in names], NOW)
    return names


# paging ----------------------------------------------------------------------------------
def test_list_users_answers_one_page_of_the_page_size_with_a_marker(
    server: EmulatorServer,
) -> None:
    seed_plain_users(server, 250)

    first = client(server, "iam").list_users()

    assert len(first["Users"]) == 100
    assert first["IsTruncated"] is True
    assert first["Marker"]


def test_paginator_sees_every_user_across_pages(server: EmulatorServer) -> None:
    names = seed_plain_users(server, 250)

    pages = list(client(server, "iam").get_paginator("list_users").paginate())

    assert [len(p["Users"]) for p in pages] == [100, 100, 50]
    assert [u["UserName"] for p in pages for u in p["Users"]] == names
    assert server.calls().total("iam", "ListUsers") == 3


def test_a_smaller_max_items_from_the_client_is_honoured(server: EmulatorServer) -> None:
    seed_plain_users(server, 30)
    iam = client(server, "iam")

    first = iam.list_users(MaxItems=7)
    second = iam.list_users(MaxItems=7, Marker=first["Marker"])

    assert [u["UserName"] for u in first["Users"]] == [f"user-{i:03d}" for i in range(7)]
    assert [u["UserName"] for u in second["Users"]] == [f"user-{i:03d}" for i in range(7, 14)]


def test_a_marker_the_server_never_gave_is_rejected(server: EmulatorServer) -> None:
    with pytest.raises(ClientError, match="InvalidInput"):
        client(server, "iam").list_users(Marker="not-a-marker")


@pytest.mark.parametrize(
    ("operation", "kwargs", "result_keys"),
    [
        ("list_access_keys", {"UserName": "alice"}, ("AccessKeyMetadata",)),
        ("list_groups", {}, ("Groups",)),
        ("get_group", {"GroupName": "g1"}, ("Users",)),
        ("list_groups_for_user", {"UserName": "alice"}, ("Groups",)),
        ("list_user_tags", {"UserName": "alice"}, ("Tags",)),
        (
            "get_account_authorization_details",
            {"Filter": ["User", "Group"]},
            ("UserDetailList", "GroupDetailList"),
        ),
    ],
)
def test_every_paged_iam_operation_splits_and_the_paginator_reassembles_it(
    server: EmulatorServer, operation: str, kwargs: dict[str, Any], result_keys: tuple[str, ...]
) -> None:
    specs = [
        UserSpec(
            "alice",
            (KeySpec(10, True, 1), KeySpec(5, True, None)),
            tags={"a": "1", "b": "2", "c": "3"},
            groups=("g1", "g2"),
        ),
        UserSpec("bob", (), groups=("g1",)),
    ]
    seed_users(server.url, MANAGEMENT_ACCOUNT_ID, specs, NOW)
    iam = client(server, "iam")
    server.iam_page_size = None
    whole = getattr(iam, operation)(**kwargs)
    server.iam_page_size = 1

    first = getattr(iam, operation)(**kwargs)
    pages = list(iam.get_paginator(operation).paginate(**kwargs))

    assert sum(len(first.get(k, [])) for k in result_keys) == 1
    assert first["IsTruncated"] is True
    assert len(pages) == sum(len(whole[k]) for k in result_keys) >= 2
    for key in result_keys:
        assert [item for page in pages for item in page.get(key, [])] == whole[key]


# counting --------------------------------------------------------------------------------
def test_counter_counts_calls_by_operation_and_by_the_calling_account(
    server: EmulatorServer,
) -> None:
    member = OrganizationBuilder(server.url).account("member", "m@example.com").account_id
    server.reset_calls()
    management_iam = client(server, "iam")
    member_iam = client(server, "iam", **assume_member_role(server.url, member, "any-role"))

    management_iam.list_users()
    management_iam.list_users()
    member_iam.list_users()
    member_iam.list_roles()
    calls = server.calls()

    assert calls.by_operation == {
        ("sts", "AssumeRole"): 1,
        ("iam", "ListUsers"): 3,
        ("iam", "ListRoles"): 1,
    }
    assert calls.by_account[(MANAGEMENT_ACCOUNT_ID, "iam", "ListUsers")] == 2
    assert calls.by_account[(member, "iam", "ListUsers")] == 1
    assert calls.by_account[(MANAGEMENT_ACCOUNT_ID, "sts", "AssumeRole")] == 1
    assert calls.total(account_id=member) == 2


def test_counts_are_served_over_http_and_reset_on_request(server: EmulatorServer) -> None:
    client(server, "secretsmanager").list_secrets()

    over_http = fetch_calls(server.url)
    server.reset_calls()

    assert over_http.by_account == {(MANAGEMENT_ACCOUNT_ID, "secretsmanager", "ListSecrets"): 1}
    assert server.calls().total() == 0


# faults ----------------------------------------------------------------------------------
_CALLS: dict[str, tuple[str, str, dict[str, Any]]] = {
    # protocol -> (service, boto3 method, arguments); the Fault names the API operation
    "query": ("iam", "list_users", {}),
    "json": ("secretsmanager", "list_secrets", {}),
}
_OPERATIONS = {"list_users": "ListUsers", "list_secrets": "ListSecrets"}


@pytest.mark.parametrize(
    ("protocol", "kind", "code", "status"),
    [
        ("query", "throttle", "Throttling", 400),
        ("query", "server_error", "InternalFailure", 500),
        ("query", "access_denied", "AccessDenied", 403),
        ("json", "throttle", "ThrottlingException", 400),
        ("json", "server_error", "InternalFailure", 500),
        ("json", "access_denied", "AccessDeniedException", 403),
    ],
)
def test_an_error_fault_fails_only_the_nth_call_with_the_protocols_error(
    server: EmulatorServer, protocol: str, kind: Any, code: str, status: int
) -> None:
    service, method, kwargs = _CALLS[protocol]
    server.inject(Fault(service, _OPERATIONS[method], nth=2, kind=kind))
    api = client(server, service)

    getattr(api, method)(**kwargs)
    with pytest.raises(ClientError) as failure:
        getattr(api, method)(**kwargs)
    getattr(api, method)(**kwargs)

    assert failure.value.response["Error"]["Code"] == code
    assert failure.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert server.injected() == 1


@pytest.mark.parametrize("protocol", ["query", "json"])
def test_a_dropped_connection_is_a_connection_error_to_botocore(
    server: EmulatorServer, protocol: str
) -> None:
    service, method, kwargs = _CALLS[protocol]
    server.inject(Fault(service, _OPERATIONS[method], kind="drop"))
    api = client(server, service)

    with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
        getattr(api, method)(**kwargs)
    getattr(api, method)(**kwargs)

    assert server.injected() == 1


def test_drop_before_means_nothing_happened_and_drop_after_means_it_did(
    server: EmulatorServer,
) -> None:
    iam = client(server, "iam")
    server.inject(Fault("iam", "CreateUser", kind="drop"))
    with pytest.raises(ConnectionClosedError):
        iam.create_user(UserName="never-created")
    server.inject(Fault("iam", "CreateUser", kind="drop_after"))
    with pytest.raises(ConnectionClosedError):
        iam.create_user(UserName="created-unbeknown")

    names = {u["UserName"] for u in iam.list_users()["Users"]}

    assert names == {"created-unbeknown"}


def test_times_fails_that_many_consecutive_calls(server: EmulatorServer) -> None:
    server.inject(Fault("iam", "ListUsers", nth=2, kind="server_error", times=3))
    iam = client(server, "iam")
    outcomes = []
    for _ in range(6):
        try:
            iam.list_users()
            outcomes.append("ok")
        except ClientError:
            outcomes.append("failed")

    assert outcomes == ["ok", "failed", "failed", "failed", "ok", "ok"]


def test_botocore_retries_a_throttled_call_and_succeeds(server: EmulatorServer) -> None:
    server.inject(Fault("iam", "ListUsers", kind="throttle", times=2))
    iam = client(server, "iam", Config(retries={"mode": "standard", "total_max_attempts": 3}))

    response = iam.list_users()

    assert response["ResponseMetadata"]["RetryAttempts"] == 2
    assert server.calls().total("iam", "ListUsers") == 3


def test_rate_mode_throttles_about_that_share_of_calls_reproducibly(
    server: EmulatorServer,
) -> None:
    iam = client(server, "iam")

    def failed_calls() -> list[int]:
        server.clear_faults()
        server.inject(Fault("iam", kind="throttle", rate=0.3, seed=7))
        failed = []
        for number in range(1, 101):
            try:
                iam.get_account_summary() if number % 2 else iam.list_users()
            except ClientError:
                failed.append(number)
        return failed

    first, second = failed_calls(), failed_calls()

    assert 15 <= len(first) <= 45
    assert first == second
    assert [f.call_number for f in server.fired()] == second


def test_a_fault_can_target_one_member_account_by_request_body(server: EmulatorServer) -> None:
    org = OrganizationBuilder(server.url)
    denied = org.account("no-role", "n@example.com").account_id
    allowed = org.account("has-role", "h@example.com").account_id
    server.inject(
        Fault("sts", "AssumeRole", kind="access_denied", times=None, body_contains=denied)
    )

    assume_member_role(server.url, allowed, "keyrotate-member")
    with pytest.raises(ClientError, match="AccessDenied"):
        assume_member_role(server.url, denied, "keyrotate-member")
    with pytest.raises(ClientError, match="AccessDenied"):
        assume_member_role(server.url, denied, "keyrotate-member")

    assert server.injected() == 2


def test_an_account_filter_only_fails_calls_routed_to_that_account(
    server: EmulatorServer,
) -> None:
    member = OrganizationBuilder(server.url).account("m", "m@example.com").account_id
    server.inject(Fault("iam", "ListUsers", kind="access_denied", times=None, account_id=member))
    member_iam = client(server, "iam", **assume_member_role(server.url, member, "r"))

    client(server, "iam").list_users()
    with pytest.raises(ClientError, match="AccessDenied"):
        member_iam.list_users()

    assert [f.account_id for f in server.fired()] == [member]


def test_an_impossible_fault_is_refused_with_the_field_named() -> None:
    with pytest.raises(ValueError, match=r"Fault\.kind"):
        Fault("iam", kind="explode")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"Fault\.rate"):
        Fault("iam", rate=1.5)


# the gate --------------------------------------------------------------------------------
def test_the_gate_holds_the_nth_call_after_moto_performed_it_and_keeps_issued_secrets(
    server: EmulatorServer,
) -> None:
    iam = client(server, "iam")
    iam.create_user(UserName="app")
    held = server.gate.hold("iam", "CreateAccessKey", nth=2, after=True)
    first = iam.create_access_key(UserName="app")["AccessKey"]  # the first one passes
    second = threading.Thread(target=iam.create_access_key, kwargs={"UserName": "app"})
    second.start()

    assert held.arrived.wait(30)
    keys = iam.list_access_keys(UserName="app")["AccessKeyMetadata"]
    held.release.set()
    second.join(30)

    assert len(keys) == 2  # performed while its answer was held
    assert first["SecretAccessKey"] in server.gate.issued_secrets  # compared, never printed
    assert server.gate.calls.count(("iam", "CreateAccessKey")) == 2


def test_a_server_made_without_the_gate_says_so() -> None:
    with pytest.raises(RuntimeError, match="gate=True"):
        _ = EmulatorServer().gate


def test_a_latency_makes_every_api_call_wait_and_parallel_calls_wait_together(
    server: EmulatorServer,
) -> None:
    iam = boto3.client("iam", endpoint_url=server.url, config=NO_RETRY, **KEYS)
    iam.list_users()  # the client's first call pays for loading its models
    server.latency_seconds = 0.3
    started = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: iam.list_users(), range(4)))
    waited = time.perf_counter() - started
    assert 0.3 <= waited < 1.2  # four calls at once: one wait, not four
    server.restore_defaults()
    assert server.latency_seconds == 0.0  # as the server was made

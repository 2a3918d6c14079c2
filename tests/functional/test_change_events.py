"""Change events (docs/events.md) read back from the emulator: an EventBridge rule on the bus
sends every ``keyrotate`` event to an SQS queue, which the test reads.

One enforce run over four users makes one of each kind: a rotation, a deactivation (an unused
key), a deletion (a lone inactive key) and a hold (the consumer has not switched).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from click.testing import CliRunner

from keyrotate.cli import main
from keyrotate.domain.models import Reason
from keyrotate.lambda_handlers import rotate_account_handler
from keyrotate_emulator.demo import READ_POLICY_NAME, ROLE_NAME
from keyrotate_emulator.seed import (
    MANAGEMENT_ACCOUNT_ID,
    KeySpec,
    OrganizationBuilder,
    UserSpec,
    create_member_roles,
    read_own_secret_policy,
    seed_users,
)

from .org_support import run_cli

ACCOUNT = MANAGEMENT_ACCOUNT_ID
BUS = "keyrotate-changes"
USERS = [
    UserSpec("svc-rotate", (KeySpec(95, used_days_ago=1),)),
    UserSpec("svc-unused", (KeySpec(95),)),
    UserSpec("svc-gone", (KeySpec(120, active=False),)),
    UserSpec("svc-stuck", (KeySpec(101, used_days_ago=1), KeySpec(11))),
]


def _organization(endpoint: str) -> dict[str, list[str]]:
    OrganizationBuilder(endpoint)
    create_member_roles(endpoint, [ACCOUNT], ROLE_NAME)
    boto3.client("iam").create_policy(
        PolicyName=READ_POLICY_NAME, PolicyDocument=read_own_secret_policy(ACCOUNT)
    )
    seeded = seed_users(endpoint, ACCOUNT, USERS, datetime.now(UTC))
    return {user: [k.key_id for k in keys] for user, keys in seeded.items()}


def _queue_on(bus: str) -> str:
    """A queue that receives every keyrotate event put on ``bus``; its URL."""
    events, sqs = boto3.client("events"), boto3.client("sqs")
    if bus != "default":
        events.create_event_bus(Name=bus)
    url = sqs.create_queue(QueueName="keyrotate-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(
        Name="keyrotate-to-queue",
        EventBusName=bus,
        EventPattern=json.dumps({"source": ["keyrotate"]}),
    )
    events.put_targets(
        Rule="keyrotate-to-queue", EventBusName=bus, Targets=[{"Id": "queue", "Arn": arn}]
    )
    return url


def _received(url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    found: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return found
        found.extend(json.loads(m["Body"]) for m in messages)
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
            ],
        )


def _enforce(**env: str) -> dict[str, Any]:
    run = run_cli("--enforce", env={"IAMRoleName": ROLE_NAME, **env})
    assert run.exit_code == 0, run.stderr
    return run.report


def test_every_change_and_hold_of_an_enforce_run_is_an_event_on_the_named_bus(
    moto_endpoint: str,
) -> None:
    keys = _organization(moto_endpoint)
    url = _queue_on(BUS)
    _enforce(EventBusName=BUS)
    events = {e["detail"]["user_name"]: e for e in _received(url)}
    assert set(events) == {u.name for u in USERS}
    assert {e["source"] for e in events.values()} == {"keyrotate"}

    rotated = events["svc-rotate"]
    assert rotated["detail-type"] == "Access Key Rotated"
    detail = rotated["detail"]
    secret = boto3.client("secretsmanager").get_secret_value(
        SecretId=f"keyrotate/{ACCOUNT}/svc-rotate"
    )
    new_key = json.loads(secret["SecretString"])
    assert detail["access_key_id"] == keys["svc-rotate"][0]
    assert detail["new_access_key_id"] == new_key["AccessKeyId"]
    assert detail["secret"]["arn"] == secret["ARN"]
    assert rotated["resources"] == [secret["ARN"]]
    assert (detail["action"], detail["outcome"], detail["reason_code"]) == (
        "ROTATE",
        "done",
        Reason.ROTATION_DUE.name,
    )
    assert detail["account_id"] == ACCOUNT
    assert detail["schema_version"] == 1
    # No secret anywhere in what was published.
    leaked = new_key["SecretAccessKey"] in json.dumps(list(events.values()))
    assert not leaked  # a bool: a failure must not print the key

    unused = events["svc-unused"]
    assert unused["detail-type"] == "Access Key Deactivated"
    assert unused["detail"]["reason_code"] == Reason.UNUSED.name
    gone = events["svc-gone"]
    assert gone["detail-type"] == "Access Key Deleted"
    assert gone["detail"]["access_key_id"] == keys["svc-gone"][0]
    held = events["svc-stuck"]
    assert held["detail-type"] == "Access Key Held"
    assert held["detail"]["reason_code"] == Reason.CONSUMER_NOT_SWITCHED.name
    assert held["detail"]["access_key_id"] == keys["svc-stuck"][0]


def test_an_audit_publishes_nothing_and_unset_publishes_nothing(moto_endpoint: str) -> None:
    _organization(moto_endpoint)
    url = _queue_on("default")
    run = run_cli(env={"IAMRoleName": ROLE_NAME, "EventBusName": "default"})  # audit
    assert run.exit_code == 0, run.stderr
    _enforce()  # enforce without EventBusName
    assert _received(url) == []


def test_the_default_bus_receives_the_events_when_named_default(moto_endpoint: str) -> None:
    _organization(moto_endpoint)
    url = _queue_on("default")
    _enforce(EventBusName="default")
    assert len(_received(url)) == len(USERS)


def test_events_that_cannot_be_published_are_a_note_not_a_failure(moto_endpoint: str) -> None:
    bus = "no-such-bus"
    keys = _organization(moto_endpoint)
    report = _enforce(EventBusName=bus)
    rotated = [r for r in report["keys"] if r["access_key_id"] == keys["svc-rotate"][0]]
    assert rotated[0]["outcome"] == "done"
    (account,) = report["accounts"]
    assert any(note.startswith(f"event not published to {bus}") for note in account["notes"])


def test_a_restore_is_an_event(moto_endpoint: str) -> None:
    OrganizationBuilder(moto_endpoint)
    spec = UserSpec("svc-db", (KeySpec(112, used_days_ago=9), KeySpec(22, used_days_ago=1)))
    old, _new = (
        k.key_id for k in seed_users(moto_endpoint, ACCOUNT, [spec], datetime.now(UTC))["svc-db"]
    )
    url = _queue_on(BUS)
    env = {"IAMRoleName": ROLE_NAME, "EventBusName": BUS}
    _enforce(EventBusName=BUS)  # deactivates the old key after the install window
    (deactivated,) = _received(url)
    assert deactivated["detail-type"] == "Access Key Deactivated"
    restored = CliRunner().invoke(
        main, ["restore", f"{ACCOUNT}:svc-db", old, "--days", "5", "--enforce"], env=env
    )
    assert restored.exit_code == 0, restored.stderr
    (event,) = _received(url)
    assert event["detail-type"] == "Access Key Restored"
    detail = event["detail"]
    assert (detail["action"], detail["access_key_id"], detail["user_name"]) == (
        "RESTORE",
        old,
        "svc-db",
    )
    assert detail["due"] is not None  # when the snooze ends


@dataclass(frozen=True)
class _LambdaContext:
    """What Powertools' logger reads of a Lambda context."""

    function_name: str = "keyrotate-rotate-account"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:rotate-account"
    aws_request_id: str = "00000000-0000-0000-0000-000000000001"


def test_the_rotate_account_function_publishes_the_same_events(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _organization(moto_endpoint)
    url = _queue_on(BUS)
    for name, value in {
        "IAMRoleName": ROLE_NAME,
        "DryRunFlag": "False",
        "EventBusName": BUS,
        "VerifyNewKeys": "false",
    }.items():
        monkeypatch.setenv(name, value)
    account = {"account_id": ACCOUNT, "name": "management", "email": "root@example.com"}
    event = {"run_id": "run-events", "mode": "enforce", "account": account}
    summary = rotate_account_handler(event, _LambdaContext())
    assert summary["status"] == "ok", summary
    received = _received(url)
    assert sorted(e["detail-type"] for e in received) == sorted(
        [
            "Access Key Rotated",
            "Access Key Deactivated",
            "Access Key Deleted",
            "Access Key Held",
        ]
    )
    assert {e["detail"]["run_id"] for e in received} == {"run-events"}

"""The Lambda event contract (parsing, errors), mode rules, and account documents round trip."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from keyrotate.domain.models import (
    AccessKey,
    Account,
    Action,
    ActionKind,
    KeyStatus,
    Plan,
    Reason,
)
from keyrotate.domain.results import (
    AccountResult,
    ActionResult,
    NotificationResult,
    Outcome,
    SecretLocation,
    UserResult,
)
from keyrotate.domain.summary import summarize_account
from keyrotate.service.lambda_events import (
    MAX_ERROR_IN_STATE,
    AccountSummaryItem,
    DigestEvent,
    EventError,
    InventoryEvent,
    RotateAccountEvent,
    parse_event,
)
from keyrotate.service.lambda_flow import failure_reason, settings_for
from keyrotate.service.report_io import (
    account_document,
    account_result_from_document,
    notifications_from_document,
)

NOW = datetime(2025, 6, 1, 6, 0, tzinfo=UTC)
ACCOUNT = {"account_id": "111122223333", "name": "prod", "email": "o@example.com", "ou_path": "/"}


def test_the_state_machine_payloads_parse_as_sent() -> None:
    inventory = parse_event(
        InventoryEvent,
        {
            "run_id": "abc-1",
            "started_at": "2025-06-01T06:00:00Z",
            "map_mode": "inline",
            "request": {},
        },
    )
    assert inventory.started_at == NOW
    assert inventory.request.mode is None
    rotate = parse_event(
        RotateAccountEvent, {"run_id": "abc-1", "mode": "audit", "account": ACCOUNT}
    )
    assert rotate.account.account_id == "111122223333"
    catch_record = {
        "account_id": "111122223333",
        "name": "prod",
        "status": "failed",
        "error": "States.TaskFailed",
        "cause": "boom",
    }
    digest = parse_event(
        DigestEvent,
        {
            "run_id": "abc-1",
            "mode": "enforce",
            "started_at": "2025-06-01T06:00:00+00:00",
            "skipped": [
                {**ACCOUNT, "account_id": "444455556666", "status": "SUSPENDED", "reason": "x"}
            ],
            "results": [catch_record],
        },
    )
    assert digest.results is not None
    assert digest.results[0].status == "failed"
    assert digest.results[0].keys == 0
    distributed = parse_event(
        DigestEvent,
        {
            "run_id": "abc-1",
            "mode": "enforce",
            "started_at": "2025-06-01T06:00:00Z",
            "skipped": [],
            "result_writer": {"Bucket": "b-1", "Key": "p/map/manifest.json"},
        },
    )
    assert distributed.result_writer is not None
    assert distributed.result_writer.Key == "p/map/manifest.json"


@pytest.mark.parametrize(
    ("event", "field", "fix_contains"),
    [
        ({"run_id": "r", "mode": "audit"}, "account", "add 'account'"),
        (
            {"run_id": "r", "mode": "audit", "account": {**ACCOUNT, "account_id": "1"}},
            "account.account_id",
            "12 digits",
        ),
        ({"run_id": "r", "mode": "AUDIT", "account": ACCOUNT}, "mode", "'audit' or 'enforce'"),
        ({"run_id": "", "mode": "audit", "account": ACCOUNT}, "run_id", "execution name"),
        ({"run_id": "r", "mode": "audit", "account": ACCOUNT, "x": 1}, "x", "no such field"),
    ],
)
def test_a_bad_rotate_event_names_field_value_and_fix(
    event: dict[str, Any], field: str, fix_contains: str
) -> None:
    with pytest.raises(EventError) as raised:
        parse_event(RotateAccountEvent, event)
    assert raised.value.field == field
    assert fix_contains in raised.value.fix
    assert str(raised.value).startswith(f"{field}: ")


def test_a_non_object_event_is_refused_with_the_expected_model_named() -> None:
    with pytest.raises(EventError, match="RotateAccountEvent"):
        parse_event(RotateAccountEvent, "111122223333")


def test_a_long_bad_value_is_shortened_in_the_message() -> None:
    with pytest.raises(EventError) as raised:
        parse_event(RotateAccountEvent, {"run_id": "x" * 500, "mode": "audit", "account": ACCOUNT})
    assert len(str(raised.value)) < 300


def test_a_naive_start_time_is_refused() -> None:
    with pytest.raises(EventError) as raised:
        parse_event(
            InventoryEvent,
            {"run_id": "r", "started_at": "2025-06-01T06:00:00", "map_mode": "inline"},
        )
    assert raised.value.field == "started_at"


# -- mode ------------------------------------------------------------------------------------


def test_an_audit_event_audits_an_enforcing_deployment() -> None:
    assert settings_for("audit", {"DryRunFlag": "False"}).dry_run is True
    assert settings_for(None, {"DryRunFlag": "False"}).enforce is True
    assert settings_for("enforce", {"DryRunFlag": "False"}).enforce is True


def test_an_enforce_event_on_an_auditing_deployment_is_an_event_error() -> None:
    with pytest.raises(EventError) as raised:
        settings_for("enforce", {"DryRunFlag": "True"})
    assert raised.value.field == "mode"
    assert "DryRunFlag" in raised.value.fix


# -- failures recorded by the Catch ----------------------------------------------------------


def test_a_lambda_error_cause_is_reduced_to_its_message() -> None:
    item = AccountSummaryItem(
        account_id="111122223333",
        name="prod",
        status="failed",
        error="Lambda.Unknown",
        cause=json.dumps({"errorMessage": "Task timed out", "errorType": "Timeout"}),
    )
    assert failure_reason(item) == "Lambda.Unknown: Task timed out"
    plain = item.model_copy(update={"cause": "not json"})
    assert failure_reason(plain) == "Lambda.Unknown: not json"
    bare = item.model_copy(update={"error": None, "cause": None})
    assert failure_reason(bare) == "failed"


def test_a_long_account_error_is_capped_in_the_state_and_kept_whole_in_the_result() -> None:
    denial = "User: arn:aws:sts::111122223333:assumed-role/x is not authorized " + "x" * 900
    result = AccountResult(Account("111122223333", "prod", "o@example.com"), error=denial)

    item = AccountSummaryItem.of(result, summarize_account(result))

    assert item.error is not None
    assert len(item.error) == MAX_ERROR_IN_STATE
    assert item.error.endswith("…")
    assert denial.startswith(item.error[:-1])
    assert result.error == denial  # the account's document keeps the whole message
    short = AccountResult(result.account, error="AccessDenied")
    assert AccountSummaryItem.of(short, summarize_account(short)).error == "AccessDenied"


def test_an_account_the_function_had_no_time_to_start_is_a_skipped_item_counted_skipped() -> None:
    why = "not started: the function's time was running out; deferred to the next run"
    result = AccountResult(
        Account("111122223333", "prod", "o@example.com"), skipped=why, cut_short=True
    )

    item = AccountSummaryItem.of(result, summarize_account(result))

    assert (item.status, item.skipped, item.error) == ("skipped", why, None)
    # The digest adds up what the account's step counted: the same as the report's record.
    assert item.summary() == summarize_account(result)
    assert (item.summary().accounts, item.summary().accounts_skipped) == (0, 1)
    assert parse_event(AccountSummaryItem, item.model_dump(mode="json")) == item


# -- account documents -----------------------------------------------------------------------


def _account_result() -> AccountResult:
    old = AccessKey("AKIAOLD0000000000001", KeyStatus.ACTIVE, NOW - timedelta(days=95), NOW)
    spare = AccessKey("AKIAOLD0000000000002", KeyStatus.INACTIVE, NOW - timedelta(days=130))
    rotate = Action(ActionKind.ROTATE, "svc", old.key_id, Reason.ROTATION_DUE, NOW)
    delete = Action(ActionKind.DELETE, "svc", spare.key_id, Reason.RECOVERY_ELAPSED, NOW)
    warn = Action(
        ActionKind.WARN,
        "svc",
        old.key_id,
        Reason.UPCOMING,
        NOW + timedelta(days=5),
        upcoming=ActionKind.DEACTIVATE,
        overdue=True,
    )
    secret = SecretLocation(
        "keyrotate/111122223333/svc",
        "arn:aws:secretsmanager:us-east-1:111122223333:secret:keyrotate/111122223333/svc-AbCdEf",
        "us-east-1",
        "111122223333",
        ("us-west-2",),
    )
    svc = UserResult(
        "svc",
        "team@example.com",
        (old, spare),
        Plan("svc", old.key_id, (delete, rotate, warn)),
        (
            ActionResult(delete, Outcome.DONE),
            ActionResult(
                rotate,
                Outcome.DONE,
                new_key_id="AKIANEW0000000000001",
                secret=secret,
                verified=True,
            ),
            ActionResult(warn, Outcome.NOTICE),
        ),
    )
    keyless = UserResult("nokeys", None, (), Plan("nokeys", None, ()), ())
    exempt_action = Action(ActionKind.EXEMPT, "vendor", None, Reason.EXEMPT_GROUP, None)
    vendor = UserResult(
        "vendor",
        None,
        (),
        Plan("vendor", None, (exempt_action,)),
        (ActionResult(exempt_action, Outcome.NOTICE),),
    )
    return AccountResult(
        Account("111122223333", "prod", "o@example.com", ou_path="/Root/Prod"),
        (svc, keyless, vendor),
        scan_path="credential-report",
        notes=("report was 2 hours old",),
    )


def _through_json(document: dict[str, Any]) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(json.dumps(document))
    return loaded


def test_an_account_document_reads_back_into_the_same_account_result() -> None:
    result = _account_result()
    mails = (
        NotificationResult("o@example.com", "account-owner", "111122223333", True),
        NotificationResult("not-an-address", "resource-owner", "111122223333", False, "bad"),
    )
    document = _through_json(
        account_document(result, run_id="r", mode="enforce", started=NOW, notifications=mails)
    )
    assert account_result_from_document(document) == result
    assert notifications_from_document(document) == mails
    # The run report's flat key records are in the document too, as the CLI writes them.
    assert {k["access_key_id"] for k in document["keys"]} == {
        "AKIAOLD0000000000001",
        "AKIAOLD0000000000002",
    }
    assert "SecretAccessKey" not in json.dumps(document)


@pytest.mark.parametrize(
    "result",
    [
        AccountResult(Account("111122223333", "a", "a@example.com"), error="cannot assume"),
        AccountResult(
            Account("111122223333", "a", "", status="SUSPENDED"),
            skipped="account status is SUSPENDED",
        ),
    ],
    ids=["failed", "skipped"],
)
def test_failed_and_skipped_accounts_read_back_with_their_reason(result: AccountResult) -> None:
    document = _through_json(account_document(result, run_id="r", mode="audit", started=NOW))
    assert account_result_from_document(document) == result


def test_a_reason_is_also_found_by_its_sentence() -> None:
    document = _through_json(
        account_document(_account_result(), run_id="r", mode="enforce", started=NOW)
    )
    document["users"][0]["actions"][0]["reason"] = Reason.RECOVERY_ELAPSED.sentence
    restored = account_result_from_document(document)
    assert restored.users[0].plan.actions[0].reason is Reason.RECOVERY_ELAPSED


def test_a_broken_document_is_an_input_error_not_a_crash() -> None:
    with pytest.raises(Exception, match="account document") as raised:
        account_result_from_document({"users": []})
    assert type(raised.value).__name__ == "InputError"


def test_action_counts_group_outcomes_by_kind_and_leave_out_keys_with_no_action() -> None:
    result = _account_result()
    item = AccountSummaryItem.of(result, summarize_account(result))
    assert item.model_dump(mode="json")["actions"] == {
        "DELETE": {"done": 1},
        "EXEMPT": {"notice": 1},
        "ROTATE": {"done": 1},
        "WARN": {"notice": 1},
    }

"""The report file is written record by record, and reads back as the same document."""

from __future__ import annotations

import io
import json
from datetime import timedelta

from keyrotate.domain.models import ActionKind
from keyrotate.domain.results import AccountResult, NotificationResult, Outcome, RunReport
from keyrotate.service.report import to_document, write_document
from keyrotate.service.report_io import account_record, account_result_from_document
from keyrotate.service.spill import SpilledAccounts
from tests.unit.notify_support import DEV, NOW, PROD, SUSPENDED, key, result, user


def _accounts() -> list[AccountResult]:
    rotate = result(ActionKind.ROTATE, Outcome.DONE, "svc-a", 1)
    hold = result(ActionKind.HOLD, Outcome.NOTICE, "svc-b", 2, account=DEV)
    return [
        AccountResult(PROD, (user("svc-a", [rotate], keys=[key(1, 95)]),)),
        AccountResult(DEV, (user("svc-b", [hold], owner="o@example.com", keys=[key(2, 101)]),)),
        AccountResult(SUSPENDED, skipped="account status is SUSPENDED"),
    ]


def _report(accounts: object) -> RunReport:
    return RunReport(
        "enforce",
        NOW,
        NOW + timedelta(minutes=3),
        accounts,  # type: ignore[arg-type]
        (NotificationResult("owner@example.com", "account-owner", PROD.account_id, False, "x"),),
    )


def test_the_streamed_file_is_the_same_document_as_the_in_memory_one() -> None:
    report = _report(tuple(_accounts()))
    out = io.StringIO()
    write_document(report, out)
    assert json.loads(out.getvalue()) == json.loads(json.dumps(to_document(report)))


def test_spilled_accounts_read_back_equal_in_the_order_asked_for() -> None:
    accounts = _accounts()
    spilled = SpilledAccounts()
    for account in reversed(accounts):  # completion order is not the inventory's
        spilled.append(account)
    spilled.reorder([a.account.account_id for a in accounts])
    assert list(spilled) == [account_result_from_document(account_record(a)) for a in accounts]
    assert [a.account.account_id for a in spilled] == [a.account.account_id for a in accounts]
    assert to_document(_report(spilled)) == to_document(_report(tuple(accounts)))

"""Which results become events and findings (keyrotate.service.change_events, .findings).

Pure functions over a run's results; the AWS side is read back from the emulator in
tests/functional/test_change_events.py and test_security_hub_findings.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keyrotate.aws.securityhub import FindingsHub
from keyrotate.domain.models import AccessKey, Account, Action, ActionKind, KeyStatus, Plan, Reason
from keyrotate.domain.results import AccountResult, ActionResult, Outcome, UserResult
from keyrotate.service.change_events import changes_of, detail
from keyrotate.service.findings import FindingsPublisher, account_findings, condition_of

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
ACCOUNT = Account("111122223333", "prod-web", "owner@example.com")
KEY = AccessKey("AKIAOLDKEY0000000001", KeyStatus.ACTIVE, NOW - 120 * DAY)


def _result(
    kind: ActionKind,
    outcome: Outcome,
    *,
    due: datetime | None = NOW - DAY,
    reason: Reason = Reason.ROTATION_DUE,
    overdue: bool = False,
) -> ActionResult:
    action = Action(kind, "svc-app", KEY.key_id, reason, due, overdue=overdue)
    return ActionResult(action, outcome)


def _account(*results: ActionResult, error: str | None = None) -> AccountResult:
    actions = tuple(r.action for r in results)
    user = UserResult("svc-app", None, (KEY,), Plan("svc-app", KEY.key_id, actions), results)
    return AccountResult(ACCOUNT, (user,), error=error)


@pytest.mark.parametrize(
    ("kind", "outcome", "published"),
    [
        (ActionKind.ROTATE, Outcome.DONE, True),
        (ActionKind.ROTATE, Outcome.PARTIAL, True),  # the new key stands
        (ActionKind.ROTATE, Outcome.PLANNED, False),  # an audit
        (ActionKind.DEACTIVATE, Outcome.FAILED, False),
        (ActionKind.DELETE, Outcome.DEFERRED, False),
        (ActionKind.DELETE, Outcome.DONE, True),
        (ActionKind.HOLD, Outcome.NOTICE, True),
        (ActionKind.WARN, Outcome.NOTICE, False),
        (ActionKind.BLOCKED, Outcome.NOTICE, False),
        (ActionKind.EXEMPT, Outcome.NOTICE, False),
    ],
)
def test_only_changes_that_stand_and_holds_are_events(
    kind: ActionKind, outcome: Outcome, published: bool
) -> None:
    assert bool(changes_of(_account(_result(kind, outcome)))) is published


def test_the_detail_names_the_key_account_and_reason_and_nothing_secret() -> None:
    (change,) = changes_of(_account(_result(ActionKind.DEACTIVATE, Outcome.DONE)))
    body: dict[str, Any] = detail(change, run_id="run-1", occurred_at=NOW)
    assert body["schema_version"] == 1
    assert (body["action"], body["outcome"], body["reason_code"]) == (
        "DEACTIVATE",
        "done",
        "ROTATION_DUE",
    )
    assert (body["account_id"], body["account_name"], body["user_name"]) == (
        ACCOUNT.account_id,
        "prod-web",
        "svc-app",
    )
    assert body["access_key_id"] == KEY.key_id
    assert body["secret"] is None
    assert set(body) >= {"due", "occurred_at", "run_id", "overdue", "error"}


@pytest.mark.parametrize(
    ("result", "condition"),
    [
        (_result(ActionKind.ROTATE, Outcome.PLANNED), "overdue"),
        (_result(ActionKind.DEACTIVATE, Outcome.FAILED), "overdue"),
        (_result(ActionKind.DELETE, Outcome.DEFERRED), "overdue"),
        (_result(ActionKind.ROTATE, Outcome.DONE), None),
        (_result(ActionKind.ROTATE, Outcome.PLANNED, due=NOW + DAY), None),  # not due yet
        (_result(ActionKind.HOLD, Outcome.NOTICE), "held"),
        (_result(ActionKind.BLOCKED, Outcome.NOTICE), "blocked"),
        (_result(ActionKind.WARN, Outcome.NOTICE), None),
    ],
)
def test_which_keys_are_findings(result: ActionResult, condition: str | None) -> None:
    assert condition_of(result, NOW) == condition


def _hub() -> FindingsHub:
    return FindingsHub(None, account_id="999988887777", region="eu-west-1", partition="aws")  # type: ignore[arg-type]


def test_a_held_key_past_escalation_is_high_and_a_fixed_finding_is_archived() -> None:
    hub = _hub()
    held = _result(ActionKind.HOLD, Outcome.NOTICE, reason=Reason.STILL_IN_USE, overdue=True)
    old_id = f"keyrotate/{ACCOUNT.account_id}/svc-app/AKIAGONE/overdue"
    active = {old_id: {"Id": old_id, "CreatedAt": "2026-04-01T00:00:00+00:00"}}
    findings = {f["Id"]: f for f in account_findings(hub, _account(held), active, NOW)}
    current = findings[f"keyrotate/{ACCOUNT.account_id}/svc-app/{KEY.key_id}/held"]
    assert current["Severity"] == {"Label": "HIGH"}
    assert current["AwsAccountId"] == "999988887777"  # the importing account's own hub
    assert current["ProductArn"] == (
        "arn:aws:securityhub:eu-west-1:999988887777:product/999988887777/default"
    )
    assert current["Resources"][0]["Details"]["AwsIamAccessKey"]["AccountId"] == ACCOUNT.account_id
    assert "Workflow" not in current  # a provider may not set it after creation
    archived = findings[old_id]
    assert (archived["RecordState"], archived["Compliance"]) == (
        "ARCHIVED",
        {"Status": "PASSED"},
    )
    assert archived["CreatedAt"] == "2026-04-01T00:00:00+00:00"


def test_a_failed_account_keeps_its_findings_as_they_were() -> None:
    publisher = FindingsPublisher(_hub())  # its client is never reached
    failed = _account(_result(ActionKind.HOLD, Outcome.NOTICE), error="cannot assume the role")
    assert publisher.publish(failed, now=NOW) == []


_KINDS = st.sampled_from(list(ActionKind))
_OUTCOMES = st.sampled_from(list(Outcome))
_DUE = st.sampled_from([None, NOW - DAY, NOW + DAY])


@given(
    results=st.lists(st.tuples(_KINDS, _OUTCOMES, _DUE), max_size=6),
    previous=st.lists(st.sampled_from(["overdue", "held", "blocked"]), max_size=3, unique=True),
)
def test_findings_agree_with_the_run_and_archive_exactly_what_no_longer_applies(
    results: list[tuple[ActionKind, Outcome, datetime | None]], previous: list[str]
) -> None:
    made = [_result(kind, outcome, due=due) for kind, outcome, due in results]
    prefix = f"keyrotate/{ACCOUNT.account_id}/svc-app/{KEY.key_id}/"
    active = {prefix + c: {"Id": prefix + c, "CreatedAt": "then"} for c in previous}
    findings = account_findings(_hub(), _account(*made), active, NOW)
    ids = [f["Id"] for f in findings]
    assert len(ids) == len(set(ids))
    wanted = {prefix + c for r in made if (c := condition_of(r, NOW)) is not None}
    by_state = {
        state: {f["Id"] for f in findings if f["RecordState"] == state}
        for state in ("ACTIVE", "ARCHIVED")
    }
    assert by_state["ACTIVE"] == wanted
    assert by_state["ARCHIVED"] == set(active) - wanted

"""Security Hub findings (ASFF) for keys that need a person: overdue, held, blocked.

Each run judges every key of every account it ran and, for each account, makes the hub agree:

- a key whose change fell due and was not made (an audit's planned change, a failed, skipped
  or deferred one) is **overdue**; a HOLD is **held** (overdue past the escalation age: HIGH);
  a BLOCKED rotation is **blocked**: one ACTIVE finding each, imported again every run;
- an ACTIVE keyrotate finding of the account that no longer applies (the key was rotated, the
  consumer switched, the key is gone) is imported again with ``RecordState: ARCHIVED`` and
  ``Compliance: PASSED``; Security Hub then marks its workflow RESOLVED.

Finding ids are stable (``keyrotate/<account>/<user>/<key>/<condition>``), so a condition
that lasts is one finding, updated, and an account that failed or was skipped is left as it
was (nothing is known of it). Findings never hold a secret.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from keyrotate.aws.securityhub import GENERATOR_ID, FindingsHub
from keyrotate.domain.errors import AwsError
from keyrotate.domain.models import ActionKind
from keyrotate.domain.results import AccountResult, ActionResult, Outcome, RunStatus, UserResult

FINDING_TYPE = "Software and Configuration Checks/AWS Security Best Practices"
_NOT_MADE = frozenset({Outcome.PLANNED, Outcome.FAILED, Outcome.SKIPPED, Outcome.DEFERRED})
_TITLES = {
    "overdue": "IAM access key overdue for {action}",
    "held": "IAM access key held: still in use after its replacement",
    "blocked": "IAM access key rotation blocked",
}


def finding_prefix(account_id: str) -> str:
    return f"{GENERATOR_ID}/{account_id}/"


def condition_of(result: ActionResult, now: datetime) -> str | None:
    """Which finding a key's action calls for, if any."""
    action = result.action
    if action.kind is ActionKind.HOLD:
        return "held"
    if action.kind is ActionKind.BLOCKED:
        return "blocked"
    overdue = action.due is None or action.due <= now
    if action.kind.changes_keys and result.outcome in _NOT_MADE and overdue:
        return "overdue"
    return None


def _severity(condition: str, result: ActionResult) -> str:
    action = result.action
    if condition == "held":
        return "HIGH" if action.overdue else "MEDIUM"
    if condition == "overdue" and action.kind is not ActionKind.DELETE:
        return "HIGH"  # an active key past its age (a DELETE concerns an inactive one)
    return "MEDIUM"


def _finding(
    hub: FindingsHub,
    account: AccountResult,
    user: UserResult,
    result: ActionResult,
    condition: str,
    *,
    finding_id: str,
    now: datetime,
    created: str | None,
) -> dict[str, Any]:
    action = result.action
    member = account.account.account_id
    key_id = action.key_id or "-"
    key = next((k for k in user.keys if k.key_id == action.key_id), None)
    details: dict[str, Any] = {
        "PrincipalName": user.user_name,
        "PrincipalType": "IAMUser",
        "AccountId": member,
    }
    if key is not None:
        details["Status"] = key.status.value
        details["CreatedAt"] = key.created.isoformat()
    stamp = now.isoformat()
    return {
        "SchemaVersion": "2018-10-08",
        "Id": finding_id,
        "ProductArn": hub.product_arn,
        "GeneratorId": GENERATOR_ID,
        "AwsAccountId": hub.account_id,
        "Types": [FINDING_TYPE],
        "CreatedAt": created or stamp,
        "UpdatedAt": stamp,
        "Severity": {"Label": _severity(condition, result)},
        "Title": _TITLES[condition].format(action=action.kind.value.lower()),
        "Description": (
            f"{user.user_name} in account {member} ({account.account.name}): {action.describe()}"
        )[:1024],
        "Resources": [
            {
                "Type": "AwsIamAccessKey",
                "Id": key_id,
                "Partition": hub.partition,
                "Region": hub.region,
                "Details": {"AwsIamAccessKey": details},
            }
        ],
        "Compliance": {"Status": "FAILED"},
        "RecordState": "ACTIVE",
        "ProductFields": {
            "keyrotate/account_id": member,
            "keyrotate/user_name": user.user_name,
            "keyrotate/action": action.kind.value,
            "keyrotate/reason": action.reason.name,
            "keyrotate/outcome": result.outcome.value,
            "keyrotate/due": action.due.isoformat() if action.due else "",
        },
        "Remediation": {
            "Recommendation": {"Text": "See the keyrotate report and docs/rules.md for this case."}
        },
    }


def account_findings(
    hub: FindingsHub, account: AccountResult, active: dict[str, dict[str, Any]], now: datetime
) -> list[dict[str, Any]]:
    """The findings to import for one account: the current ones, and the fixed ones archived."""
    current: dict[str, dict[str, Any]] = {}
    for user in account.users:
        for result in user.results:
            condition = condition_of(result, now)
            if condition is None:
                continue
            finding_id = (
                f"{finding_prefix(account.account.account_id)}{user.user_name}/"
                f"{result.action.key_id or '-'}/{condition}"
            )
            previous = active.get(finding_id, {}).get("CreatedAt")
            current[finding_id] = _finding(
                hub,
                account,
                user,
                result,
                condition,
                finding_id=finding_id,
                now=now,
                created=previous,
            )
    archived = [
        {
            **finding,
            "UpdatedAt": now.isoformat(),
            "RecordState": "ARCHIVED",
            "Compliance": {"Status": "PASSED"},
        }
        for finding_id, finding in active.items()
        if finding_id not in current
    ]
    return [*current.values(), *archived]


class FindingsPublisher:
    """Make the hub agree with each account's result; failures come back as notes."""

    def __init__(self, hub: FindingsHub) -> None:
        self.hub = hub

    def publish(self, account: AccountResult, *, now: datetime) -> list[str]:
        if account.status is not RunStatus.OK:
            return []  # nothing is known of it: its findings stay as they were
        prefix = finding_prefix(account.account.account_id)
        try:
            active = self.hub.active(prefix)
        except AwsError as exc:  # findings never fail an account: a note
            return [f"Security Hub findings not updated: {exc}"]
        failures = self.hub.put(account_findings(self.hub, account, active, now))
        return [f"Security Hub finding not imported: {f}" for f in failures]

"""The run report: a stable JSON document (schema in README "Report") and its summary.

The counts are :class:`~keyrotate.domain.summary.RunSummary`'s; :func:`summary_record`
only names them as the schema does.

One record per key carries at least: account_id, user_name, access_key_id, status, created,
age_days, last_used, action, reason, due, outcome. Fields are only ever added, never renamed
or removed, within a ``schema_version``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from keyrotate.domain.credential_report import is_report_key_id
from keyrotate.domain.exemptions import describe as describe_exemption
from keyrotate.domain.models import ActionKind, Exemption
from keyrotate.domain.results import (
    AccountResult,
    NotificationResult,
    Outcome,
    RunReport,
    RunStatus,
    UserResult,
)
from keyrotate.domain.summary import RunSummary, summarize_run
from keyrotate.service.report_meta import RunMeta

SCHEMA_VERSION = 1
SECONDS_PER_DAY = 86_400


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def public_key_id(key_id: str | None) -> str | None:
    """The key id as reports show it: None for a credential-report placeholder."""
    return None if key_id is None or is_report_key_id(key_id) else key_id


def report_key_slot(key_id: str | None) -> int | None:
    """1 or 2 for a key known only from the credential report; else None."""
    if key_id is None or not is_report_key_id(key_id):
        return None
    return int(key_id.rsplit("_", 1)[1])


def key_records(account: AccountResult, now: datetime) -> Iterator[dict[str, Any]]:
    for user in account.users:
        yield from _user_records(account, user, now)


def _user_records(
    account: AccountResult, user: UserResult, now: datetime
) -> Iterator[dict[str, Any]]:
    exempt = next((r for r in user.results if r.action.kind is ActionKind.EXEMPT), None)
    key_ids = [k.key_id for k in user.keys]
    current = user.plan.current_key_id
    owed_on = current if current in key_ids else next(iter(key_ids), None)
    for key in user.keys:
        result = exempt or user.result_for(key.key_id)
        action = result.action if result else None
        secret = result.secret if result else None
        yield {
            "account_id": account.account.account_id,
            "user_name": user.user_name,
            "owner": user.owner,
            # null for a key judged from the credential report alone (nothing due): its id
            # was not read, to save a call per user; access_key_slot says which one it is.
            "access_key_id": public_key_id(key.key_id),
            "access_key_slot": report_key_slot(key.key_id),
            "status": key.status.value,
            "current": key.key_id == user.plan.current_key_id,
            "created": _iso(key.created),
            "age_days": round((now - key.created).total_seconds() / SECONDS_PER_DAY, 2),
            "last_used": _iso(key.last_used),
            "action": action.kind.value if action else None,
            "upcoming": action.upcoming.value if action and action.upcoming else None,
            "reason": action.reason.sentence if action else None,
            "due": _iso(action.due) if action else None,
            "overdue": bool(action and action.overdue),
            "outcome": (result.outcome if result else Outcome.NONE).value,
            "error": result.error if result else None,
            "note": result.note if result else None,
            "new_access_key_id": result.new_key_id if result else None,
            "new_key_verified": result.verified if result else None,
            "secret_name": secret.name if secret else None,
            "secret_arn": secret.arn if secret else None,
            "secret_region": secret.region if secret else None,
            # added in schema 1: what exempts the user (or did: "active" false once ended)
            "exemption": exemption_record(user.exemption, now),
            # added in schema 1: the read grant an earlier run's rotation still owes, failed
            # again in this run (counted in partial_actions); on the user's current key
            "owed": user.owed if key.key_id == owed_on else None,
        }


def exemption_record(exemption: Exemption | None, now: datetime) -> dict[str, Any] | None:
    """The user's exemption for the report: source (group, tag, account, ou, protected), what
    granted it (scope), reason, end, whether it still exempts, and the line tables show."""
    if exemption is None:
        return None
    return {
        "source": exemption.source,
        "scope": exemption.scope or None,
        "reason": exemption.reason or None,
        "until": _iso(exemption.until),
        "active": exemption.applies(now),
        "text": describe_exemption(exemption),
    }


def summary_record(summary: RunSummary) -> dict[str, Any]:
    """The report's ``summary`` object: README "Report", names and order kept since schema 1."""
    return {
        "accounts": summary.accounts,
        "accounts_failed": summary.accounts_failed,
        "accounts_skipped": summary.accounts_skipped,
        "users": summary.users,
        "keys": summary.keys,
        "exempt_users": summary.exempt_users,
        "actions": {
            kind.value: summary.actions.count(kind)
            for kind in ActionKind
            if kind is not ActionKind.EXEMPT
        },
        "outcomes": {o.value: n for o, n in sorted(summary.change_outcomes().items())},
        "holds": summary.holds,
        "blocked": summary.blocked,
        "failed_actions": summary.failed_actions,
        # changes made whose later step failed (the key stored, its read grant not): exit 1
        "partial_actions": summary.partial_actions,
        "notifications_failed": summary.notifications_failed,
        # added in schema 1: the guardrails (docs/guardrails.md)
        "deferred": summary.deferred,
        "kill_switch_accounts": summary.kill_switch_accounts,
        "breaker_trips": summary.breaker_trips,
        # the run's stop: its time budget, Lambda's deadline, an interrupt (service/stop.py)
        "cut_short_accounts": summary.cut_short_accounts,
        # earlier runs' rotations whose owed read grant failed again (in partial_actions)
        "owed_grants": summary.owed_grants,
    }


def account_entry(account: AccountResult) -> dict[str, Any]:
    status = account.status
    return {
        "account_id": account.account.account_id,
        "name": account.account.name,
        "email": account.account.email,
        "ou_path": account.account.ou_path,
        "account_status": account.account.status,
        "status": status.value,
        "reason": account.reason,
        "scan_path": account.scan_path if status is RunStatus.OK else None,
        "users": len(account.users),
        "keys": sum(len(u.keys) for u in account.users),
        "notes": list(account.notes),
        "kill_switch": account.kill_switch,
        "breaker_tripped": account.breaker_tripped,
        "cut_short": account.cut_short,
    }


def to_document_head(
    report: RunReport, summary: RunSummary | None = None, meta: RunMeta | None = None
) -> dict[str, Any]:
    """The document's first fields; ``summary`` when the caller has counted it already.

    ``meta``: the run's id, the tool's version, the policy and the settings' sources, as
    the ``run`` object (added in schema 1; absent when the caller has none to give).
    """
    head = {
        "schema_version": SCHEMA_VERSION,
        "mode": report.mode,
        "started": _iso(report.started),
        "finished": _iso(report.finished),
        "summary": summary_record(summarize_run(report) if summary is None else summary),
        "notes": list(report.notes),
    }
    if meta is not None:
        head["run"] = meta.record()
    return head


def notification_record(notification: NotificationResult) -> dict[str, Any]:
    return {
        "recipient": notification.recipient,
        "role": notification.role,
        "account_id": notification.account_id,
        "sent": notification.sent,
        "error": notification.error,
    }


def to_document(
    report: RunReport, summary: RunSummary | None = None, meta: RunMeta | None = None
) -> dict[str, Any]:
    """The whole report as one value (small runs, tests); files use :func:`write_document`."""
    return {
        **to_document_head(report, summary, meta),
        "accounts": [account_entry(a) for a in report.accounts],
        "keys": [r for a in report.accounts for r in key_records(a, report.started)],
        "notifications": [notification_record(n) for n in report.notifications],
    }


def write_document(
    report: RunReport, out: TextIO, summary: RunSummary | None = None, meta: RunMeta | None = None
) -> None:
    """:func:`to_document`, written record by record: never whole in memory, one record a
    line (a run of thousands of accounts has hundreds of thousands of key records)."""
    out.write(json.dumps(to_document_head(report, summary, meta))[:-1])  # stays open
    for name, records in (
        ("accounts", (account_entry(a) for a in report.accounts)),
        ("keys", (r for a in report.accounts for r in key_records(a, report.started))),
        ("notifications", (notification_record(n) for n in report.notifications)),
    ):
        out.write(f', "{name}": [')
        for index, record in enumerate(records):
            out.write(("," if index else "") + "\n  " + json.dumps(record))
        out.write("\n]")
    out.write("}\n")


def write_report(report: RunReport, path: Path, summary: RunSummary | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        write_document(report, out, summary)
    return path


def exit_code(summary: RunSummary) -> int:
    """0 when everything ran; 1 when an account or a change to IAM failed, or a change was
    made only in part (``partial``: the key stored, a later step such as the read grant not).

    A change a guardrail deferred (a cap, the breaker) or an account the kill switch turned
    into an audit is no failure: the run did what it was told. A breaker only trips on
    failed changes, which exit 1 on their own.
    """
    return 1 if summary.failed else 0

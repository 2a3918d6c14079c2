"""One account's results as a JSON document, and back (the Lambda split of a run).

The rotate-account function writes one document per account to the report bucket; the
digest function reads them all back into :class:`AccountResult` records, so the admin digest
and the run report are built by the same code as in one process (``service.report``,
``notify``). A document carries:

- ``account``: :func:`keyrotate.service.report.account_entry` (as in the run report);
- ``keys``: :func:`keyrotate.service.report.key_records` (as in the run report);
- ``users``: every user with its keys, plan and action results, losslessly (what
  ``keys`` flattens away: users with no key, several results per key, secret details);
- ``notifications``: the account's owner mails and whether each was sent.

Not carried: ``UserResult.inputs`` (the engine's inputs, used only by ``keyrotate plan``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from keyrotate.domain.errors import InputError
from keyrotate.domain.models import (
    AccessKey,
    Account,
    Action,
    ActionKind,
    Exemption,
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
from keyrotate.service.report import SCHEMA_VERSION, account_entry, key_records

_REASON_BY_SENTENCE = {reason.sentence: reason for reason in Reason}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _moment(value: object) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value))


def _action(action: Action) -> dict[str, Any]:
    return {
        "kind": action.kind.value,
        "user_name": action.user_name,
        "key_id": action.key_id,
        "reason": action.reason.name,
        "due": _iso(action.due),
        "upcoming": action.upcoming.value if action.upcoming else None,
        "overdue": action.overdue,
    }


def _secret(secret: SecretLocation | None) -> dict[str, Any] | None:
    if secret is None:
        return None
    return {
        "name": secret.name,
        "arn": secret.arn,
        "region": secret.region,
        "account_id": secret.account_id,
        "replica_regions": list(secret.replica_regions),
    }


def _user(user: UserResult) -> dict[str, Any]:
    return {
        "user_name": user.user_name,
        "owner": user.owner,
        "keys": [
            {
                "access_key_id": key.key_id,
                "status": key.status.value,
                "created": _iso(key.created),
                "last_used": _iso(key.last_used),
            }
            for key in user.keys
        ],
        "current_key_id": user.plan.current_key_id,
        "exemption": _exemption(user.exemption),
        "owed": user.owed,
        "actions": [_action(a) for a in user.plan.actions],
        "results": [
            {
                "action": _action(r.action),
                "outcome": r.outcome.value,
                "error": r.error,
                "new_key_id": r.new_key_id,
                "secret": _secret(r.secret),
                "verified": r.verified,
                "note": r.note,
            }
            for r in user.results
        ],
    }


def _exemption(exemption: Exemption | None) -> dict[str, Any] | None:
    if exemption is None:
        return None
    return {
        "source": exemption.source,
        "reason": exemption.reason,
        "until": _iso(exemption.until),
        "problem": exemption.problem,
        "scope": exemption.scope,
    }


def _exemption_from(data: Mapping[str, Any] | None) -> Exemption | None:
    if data is None:
        return None
    return Exemption(
        source=str(data["source"]),
        reason=str(data.get("reason") or ""),
        until=_moment(data.get("until")),
        problem=data.get("problem"),
        scope=str(data.get("scope") or ""),
    )


def notification_entry(notification: NotificationResult) -> dict[str, Any]:
    return {
        "recipient": notification.recipient,
        "role": notification.role,
        "account_id": notification.account_id,
        "sent": notification.sent,
        "error": notification.error,
    }


def account_document(
    account: AccountResult,
    *,
    run_id: str,
    mode: str,
    started: datetime,
    notifications: Iterable[NotificationResult] = (),
) -> dict[str, Any]:
    """Everything the digest needs about one account's part of a run."""
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "mode": mode,
        "started": _iso(started),
        "keys": list(key_records(account, started)),
        "notifications": [notification_entry(n) for n in notifications],
        **account_record(account),
    }


def account_record(account: AccountResult) -> dict[str, Any]:
    """The least that :func:`account_result_from_document` needs to rebuild ``account``."""
    return {"account": account_entry(account), "users": [_user(u) for u in account.users]}


# -- reading back ---------------------------------------------------------------------------


def _reason(value: str) -> Reason:
    """A reason by its enum name, or by its sentence (as the run report's key records hold)."""
    if value in Reason.__members__:
        return Reason[value]
    if value in _REASON_BY_SENTENCE:
        return _REASON_BY_SENTENCE[value]
    raise InputError("reason", value, "use a keyrotate Reason name or its sentence")


def _action_from(data: Mapping[str, Any]) -> Action:
    return Action(
        kind=ActionKind(data["kind"]),
        user_name=str(data["user_name"]),
        key_id=data.get("key_id"),
        reason=_reason(str(data["reason"])),
        due=_moment(data.get("due")),
        upcoming=ActionKind(data["upcoming"]) if data.get("upcoming") else None,
        overdue=bool(data.get("overdue", False)),
    )


def _secret_from(data: Mapping[str, Any] | None) -> SecretLocation | None:
    if data is None:
        return None
    return SecretLocation(
        name=str(data["name"]),
        arn=str(data["arn"]),
        region=str(data["region"]),
        account_id=str(data["account_id"]),
        replica_regions=tuple(data.get("replica_regions", ())),
    )


def _user_from(data: Mapping[str, Any]) -> UserResult:
    keys = tuple(
        AccessKey(
            key_id=str(k["access_key_id"]),
            status=KeyStatus(k["status"]),
            created=_required_moment(k["created"]),
            last_used=_moment(k.get("last_used")),
        )
        for k in data["keys"]
    )
    user_name = str(data["user_name"])
    plan = Plan(
        user_name=user_name,
        current_key_id=data.get("current_key_id"),
        actions=tuple(_action_from(a) for a in data["actions"]),
    )
    results = tuple(
        ActionResult(
            action=_action_from(r["action"]),
            outcome=Outcome(r["outcome"]),
            error=r.get("error"),
            new_key_id=r.get("new_key_id"),
            secret=_secret_from(r.get("secret")),
            verified=r.get("verified"),
            note=r.get("note"),
        )
        for r in data["results"]
    )
    exemption = _exemption_from(data.get("exemption"))
    return UserResult(
        user_name,
        data.get("owner"),
        keys,
        plan,
        results,
        exemption=exemption,
        owed=data.get("owed"),
    )


def _required_moment(value: object) -> datetime:
    moment = _moment(value)
    if moment is None:
        raise InputError("created", value, "every key record needs its creation time")
    return moment


def account_from_entry(entry: Mapping[str, Any]) -> Account:
    """The :class:`Account` of an ``account_entry`` (or of an inventory item)."""
    return Account(
        account_id=str(entry["account_id"]),
        name=str(entry.get("name") or ""),
        email=str(entry.get("email") or ""),
        status=str(entry.get("account_status") or "ACTIVE"),
        ou_path=str(entry.get("ou_path") or "/"),
    )


def account_result_from_document(document: Mapping[str, Any]) -> AccountResult:
    """The inverse of :func:`account_document` (``inputs`` of each user stays ``None``)."""
    try:
        entry = document["account"]
        status = entry["status"]
        return AccountResult(
            account=account_from_entry(entry),
            users=tuple(_user_from(u) for u in document.get("users", ())),
            error=entry.get("reason") if status == "failed" else None,
            skipped=entry.get("reason") if status == "skipped" else None,
            scan_path=entry.get("scan_path") or "per-user",
            notes=tuple(entry.get("notes", ())),
            kill_switch=bool(entry.get("kill_switch", False)),
            breaker_tripped=bool(entry.get("breaker_tripped", False)),
            cut_short=bool(entry.get("cut_short", False)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(
            "account document", type(exc).__name__ + f": {exc}", "write it with account_document"
        ) from exc


def notifications_from_document(document: Mapping[str, Any]) -> tuple[NotificationResult, ...]:
    return tuple(
        NotificationResult(
            recipient=str(n["recipient"]),
            role=str(n["role"]),
            account_id=n.get("account_id"),
            sent=bool(n["sent"]),
            error=n.get("error"),
        )
        for n in document.get("notifications", ())
    )

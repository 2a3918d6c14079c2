"""The three steps of a run on AWS Step Functions: inventory, one account, digest.

Each step is the one-process run cut at its seams, reusing the same service code and the
same wiring (:class:`~keyrotate.service.context.RunContext`): the inventory, ``run_account``
(one account), the notifier (owner mail per account, the admin digest once),
``service.report`` (the run report). The Lambda handlers (:mod:`keyrotate.lambda_handlers`)
only parse events, make the context and call these functions.

Objects in ``ReportBucket`` (under ``ReportPrefix``), per run:

- ``<run_id>/accounts.json``: the Map items of a distributed run;
- ``<run_id>/accounts/<account_id>.json``: one account's results
  (:func:`keyrotate.service.report_io.account_document`);
- ``<run_id>/report.json``: the run report (the same document as ``keyrotate run --report``).

Without a report bucket the digest has only the accounts' summaries: its counts are right,
but the admin mail lists no per-key detail and no run report is written.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from keyrotate.aws.s3_objects import get_json, put_json, put_text
from keyrotate.config import Settings, load_settings
from keyrotate.domain.errors import AwsError, InputError
from keyrotate.domain.models import Account, ActionKind
from keyrotate.domain.results import AccountResult, NotificationResult, Outcome, RunReport
from keyrotate.domain.summary import (
    past_rotation_cutoff,
    summarize_account,
    summarize_notifications,
    total,
)
from keyrotate.service.account import run_account
from keyrotate.service.context import RunContext
from keyrotate.service.guardrails import run_notes
from keyrotate.service.lambda_events import (
    AccountItem,
    AccountSummaryItem,
    DigestEvent,
    DigestResult,
    EventError,
    InventoryResult,
    MapMode,
    Mode,
    ResultWriterDetails,
    SkippedItem,
    parse_event,
)
from keyrotate.service.report import to_document
from keyrotate.service.report_files import RunDocument, html_page
from keyrotate.service.report_io import (
    account_document,
    account_result_from_document,
    notifications_from_document,
)
from keyrotate.service.report_meta import RunMeta
from keyrotate.service.stop import LAMBDA_MARGIN_SECONDS, lambda_sentence

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)

MAX_LISTED_FAILURES = 25  # the digest's return value stays small in the execution state
_CHANGES = {
    "keys_rotated": ActionKind.ROTATE,
    "keys_deactivated": ActionKind.DEACTIVATE,
    "keys_deleted": ActionKind.DELETE,
}


# -- settings and keys -----------------------------------------------------------------------


def settings_for(mode: Mode | None, env: Mapping[str, str]) -> Settings:
    """The function's settings (its environment), in the run's mode.

    A run may be audited on an enforcing deployment, never enforced on an auditing one:
    ``mode="enforce"`` with ``DryRunFlag=True`` is an :class:`EventError`.
    """
    settings = load_settings(None, env, {"dry_run": True} if mode == "audit" else {})
    if mode == "enforce" and not settings.enforce:
        raise EventError(
            "mode",
            mode,
            "this deployment runs in audit mode (DryRunFlag=True): send 'audit', or set "
            "DryRunFlag=False to enforce",
        )
    return settings


def run_key(context: RunContext, name: str) -> str:
    """Where the run's object ``name`` lives in the report bucket."""
    return f"{context.settings.report_prefix}{context.run_id}/{name}"


# -- inventory -------------------------------------------------------------------------------


def account_item(account: Account) -> AccountItem:
    """One Map item: what rotate_account needs to know about an account, nothing more."""
    return AccountItem(
        account_id=account.account_id,
        name=account.name,
        email=account.email,
        ou_path=account.ou_path,
        ou_ids=account.ou_ids,
    )


def inventory(context: RunContext, map_mode: MapMode) -> InventoryResult:
    """The accounts in scope as Map items; in distributed mode written to S3 instead.

    No change anywhere but the items object.
    """
    settings = context.settings
    bucket = settings.report_bucket
    if map_mode == "distributed" and not bucket:
        raise InputError(
            "report_bucket",
            bucket,
            "set ReportBucket: the distributed map reads its items from S3",
        )
    found = context.list_inventory()
    accounts = [account_item(a) for a in found.accounts]
    skipped = [
        # (a skipped account is never run: its OU ids, for exemptions, are not carried)
        SkippedItem(
            **account_item(a).model_dump(exclude={"ou_ids"}), status=a.status, reason=reason
        )
        for a, reason in found.skipped
    ]
    result = InventoryResult(
        run_id=context.run_id,
        mode=settings.mode,
        accounts=accounts,
        skipped=skipped,
        accounts_in_scope=len(accounts),
    )
    if map_mode == "distributed" and bucket:
        items = [a.model_dump(mode="json") for a in accounts]
        key = put_json(context.s3, bucket, run_key(context, "accounts.json"), items)
        return result.model_copy(update={"accounts": [], "items_bucket": bucket, "items_key": key})
    return result


# -- one account -----------------------------------------------------------------------------


def follow_lambda_deadline(
    context: RunContext, remaining_ms: Callable[[], int], margin: float = LAMBDA_MARGIN_SECONDS
) -> None:
    """Stop starting changes ``margin`` seconds before the function would be killed.

    The account's users not reached by then are deferred, the item still succeeds (the Map
    goes on), and the digest says the run was cut short (keyrotate.service.stop).
    """
    context.stop.follow(lambda: remaining_ms() / 1000 - margin, lambda_sentence(margin))


def rotate_one(context: RunContext, item: AccountItem) -> AccountSummaryItem:
    """Scan, plan, act (enforce), store and notify one account; return its summary.

    An account whose role cannot be assumed, or whose calls are denied, comes back with
    ``status: failed`` and the reason (``run_account`` never raises for AWS errors).
    """
    account = Account(
        item.account_id, item.name, item.email, ou_path=item.ou_path, ou_ids=item.ou_ids
    )
    settings, options, clock = context.settings, context.options, context.clock
    # Templates and transport first: a bad mail setting fails before any key changes.
    notifier = context.notifier
    now = clock()
    # A function of its own: the run's cap and breaker hold for this account only (the
    # digest says when the run's total went past MaxActionsPerRun).
    guard = context.guard([account.account_id])
    result = run_account(account, context.sessions, options, now=now, clock=clock, guard=guard)
    result = context.publish(result)  # events and findings, before the mail
    notifications = notifier.notify_account(result, mode=settings.mode, started=now)
    counts = summarize_account(result, past_rotation_cutoff(options.policy, now))
    summary = AccountSummaryItem.of(result, counts + summarize_notifications(notifications))
    bucket = settings.report_bucket
    if not bucket:
        return summary
    document = account_document(
        result, run_id=context.run_id, mode=settings.mode, started=now, notifications=notifications
    )
    key = run_key(context, f"accounts/{account.account_id}.json")
    try:
        return summary.model_copy(
            update={"report_key": put_json(context.s3, bucket, key, document)}
        )
    except AwsError as exc:
        # The account's work is done; losing its detail must not undo or hide it.
        log.warning("account detail not written: %s", exc)
        return summary.model_copy(update={"report_error": str(exc)})


# -- digest ----------------------------------------------------------------------------------


def _lambda_cause(cause: str | None) -> str | None:
    """A Lambda error's ``Cause`` is JSON with ``errorMessage``: keep just the message."""
    if not cause:
        return None
    try:
        parsed = json.loads(cause)
    except ValueError:
        return cause
    if isinstance(parsed, dict) and parsed.get("errorMessage"):
        return str(parsed["errorMessage"])
    return cause


def failure_reason(item: AccountSummaryItem) -> str:
    parts = [p for p in (item.error, _lambda_cause(item.cause)) if p]
    return ": ".join(parts) or "failed"


def map_results(client: S3Client, writer: ResultWriterDetails) -> list[AccountSummaryItem]:
    """The child results a Distributed Map's ResultWriter wrote (its manifest, then files).

    ``manifest.json`` lists ``ResultFiles`` by status (SUCCEEDED, FAILED, PENDING); each file
    is a JSON array of child executions. A succeeded child's ``Output`` is the JSON string of
    the account's summary (or of the Catch's failure record); any other child is recorded
    as a failed account, named from its ``Input``.
    """
    manifest = get_json(client, writer.Bucket, writer.Key)
    try:
        bucket = str(manifest.get("DestinationBucket") or writer.Bucket)
        files = [
            str(entry["Key"]) for entries in manifest["ResultFiles"].values() for entry in entries
        ]
    except (AttributeError, KeyError, TypeError) as exc:
        raise EventError(
            "result_writer", writer.Key, "point at the Map run's manifest.json (ResultFiles)"
        ) from exc
    items: list[AccountSummaryItem] = []
    for key in files:
        for execution in get_json(client, bucket, key):
            items.append(_child_result(execution, key))
    return items


def _child_result(execution: Mapping[str, Any], key: str) -> AccountSummaryItem:
    try:
        if execution.get("Status") == "SUCCEEDED" and execution.get("Output"):
            return parse_event(AccountSummaryItem, json.loads(execution["Output"]))
        account = json.loads(execution["Input"])["account"]
        return AccountSummaryItem(
            account_id=account["account_id"],
            name=account.get("name", ""),
            status="failed",
            error=execution.get("Error") or f"child execution {execution.get('Status')}",
            cause=execution.get("Cause"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise EventError(
            "result_writer", key, "a result file must hold the Map's child executions"
        ) from exc


def _account_of(item: AccountSummaryItem) -> Account:
    return Account(item.account_id, item.name, item.email, ou_path=item.ou_path)


def _rebuild(
    items: Iterable[AccountSummaryItem], context: RunContext
) -> tuple[list[AccountResult], list[NotificationResult], bool]:
    """Each account's full results from its document; from its summary when there is none.

    Returns the accounts, their owner notifications, and whether every ok account had its
    document (``False``: the admin digest shows counts only for some accounts).
    """
    accounts: list[AccountResult] = []
    notifications: list[NotificationResult] = []
    complete = True
    bucket = context.settings.report_bucket
    for item in items:
        if item.status == "failed":
            accounts.append(AccountResult(_account_of(item), error=failure_reason(item)))
            continue
        if bucket and item.report_key:
            try:
                document = get_json(context.s3, bucket, item.report_key)
                accounts.append(account_result_from_document(document))
                notifications.extend(notifications_from_document(document))
                continue
            except (AwsError, InputError) as exc:
                log.warning("account detail of %s not read: %s", item.account_id, exc)
        if item.status == "skipped":  # not started: its reason is all there is to tell
            skipped = item.skipped or "not started"
            cut_short = bool(item.cut_short_accounts)
            accounts.append(AccountResult(_account_of(item), skipped=skipped, cut_short=cut_short))
            continue
        complete = False
        accounts.append(AccountResult(_account_of(item)))
        notifications.extend(_counted_notifications(item))
    return accounts, notifications, complete


def _counted_notifications(item: AccountSummaryItem) -> list[NotificationResult]:
    """Stand-ins for an account's failed owner mails when only its summary is known."""
    return [
        NotificationResult(
            recipient="(see the account's log)",
            role="account-owner",
            account_id=item.account_id,
            sent=False,
            error="owner notification failed",
        )
        for _ in range(item.notifications_failed)
    ]


def digest(context: RunContext, event: DigestEvent) -> DigestResult:
    """All accounts in: the admin digest mailed, the run report written, the run's totals.

    ``accounts_failed`` (read by the state machine's AnyAccountFailed choice) counts the
    accounts that failed, including those the Map's Catch recorded.
    """
    settings = context.settings
    if event.result_writer is not None:
        items = map_results(context.s3, event.result_writer)
    else:
        items = list(event.results or ())
    items.sort(key=lambda i: i.account_id)
    accounts, owner_notifications, complete = _rebuild(items, context)
    skipped = [
        AccountResult(
            Account(s.account_id, s.name, s.email, status=s.status, ou_path=s.ou_path),
            skipped=s.reason,
        )
        for s in event.skipped
    ]
    # Each account as its step counted it: right even where its detail could not be read.
    counted = [i.summary() for i in items]
    accounts_total = total(counted)
    report = RunReport(
        mode=event.mode,
        started=event.started_at,
        finished=context.clock(),
        accounts=(*accounts, *skipped),
        notifications=tuple(owner_notifications),
        notes=run_notes(accounts_total, context.options),
    )
    failed_owner_mail = [n for n in owner_notifications if not n.sent]
    by_account = {i.account_id: c for i, c in zip(items, counted, strict=True)}
    admin = context.notifier.notify_admin(
        report, context.options.policy, failed_owner_mail, by_account
    )
    report = replace(report, notifications=report.notifications + admin)
    summary = (
        accounts_total
        + total(summarize_account(a) for a in skipped)
        + summarize_notifications(admin)
    )

    report_key = None
    if settings.report_bucket:
        meta = RunMeta.of(event.run_id, context.options.policy, settings.describe())
        report_key = put_json(
            context.s3,
            settings.report_bucket,
            run_key(context, "report.json"),
            to_document(report, summary, meta),
        )
        # The same run for people, beside it: one self-contained page (docs/readers.md).
        put_text(
            context.s3,
            settings.report_bucket,
            run_key(context, "report.html"),
            html_page(RunDocument(report, summary, meta)),
            "text/html",
        )
    failed = [i for i in items if i.status == "failed"]
    return DigestResult.model_validate(
        {
            "run_id": event.run_id,
            "mode": event.mode,
            "started": event.started_at,
            "finished": report.finished,
            "accounts": summary.accounts,
            "accounts_failed": summary.accounts_failed,
            "accounts_skipped": summary.accounts_skipped,
            **{
                name: summary.actions.count(kind, Outcome.DONE)
                + summary.actions.count(kind, Outcome.PARTIAL)  # made, a later step failed
                for name, kind in _CHANGES.items()
            },
            "holds": summary.holds,
            "blocked": summary.blocked,
            "failed_actions": summary.failed_actions,
            "partial_actions": summary.partial_actions,
            "keys_past_rotation": summary.keys_past_rotation,
            "users": summary.users,
            "keys": summary.keys,
            "actions": summary.actions.nested(),
            "notifications_failed": summary.notifications_failed,
            "deferred": summary.deferred,
            "kill_switch_accounts": summary.kill_switch_accounts,
            "kill_switch_open": int(summary.kill_switch_accounts > 0),
            "breaker_trips": summary.breaker_trips,
            "cut_short_accounts": summary.cut_short_accounts,
            "notes": list(report.notes),
            "admin_notified": any(n.sent for n in admin),
            "detail": "full" if complete else "counts-only",
            "report_bucket": settings.report_bucket,
            "report_key": report_key,
            "failed_accounts": [
                {"account_id": i.account_id, "name": i.name, "error": failure_reason(i)}
                for i in failed[:MAX_LISTED_FAILURES]
            ],
        }
    )

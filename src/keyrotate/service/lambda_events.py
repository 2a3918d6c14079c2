"""The events the three Lambda functions accept and what they return: the state machine's
contract, validated. Each step returns a model of this module, so what one step writes is
what the next step parses: the inventory's items are :class:`AccountItem`, its skipped
accounts :class:`SkippedItem`; rotate_account returns :class:`AccountSummaryItem`.

The shapes are fixed by ``deploy/main.yaml`` (the state machine's task payloads):

- inventory: ``{run_id, started_at, map_mode: "inline"|"distributed", request: {...}}``;
  ``request`` is the execution input (``{}`` from the schedule) and may hold
  ``{"mode": "audit"}`` to run an enforcing deployment in audit mode once;
- rotate_account: ``{run_id, mode: "audit"|"enforce", account: {account_id, name, email,
  ou_path}}``;
- digest: ``{run_id, mode, started_at, skipped: [...], results: [...]}`` (inline map) or
  ``{..., result_writer: {Bucket, Key}}`` (distributed map: the ResultWriter's manifest).

A malformed event raises :class:`EventError` (an :class:`InputError`: field, value, fix)
before anything is done in AWS; Step Functions sees the error name ``EventError``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    ValidationError,
    model_validator,
)

from keyrotate.domain.errors import InputError
from keyrotate.domain.models import ActionKind
from keyrotate.domain.results import AccountResult, Outcome, RunStatus
from keyrotate.domain.summary import ActionCounts, RunSummary

Mode = Literal["audit", "enforce"]
MapMode = Literal["inline", "distributed"]

# Step Functions execution names: 1-80 characters; we also use them in S3 keys and in the
# role session name, so only the characters safe in both.
RunId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,80}$")]
AccountId = Annotated[str, StringConstraints(pattern=r"^\d{12}$")]
ShortText = Annotated[str, StringConstraints(max_length=256)]
# An account's error as it rides in the inline Map's state. Every account's summary shares
# Step Functions' 256 KB state, and AWS's AccessDenied messages run to hundreds of characters:
# without a cap, a few hundred accounts failing on the same denial end the run before the
# digest. The full message stays in the account's document and the logs.
MAX_ERROR_IN_STATE = 300
Count = Annotated[int, Field(ge=0)]


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("give a time zone, e.g. 2025-01-31T06:00:00Z")
    return moment


AwareTime = Annotated[datetime, AfterValidator(_aware)]
# A moment a step returns, written as Python writes it (2025-01-31T06:00:00+00:00).
ReturnedTime = Annotated[datetime, PlainSerializer(datetime.isoformat, return_type=str)]

_FIXES: dict[str, str] = {
    "run_id": "use the execution name: 1-80 letters, digits, '.', '_' or '-'",
    "account_id": "an AWS account id is exactly 12 digits",
    "started_at": "use an ISO 8601 time with a time zone, e.g. 2025-01-31T06:00:00Z",
    "map_mode": "use 'inline' or 'distributed'",
    "mode": "use 'audit' or 'enforce'",
    "status": "use 'ok', 'failed' or 'skipped'",
}


class EventError(InputError):
    """A Lambda event that does not match the state machine's contract. Nothing was done."""


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class RunRequest(_Event):
    """The execution input: empty from the schedule; ``mode: audit`` for a one-off audit."""

    mode: Literal["audit"] | None = None


class InventoryEvent(_Event):
    run_id: RunId
    started_at: AwareTime
    map_mode: MapMode
    request: RunRequest = Field(default_factory=RunRequest)


class AccountItem(_Event):
    """One Map item: an account as the inventory lists it."""

    account_id: AccountId
    name: ShortText
    email: ShortText
    ou_path: Annotated[str, StringConstraints(max_length=2048)] = "/"
    # The root's and OUs' ids down to the account: what an OU exemption by id matches.
    ou_ids: tuple[Annotated[str, StringConstraints(max_length=68)], ...] = ()


class RotateAccountEvent(_Event):
    run_id: RunId
    mode: Mode
    account: AccountItem


class SkippedItem(_Event):
    account_id: AccountId
    name: ShortText
    email: ShortText = ""
    ou_path: Annotated[str, StringConstraints(max_length=2048)] = ""
    status: ShortText = "UNKNOWN"
    reason: ShortText


class InventoryResult(_Event):
    """What the inventory step returns (the state machine's ResultSelector reads every key).

    In distributed mode ``accounts`` is empty and the items are in S3 at ``items_key``.
    """

    run_id: RunId
    mode: Mode
    accounts: list[AccountItem]
    skipped: list[SkippedItem]
    items_bucket: str | None = None
    items_key: str | None = None
    accounts_in_scope: Count


class AccountSummaryItem(_Event):
    """What rotate_account returns, or what the Map's Catch records for a crashed account.

    The counts are the account's :class:`~keyrotate.domain.summary.RunSummary` (made by
    :meth:`of`, read back by :meth:`summary`); ``holds``, ``blocked`` and ``failed_actions``
    are read from ``actions``, kept for whoever reads the execution's state. The Catch
    record is ``{account_id, name, status: "failed", error, cause}``; every count then
    defaults to zero.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    account_id: AccountId
    name: str
    # "skipped": the function's deadline came before the account started (nothing read or
    # changed; ``skipped`` says why). The item still succeeds: the state machine branches on
    # the digest's accounts_failed only.
    status: Literal["ok", "failed", "skipped"]
    error: str | None = None
    skipped: str | None = None
    cause: str | None = None
    email: str = ""
    ou_path: str = "/"
    users: Count = 0
    keys: Count = 0
    exempt_users: Count = 0
    actions: dict[ActionKind, dict[Outcome, Count]] = Field(default_factory=dict)
    holds: Count = 0
    blocked: Count = 0
    failed_actions: Count = 0
    partial_actions: Count = 0  # made, a later step failed (read from actions too)
    overdue_holds: Count = 0
    keys_past_rotation: Count = 0
    notifications_sent: Count = 0
    notifications_failed: Count = 0
    kill_switch_accounts: Count = 0  # 1: the kill switch turned this account into an audit
    breaker_trips: Count = 0  # 1: the failure breaker stopped this account's changes
    # 1: the function's deadline deferred this account's remaining changes (service/stop.py)
    cut_short_accounts: Count = 0
    # users whose read grant, owed by an earlier run's rotation, failed again: partial too
    owed_grants: Count = 0
    report_key: str | None = None
    report_error: str | None = None

    @classmethod
    def of(cls, result: AccountResult, summary: RunSummary) -> AccountSummaryItem:
        """The record of an account's run that rotate_account returns into the state."""
        account = result.account
        return cls.model_validate(
            {
                "account_id": account.account_id,
                "name": account.name,
                "email": account.email,
                "ou_path": account.ou_path,
                # SKIPPED only when the function had no time left to start the account
                # (inventory-skipped accounts have no rotate_account step).
                "status": result.status.value,
                "error": _capped(result.error),
                "skipped": _capped(result.skipped) if result.status is RunStatus.SKIPPED else None,
                "users": summary.users,
                "keys": summary.keys,
                "exempt_users": summary.exempt_users,
                "actions": summary.actions.nested(),
                "holds": summary.holds,
                "blocked": summary.blocked,
                "failed_actions": summary.failed_actions,
                "partial_actions": summary.partial_actions,
                "overdue_holds": summary.overdue_holds,
                "keys_past_rotation": summary.keys_past_rotation,
                "notifications_sent": summary.notifications_sent,
                "notifications_failed": summary.notifications_failed,
                "kill_switch_accounts": summary.kill_switch_accounts,
                "breaker_trips": summary.breaker_trips,
                "cut_short_accounts": summary.cut_short_accounts,
                "owed_grants": summary.owed_grants,
            }
        )

    def summary(self) -> RunSummary:
        """The account's counts, to be added up with the other accounts' by the digest."""
        failed = self.status == "failed"
        skipped = self.status == "skipped"
        return RunSummary(
            accounts=int(not skipped),  # as summarize_account counts a skipped account
            accounts_failed=int(failed),
            accounts_skipped=int(skipped),
            users=self.users,
            keys=self.keys,
            exempt_users=self.exempt_users,
            actions=ActionCounts.from_nested(self.actions),
            overdue_holds=self.overdue_holds,
            keys_past_rotation=self.keys_past_rotation,
            notifications_sent=self.notifications_sent,
            notifications_failed=self.notifications_failed,
            kill_switch_accounts=self.kill_switch_accounts,
            breaker_trips=self.breaker_trips,
            cut_short_accounts=self.cut_short_accounts,
            owed_grants=self.owed_grants,
        )


def _capped(error: str | None) -> str | None:
    if error is None or len(error) <= MAX_ERROR_IN_STATE:
        return error
    return error[: MAX_ERROR_IN_STATE - 1] + "…"


class FailedAccount(_Event):
    account_id: AccountId
    name: str
    error: str


class DigestResult(_Event):
    """What the digest step returns: the run's totals (the state machine's AnyAccountFailed
    choice reads ``accounts_failed``; the metrics are read from here too)."""

    run_id: RunId
    mode: Mode
    started: ReturnedTime
    finished: ReturnedTime
    accounts: Count
    accounts_failed: Count
    accounts_skipped: Count
    keys_rotated: Count
    keys_deactivated: Count
    keys_deleted: Count
    holds: Count
    blocked: Count
    failed_actions: Count
    partial_actions: Count = 0  # changes made whose later step failed: exit 1 like a failure
    keys_past_rotation: Count
    users: Count
    keys: Count
    actions: dict[ActionKind, dict[Outcome, Count]]
    notifications_failed: Count
    deferred: Count
    kill_switch_accounts: Count
    kill_switch_open: Count  # 1 when any account ran under an open kill switch (the alarm's)
    breaker_trips: Count
    cut_short_accounts: Count = 0  # accounts whose function ran out of time: see ``notes``
    notes: list[str]  # the run's notes (keyrotate.service.guardrails.run_notes)
    admin_notified: bool
    detail: Literal["full", "counts-only"]
    report_bucket: str | None
    report_key: str | None
    failed_accounts: list[FailedAccount]


class ResultWriterDetails(_Event):
    """The Distributed Map's ``ResultWriterDetails``: where its manifest.json is."""

    Bucket: Annotated[str, StringConstraints(min_length=3, max_length=63)]
    Key: Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class DigestEvent(_Event):
    run_id: RunId
    mode: Mode
    started_at: AwareTime
    skipped: list[SkippedItem] = Field(default_factory=list)
    results: list[AccountSummaryItem] | None = None
    result_writer: ResultWriterDetails | None = None

    @model_validator(mode="after")
    def _one_source(self) -> DigestEvent:
        if (self.results is None) == (self.result_writer is None):
            raise ValueError("give exactly one of 'results' (inline) or 'result_writer'")
        return self


_E = TypeVar("_E", bound=BaseModel)


def parse_event(model: type[_E], event: Any) -> _E:
    """``event`` validated as ``model``, or :class:`EventError` naming the first problem."""
    if not isinstance(event, dict):
        raise EventError("event", type(event).__name__, f"send a JSON object ({model.__name__})")
    try:
        return model.model_validate(event)
    except ValidationError as exc:
        raise _event_error(model, exc) from None


def _event_error(model: type[BaseModel], exc: ValidationError) -> EventError:
    errors = exc.errors()
    first = errors[0]
    path = ".".join(str(p) for p in first["loc"]) or "event"
    last = next((str(p) for p in reversed(first["loc"]) if isinstance(p, str)), "")
    kind = first["type"]
    if kind == "missing":
        fix = f"add '{path}' ({model.__name__})"
        value: object = "(missing)"
    elif kind == "extra_forbidden":
        fix = f"remove '{path}': {model.__name__} has no such field"
        value = first.get("input")
    else:
        fix = _FIXES.get(last, first["msg"])
        value = first.get("input")
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return EventError(path, _short(value), fix + more)


def _short(value: object) -> object:
    text = repr(value)
    return value if len(text) <= 120 else text[:117] + "..."

"""What a run did: outcomes of actions, per user, per account, per run. Pure data.

The JSON report (``keyrotate.service.report``), the e-mails (``keyrotate.notify``) and the
Lambda digest all read these records; none of them carries a secret access key.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from keyrotate.domain.models import (
    AccessKey,
    Account,
    Action,
    ActionKind,
    Exemption,
    Plan,
    UserKeys,
)


class RunStatus(StrEnum):
    """How an account's part of a run ended (not its Organizations status)."""

    OK = "ok"
    FAILED = "failed"  # it was run, and could not be worked on (role not assumable, ...)
    SKIPPED = "skipped"  # it was not run (suspended, excluded)


class Outcome(StrEnum):
    PLANNED = "planned"  # audit mode: would have been done
    DONE = "done"
    # Done in part: the key is created and stored (the change stands), a later step failed
    # (the read grant, for instance); ActionResult.error says what is still owed.
    PARTIAL = "partial"
    FAILED = "failed"
    SKIPPED = "skipped"  # not attempted: an earlier step for the same user failed
    # Not attempted, and no failure: a guardrail (an action cap, the failure breaker) held it
    # back; the next run plans it again. ActionResult.note says which.
    DEFERRED = "deferred"
    NOTICE = "notice"  # WARN, HOLD, BLOCKED, EXEMPT: nothing to execute
    NONE = "none"  # a key with no action at all


@dataclass(frozen=True, slots=True)
class SecretLocation:
    """Where a new key was stored, so its owner can fetch it."""

    name: str
    arn: str
    region: str
    account_id: str
    replica_regions: tuple[str, ...] = ()

    def fetch_command(self) -> str:
        return get_secret_command(self.arn, self.region)


def get_secret_command(secret_id: str, region: str = "") -> str:
    """The AWS CLI command that prints a secret's value, quoted for a shell (no ``--region``
    when ``region`` is empty: the CLI's own)."""
    where = f" --region {shlex.quote(region)}" if region else ""
    return (
        f"aws secretsmanager get-secret-value --secret-id {shlex.quote(secret_id)}{where} "
        "--query SecretString --output text"
    )


@dataclass(frozen=True, slots=True)
class ActionResult:
    action: Action
    outcome: Outcome
    error: str | None = None
    new_key_id: str | None = None
    secret: SecretLocation | None = None
    verified: bool | None = None  # a new key proved to authenticate (None: not checked)
    note: str | None = None  # why a change was not made when that is no error (DEFERRED)


@dataclass(frozen=True, slots=True)
class UserResult:
    user_name: str
    owner: str | None
    keys: tuple[AccessKey, ...]
    plan: Plan
    results: tuple[ActionResult, ...]
    inputs: UserKeys | None = None  # what the engine judged (state, exemption), for forecasts
    # The user's exemption, holding or ended (source, scope, reason, end): the report shows
    # it; kept apart from ``inputs`` because it travels with the results (report_io).
    exemption: Exemption | None = None
    # A step an earlier run's rotation still owes (the read grant) that failed again in this
    # run, with no rotation of its own: why. The earlier rotation is still partial: counted
    # in partial_actions (RunSummary.owed_grants) and exit 1, like a partial of this run.
    owed: str | None = None

    def result_for(self, key_id: str) -> ActionResult | None:
        """The most significant result touching ``key_id`` (a change before a notice)."""
        found = [r for r in self.results if r.action.key_id == key_id]
        found.sort(key=lambda r: not r.action.kind.changes_keys)
        return found[0] if found else None

    @property
    def exempt(self) -> bool:
        return any(r.action.kind is ActionKind.EXEMPT for r in self.results)


@dataclass(frozen=True, slots=True)
class AccountResult:
    account: Account
    users: tuple[UserResult, ...] = ()
    error: str | None = None  # the account failed: why (role not assumable, call denied)
    skipped: str | None = None  # the account was not run: why (suspended, excluded)
    scan_path: str = "per-user"  # or "credential-report"
    notes: tuple[str, ...] = ()
    # The kill switch was on when the account started: an enforce run audited it instead.
    kill_switch: bool = False
    # The failure breaker (the account's or the run's) stopped its changes part-way.
    breaker_tripped: bool = False
    # The run's stop (its time budget, Lambda's deadline, an interrupt) deferred its changes
    # from some user on, or kept it from starting (then ``skipped`` says so).
    cut_short: bool = False

    @property
    def status(self) -> RunStatus:
        """The one verdict every reader shows (report, console, mails, Lambda steps).

        A failure wins over a skip. The two never meet in practice (a skipped account is
        not run, so nothing of it can fail), but were a record to carry both, the failure
        must not be hidden: it sets the exit code and the admin digest lists it.
        """
        if self.error is not None:
            return RunStatus.FAILED
        return RunStatus.OK if self.skipped is None else RunStatus.SKIPPED

    @property
    def reason(self) -> str | None:
        """Why the account failed or was skipped, as :attr:`status` says; None when ok."""
        return self.error if self.error is not None else self.skipped

    @property
    def failed(self) -> bool:
        return self.status is RunStatus.FAILED


@dataclass(frozen=True, slots=True)
class NotificationResult:
    recipient: str
    role: str  # "account-owner", "resource-owner", "admin"
    account_id: str | None
    sent: bool
    error: str | None = None


@dataclass(frozen=True, slots=True)
class RunReport:
    mode: str  # "audit" or "enforce"
    started: datetime
    finished: datetime
    accounts: Sequence[AccountResult]  # a tuple, or the run's store (service.results, .spill)
    notifications: tuple[NotificationResult, ...] = field(default=())
    # What the run as a whole must say: the kill switch, a breaker, deferred changes.
    notes: tuple[str, ...] = ()

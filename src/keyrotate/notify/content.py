"""What each recipient should hear, worked out from a run's results. Pure: no I/O, no Jinja.

These records are the variables the templates see (documented in the package docstring):
an owner's mail lists ``accounts`` → ``users`` → ``items``; the admin digest gets a
:class:`Digest`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from keyrotate.domain.mail_domains import recipient_allowed, refusal, with_lowercase_domain
from keyrotate.domain.models import Account, ActionKind, Reason
from keyrotate.domain.policy import RotationPolicy
from keyrotate.domain.results import (
    AccountResult,
    ActionResult,
    NotificationResult,
    Outcome,
    RunReport,
    RunStatus,
    SecretLocation,
    UserResult,
)
from keyrotate.domain.summary import (
    RunSummary,
    past_rotation_cutoff,
    summarize_account,
    total,
)
from keyrotate.notify.guidance import (
    OUTCOME_LABELS,
    Guide,
    SecretGuide,
    Step,
    next_steps,
    secret_guide,
    user_forecast,
    words,
)

ACCOUNT_OWNER = "account-owner"
RESOURCE_OWNER = "resource-owner"
ADMIN = "admin"

# Deliberately strict: an owner tag is free text typed by people, and a value that is not a
# plain address must never reach a mail header (header injection) or a relay.
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*")


def is_address(value: str) -> bool:
    return _ADDRESS.fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class Item:
    """One action shown to people. ``secret`` is set for a new key: where to fetch it."""

    kind: str
    outcome: str
    key_id: str | None
    due: datetime | None
    reason: str
    upcoming: str | None
    overdue: bool
    error: str | None
    new_key_id: str | None
    secret: SecretLocation | None
    fetch_command: str | None
    description: str
    case: str | None = None  # a HOLD's case in a few words (SPEC rule 7)
    note: str | None = None  # why a change was deferred (a guardrail held it back)
    # In plain words (keyrotate.notify.guidance): the mails show these, not engine terms.
    outcome_label: str = ""
    headline: str = ""
    summary: str = ""
    why: str | None = None  # the reason's sentence, unless the summary says it already
    todo: str | None = None  # what the owner must do, and by when
    undo_command: str | None = None  # keyrotate restore ..., for a deactivation
    next_steps: tuple[Step, ...] = ()  # the dates that follow for this key


# SPEC rule 7: the report and the mails say which case a HOLD is.
_HOLD_CASES = {
    Reason.CONSUMER_NOT_SWITCHED: "the consumer has not switched",
    Reason.STILL_IN_USE: "still in use alongside the new key",
}


@dataclass(frozen=True, slots=True)
class UserSection:
    user_name: str
    owner: str | None
    items: tuple[Item, ...]
    secret: SecretGuide | None = None  # where the user's key lives, how to fetch it


@dataclass(frozen=True, slots=True)
class AccountSection:
    account_id: str
    account_name: str
    account_email: str
    users: tuple[UserSection, ...]


@dataclass(frozen=True, slots=True)
class Audience:
    """One owner mail: who, in which role, and the accounts/users they hear about."""

    recipient: str
    role: str
    accounts: tuple[AccountSection, ...]

    @property
    def account_id(self) -> str | None:
        return self.accounts[0].account_id if len(self.accounts) == 1 else None

    @property
    def items(self) -> tuple[Item, ...]:
        return tuple(i for a in self.accounts for u in a.users for i in u.items)


def _item(
    result: ActionResult,
    *,
    account_id: str = "",
    steps: tuple[Step, ...] = (),
    secret: SecretGuide | None = None,
    guide: Guide | None = None,
) -> Item:
    action = result.action
    case = _HOLD_CASES.get(action.reason) if action.kind is ActionKind.HOLD else None
    said = words(
        result,
        steps,
        account_id=account_id,
        secret=secret,
        policy=guide.policy if guide else None,
        case=case,
    )
    return Item(
        kind=action.kind.value,
        outcome=result.outcome.value,
        key_id=action.key_id,
        due=action.due,
        reason=action.reason.sentence,
        upcoming=action.upcoming.value if action.upcoming else None,
        overdue=action.overdue,
        error=result.error,
        new_key_id=result.new_key_id,
        secret=result.secret,
        fetch_command=result.secret.fetch_command() if result.secret else None,
        description=action.describe(),
        case=case,
        note=result.note,
        outcome_label=OUTCOME_LABELS.get(result.outcome.value, result.outcome.value),
        headline=said.headline,
        summary=said.summary,
        why=said.why,
        todo=said.todo,
        undo_command=said.undo_command,
        next_steps=steps,
    )


def _worth_telling(result: ActionResult) -> bool:
    # An exemption is the user's normal state; repeating it every day is noise.
    return result.outcome is not Outcome.NONE and result.action.kind is not ActionKind.EXEMPT


def user_section(
    user: UserResult,
    account_id: str = "",
    guide: Guide | None = None,
    started: datetime | None = None,
) -> UserSection | None:
    """The user's news, or ``None`` when there is nothing to tell about it.

    With a ``guide`` and the run's ``started``, each item also says what comes next and
    when (the engine replayed from ``started``), and the section where the key lives.
    """
    told = [r for r in user.results if _worth_telling(r)]
    if not told:
        return None
    guide = guide or Guide()
    secret = secret_guide(user, account_id, guide)
    entries = user_forecast(user, guide, started) if started is not None else ()
    items = tuple(
        _item(
            r,
            account_id=account_id,
            steps=next_steps(r, entries, started) if started is not None else (),
            secret=secret,
            guide=guide,
        )
        for r in told
    )
    return UserSection(user.user_name, user.owner, items, secret)


@dataclass
class _Draft:
    recipient: str
    role: str
    # Only the account's identity is kept, not its results: memory follows the news.
    accounts: dict[str, tuple[Account, list[UserSection]]] = field(default_factory=dict)

    def add(self, account: AccountResult, section: UserSection) -> None:
        identity = account.account
        _, users = self.accounts.setdefault(identity.account_id, (identity, []))
        if all(u.user_name != section.user_name for u in users):
            users.append(section)

    def audience(self) -> Audience:
        return Audience(
            self.recipient,
            self.role,
            tuple(
                AccountSection(a.account_id, a.name, a.email, tuple(users))
                for a, users in self.accounts.values()
            ),
        )


def owner_audiences(
    accounts: Iterable[AccountResult],
    allowed_domains: Collection[str] = (),
    guide: Guide | None = None,
    started: datetime | None = None,
) -> tuple[tuple[Audience, ...], tuple[NotificationResult, ...]]:
    """One audience per owner address across ``accounts``, and the owners that cannot be mailed.

    An account owner hears about every user of their accounts; a resource owner about their
    own users, in every account. An address that is both gets one mail, as account owner.
    Addresses are matched case-insensitively and mailed with their domain in lower case.
    Owner values that are not addresses, or whose domain is not one of ``allowed_domains``
    (when any are set: :mod:`keyrotate.domain.mail_domains`), come back as unsent
    :class:`NotificationResult` records, so the admin digest lists them. ``guide`` and
    ``started``: see :func:`user_section`.
    """
    drafts: dict[str, _Draft] = {}
    invalid: dict[tuple[str, str | None], NotificationResult] = {}

    def draft(address: str, role: str) -> _Draft:
        found = drafts.setdefault(address.lower(), _Draft(address, role))
        if role == ACCOUNT_OWNER:
            found.role = ACCOUNT_OWNER
        return found

    for account in accounts:
        account_id = account.account.account_id
        for user in account.users:
            section = user_section(user, account_id, guide, started)
            if section is None:
                continue
            for address, role in (
                (account.account.email, ACCOUNT_OWNER),
                (user.owner, RESOURCE_OWNER),
            ):
                if not address:
                    continue
                if is_address(address):
                    address = with_lowercase_domain(address)
                    if recipient_allowed(address, allowed_domains):
                        draft(address, role).add(account, section)
                    else:
                        invalid[(address, account_id)] = NotificationResult(
                            recipient=address,
                            role=role,
                            account_id=account_id,
                            sent=False,
                            error=refusal(address, allowed_domains),
                        )
                else:
                    invalid[(address, account_id)] = NotificationResult(
                        recipient=address,
                        role=role,
                        account_id=account_id,
                        sent=False,
                        error=(
                            f"{'account e-mail' if role == ACCOUNT_OWNER else 'owner tag'} "
                            f"of user {user.user_name!r} is not an e-mail address: "
                            "set it to one address like name@example.com"
                        ),
                    )
    return tuple(d.audience() for d in drafts.values()), tuple(invalid.values())


@dataclass(frozen=True, slots=True)
class Count:
    kind: str
    outcome: str
    count: int


@dataclass(frozen=True, slots=True)
class Attention:
    """A HOLD, BLOCKED or FAILED action someone has to look at."""

    account_id: str
    account_name: str
    user_name: str
    item: Item


@dataclass(frozen=True, slots=True)
class AccountSummary:
    """One account's line in the digest: its verdict, and its counts."""

    account_id: str
    account_name: str
    status: RunStatus  # a StrEnum: templates print "ok", "failed" or "skipped"
    reason: str | None
    summary: RunSummary

    # users, keys, keys_past_rotation: the names templates read (also overridden ones).
    @property
    def users(self) -> int:
        return self.summary.users

    @property
    def keys(self) -> int:
        return self.summary.keys

    @property
    def keys_past_rotation(self) -> int:
        return self.summary.keys_past_rotation


@dataclass(frozen=True, slots=True)
class AccountNote:
    """Something an account's run wants the admin to know that is no failure: an exemption
    group missing, an exemption tag unreadable or about to end, a scan that fell back."""

    account_id: str
    account_name: str
    note: str


@dataclass(frozen=True, slots=True)
class Digest:
    """The admin's view of a run. ``summary`` is its accounts' counts (the notifications
    that failed are listed in ``failed_notifications``)."""

    summary: RunSummary
    attention: tuple[Attention, ...]
    accounts: tuple[AccountSummary, ...]
    failed_accounts: tuple[AccountSummary, ...]
    skipped_accounts: tuple[AccountSummary, ...]
    failed_notifications: tuple[NotificationResult, ...]
    notes: tuple[AccountNote, ...] = ()
    run_notes: tuple[str, ...] = ()  # the run's own (RunReport.notes): guardrails first

    # counts, keys_past_rotation, overdue_holds: the names templates read, as before.
    @property
    def counts(self) -> tuple[Count, ...]:
        return tuple(Count(k.value, o.value, n) for k, o, n in self.summary.actions.entries)

    @property
    def keys_past_rotation(self) -> int:
        return self.summary.keys_past_rotation

    @property
    def overdue_holds(self) -> int:
        return self.summary.overdue_holds


_ATTENTION = frozenset({ActionKind.HOLD, ActionKind.BLOCKED})


def _attention(account: AccountResult) -> Iterator[Attention]:
    for user in account.users:
        for result in user.results:
            if result.outcome is not Outcome.NONE and (
                result.action.kind in _ATTENTION
                or result.outcome is Outcome.FAILED
                or result.outcome is Outcome.PARTIAL
            ):
                identity = account.account
                yield Attention(identity.account_id, identity.name, user.user_name, _item(result))
        if user.owed is not None:  # an earlier run's rotation still partial: its grant failed again
            identity = account.account
            yield Attention(identity.account_id, identity.name, user.user_name, _owed_item(user))


def _owed_item(user: UserResult) -> Item:
    """The read grant an earlier rotation still owes (UserResult.owed), as an action line."""
    return Item(
        kind=ActionKind.ROTATE.value,
        outcome=Outcome.PARTIAL.value,
        key_id=user.plan.current_key_id,
        due=None,
        reason="an earlier run stored the user's new key; its read grant failed again",
        upcoming=None,
        overdue=False,
        error=user.owed,
        new_key_id=None,
        secret=None,
        fetch_command=None,
        description="read access to the user's secret still owed",
    )


def digest(
    report: RunReport,
    policy: RotationPolicy,
    failed_notifications: Iterable[NotificationResult] = (),
    summaries: Mapping[str, RunSummary] | None = None,
) -> Digest:
    """The admin's view of a whole run.

    ``summaries``: accounts' summaries by account id where the caller has them already (the
    one-process run counts each account as it finishes; the Lambda digest has them from its
    rotate_account steps, and so knows the counts of an account whose detail it could not
    read). Any other account is counted here, its keys past rotation at ``report.started``.
    """
    cutoff = past_rotation_cutoff(policy, report.started)
    known = summaries or {}
    attention: list[Attention] = []
    accounts: list[AccountSummary] = []
    notes: list[AccountNote] = []
    for account in report.accounts:
        identity = account.account
        notes.extend(AccountNote(identity.account_id, identity.name, n) for n in account.notes)
        summary = known.get(identity.account_id)
        if summary is None:
            summary = summarize_account(account, cutoff)
        accounts.append(
            AccountSummary(
                identity.account_id, identity.name, account.status, account.reason, summary
            )
        )
        attention.extend(_attention(account))
    return Digest(
        summary=total(a.summary for a in accounts),
        attention=tuple(attention),
        accounts=tuple(accounts),
        failed_accounts=tuple(a for a in accounts if a.status is RunStatus.FAILED),
        skipped_accounts=tuple(a for a in accounts if a.status is RunStatus.SKIPPED),
        failed_notifications=tuple(n for n in failed_notifications if not n.sent),
        notes=tuple(notes),
        run_notes=tuple(report.notes),
    )

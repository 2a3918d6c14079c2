"""Orphaned secrets: found by every run, marked by enforce runs, deleted by
``keyrotate cleanup --enforce`` once the grace period is over (keyrotate.domain.orphans).

A run (:func:`run_orphans`) judges the secrets its scan listed against the account's users:
a missing user always counts; a missing key only where the scan read the user's real key ids
(a report-only scan does not, to save calls: ``keyrotate cleanup`` reads them). An enforce
run tags each new orphan ``keyrotate:orphaned-at`` (one TagResource each), which starts its
grace period; an audit writes nothing and says "not yet marked".

``keyrotate cleanup`` (:func:`cleanup_account`, per account in scope, in parallel) reads every
secret of the account, the directory, and the keys of each user that has a secret, then per
orphan: marks it (enforce), waits for its grace period, or deletes it (enforce) into Secrets
Manager's recovery window. Just before a deletion, the secret and its user are read again;
anything but the same orphan, still marked long enough ago, and the secret is kept.

Both modes: a member account's secrets are listed in the account itself; in central mode
the central account holds every account's secrets under the account's own name prefix (the
name format includes ``{account_id}``), and a secret tagged ``keyrotate:account-id`` for
another account is never taken for this one's. The read-own-secret policy is one managed
policy per account, shared by its users, so nothing per user is left once a user is deleted
(IAM detaches a user's policies before it deletes the user): only the secret remains.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from keyrotate.aws.iam import Iam
from keyrotate.aws.secrets import SecretInfo, SecretStore
from keyrotate.domain.credential_report import is_report_key_id
from keyrotate.domain.errors import AwsError
from keyrotate.domain.models import Account
from keyrotate.domain.orphans import (
    ORPHANED_AT_TAG,
    RECOVERY_WINDOW_DAYS,
    Orphan,
    held_key,
    judge,
    orphan_note,
)
from keyrotate.domain.state_tags import ACCOUNT_TAG, HELD_KEY_TAG, USER_NAME_TAG, stamp
from keyrotate.service.account_context import AccountContext
from keyrotate.service.fanout import map_bounded
from keyrotate.service.options import RunOptions
from keyrotate.service.scan import SCAN_PER_USER, AccountScan, read_directory

log = logging.getLogger(__name__)

Opened = AccountContext[Iam, SecretStore]

# What cleanup does with an orphan (CleanupItem.action).
MARK = "mark"  # first seen: the grace period starts
WAIT = "wait"  # marked, grace period not over
DELETE = "delete"  # grace period over: scheduled for deletion


def secret_owner(name: str, info: SecretInfo, account_id: str, options: RunOptions) -> str | None:
    """The user whose secret ``name`` is: its user-name tag, else what the name format says.

    None for a secret that is not this account's (another account's tag; a name the format
    cannot have made) or that keyrotate did not write (none of its user-name or key tags: a
    secret that merely shares the name prefix): such a secret is never judged, let alone
    deleted.
    """
    if not info.tags.get(USER_NAME_TAG) and not info.tags.get(HELD_KEY_TAG):
        return None
    tagged_account = info.tags.get(ACCOUNT_TAG)
    if tagged_account and tagged_account != account_id:
        return None
    prefix = options.secret_prefix(account_id)
    tail = options.secret_name_format.split("{user_name}", 1)[1]
    suffix = tail.format(account_id=account_id)
    derived = None
    if name.startswith(prefix) and name.endswith(suffix) and len(name) > len(prefix + suffix):
        derived = name[len(prefix) : len(name) - len(suffix)]
    tagged_user = info.tags.get(USER_NAME_TAG) or None
    if tagged_user is not None and derived is not None and tagged_user != derived:
        return None  # the tags and the name disagree: not a secret to judge
    return tagged_user or derived


def run_orphans(account: Opened, scanned: AccountScan) -> tuple[Orphan, ...]:
    """The account's orphaned secrets as a run's scan sees them (users narrowed or not)."""
    if account.options.only_users is not None:
        return ()  # a run narrowed to a user judges nothing else of its account
    keys: dict[str, tuple[frozenset[str], bool]] = {}
    for user in scanned.users:
        ids = frozenset(k.key_id for k in user.keys)
        known = scanned.path == SCAN_PER_USER or (
            bool(ids) and not any(is_report_key_id(i) for i in ids)
        )
        keys[user.name] = (ids, known)
    found: list[Orphan] = []
    for name, info in scanned.secrets.items():
        owner = secret_owner(name, info, account.account_id, account.options)
        if owner is None:
            continue
        if owner in keys:
            ids, known = keys[owner]
            orphan = judge(name, info.tags, owner, ids, keys_known=known)
        elif owner in scanned.user_names:
            continue
        else:
            orphan = judge(name, info.tags, owner, None)
        if orphan is not None:
            found.append(orphan)
    return tuple(found)


def mark_orphans(
    account: Opened, orphans: Iterable[Orphan], now: datetime
) -> tuple[tuple[Orphan, ...], tuple[str, ...]]:
    """Tag each unmarked orphan ``keyrotate:orphaned-at`` = ``now`` (enforce only): its
    grace period starts. A tag that cannot be written is a note; the next run tries again."""
    marked: list[Orphan] = []
    notes: list[str] = []
    for orphan in orphans:
        if orphan.marked_at is not None:
            marked.append(orphan)
            continue
        try:
            marked.append(_tag_orphaned(account, orphan, now))
        except AwsError as exc:
            notes.append(f"orphaned secret {orphan.name} could not be marked ({exc})")
            marked.append(orphan)
    return tuple(marked), tuple(notes)


def _tag_orphaned(account: Opened, orphan: Orphan, now: datetime) -> Orphan:
    """Tag the secret ``keyrotate:orphaned-at`` = ``now``: its grace period starts."""
    account.secrets.tag(orphan.name, {ORPHANED_AT_TAG: stamp(now)})
    return replace(orphan, marked_at=now)


# -- keyrotate cleanup ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CleanupItem:
    """One orphaned secret and what cleanup did (or would do) with it."""

    account_id: str
    orphan: Orphan
    action: str  # MARK, WAIT or DELETE
    outcome: str  # "planned" (audit), "done", "kept" (no longer orphaned), "failed"
    when: datetime | None = None  # WAIT: when it becomes deletable; DELETE: when it is gone
    error: str | None = None


@dataclass(frozen=True, slots=True)
class CleanupAccount:
    account: Account
    items: tuple[CleanupItem, ...] = ()
    error: str | None = None  # the account could not be read


def _user_keys(iam: Iam, user_name: str) -> frozenset[str] | None:
    """Every key id of the user, any status; None when the user does not exist."""
    try:
        return frozenset(k.key_id for k in iam.access_keys(user_name, with_last_used=False))
    except AwsError as exc:
        if exc.code == "NoSuchEntity":
            return None
        raise


def find_orphans(account: Opened) -> tuple[Orphan, ...]:
    """Every orphaned secret of the account, on exact reads: the directory, every secret of
    the account's prefix, and the keys of each existing user whose secret holds a key id."""
    directory = read_directory(account)
    users = {user.name for user, _ in directory.users}
    secrets = account.secrets.list_by_prefix(account.secret_prefix())
    found: list[Orphan] = []
    for name, info in sorted(secrets.items()):
        owner = secret_owner(name, info, account.account_id, account.options)
        if owner is None:
            continue
        keys: Iterable[str] | None = None
        if owner in users:
            keys = _user_keys(account.iam, owner) if held_key(info.tags) else frozenset()
        orphan = judge(name, info.tags, owner, keys)
        if orphan is not None:
            found.append(orphan)
    return tuple(found)


def _still_deletable(
    account: Opened, orphan: Orphan, now: datetime, grace: timedelta
) -> SecretInfo | None:
    """Fresh reads just before deleting: the same secret, still orphaned, marked long ago
    (its fresh listing, replicas included); None when it must be kept."""
    info = account.secrets.describe(orphan.name)
    if info is None:
        return None
    owner = secret_owner(orphan.name, info, account.account_id, account.options)
    if owner != orphan.user_name:
        return None
    keys = _user_keys(account.iam, owner)
    again = judge(orphan.name, info.tags, owner, keys)
    return info if again is not None and again.deletable(now, grace) else None


def cleanup_account(account: Opened, *, now: datetime, enforce: bool) -> tuple[CleanupItem, ...]:
    """Judge the account's secrets and, in enforce mode, mark and delete as due."""
    grace = timedelta(days=account.options.orphan_grace_days)
    items: list[CleanupItem] = []
    for orphan in find_orphans(account):
        if orphan.marked_at is None:
            items.append(_mark(account, orphan, now, enforce))
        elif not orphan.deletable(now, grace):
            items.append(
                CleanupItem(account.account_id, orphan, WAIT, "planned", orphan.deletable_at(grace))
            )
        else:
            items.append(_delete(account, orphan, now, grace, enforce))
    return tuple(items)


def _mark(account: Opened, orphan: Orphan, now: datetime, enforce: bool) -> CleanupItem:
    if not enforce:
        return CleanupItem(account.account_id, orphan, MARK, "planned")
    try:
        marked = _tag_orphaned(account, orphan, now)
    except AwsError as exc:
        return CleanupItem(account.account_id, orphan, MARK, "failed", error=str(exc))
    return CleanupItem(account.account_id, marked, MARK, "done")


def _delete(
    account: Opened, orphan: Orphan, now: datetime, grace: timedelta, enforce: bool
) -> CleanupItem:
    gone_at = now + timedelta(days=RECOVERY_WINDOW_DAYS)
    if not enforce:
        return CleanupItem(account.account_id, orphan, DELETE, "planned", gone_at)
    try:
        fresh = _still_deletable(account, orphan, now, grace)
        if fresh is None:
            return CleanupItem(account.account_id, orphan, DELETE, "kept")
        account.secrets.delete(
            orphan.name,
            recovery_window_days=RECOVERY_WINDOW_DAYS,
            replica_regions=fresh.replica_regions,
        )
    except AwsError as exc:
        return CleanupItem(account.account_id, orphan, DELETE, "failed", error=str(exc))
    log.info("orphaned secret %s scheduled for deletion", orphan.name)
    return CleanupItem(account.account_id, orphan, DELETE, "done", gone_at)


def cleanup_accounts(
    accounts: Iterable[Account],
    opener: Callable[[Account], Opened],
    *,
    now: datetime,
    enforce: bool,
    workers: int,
) -> tuple[CleanupAccount, ...]:
    """Every account in parallel (``workers`` at once); one account's failure is recorded,
    never the run's end. ``opener`` makes an account's clients (keyrotate.service.account)."""

    def one(account: Account) -> CleanupAccount:
        try:
            items = cleanup_account(opener(account), now=now, enforce=enforce)
        except AwsError as exc:
            return CleanupAccount(account, error=str(exc))
        return CleanupAccount(account, items)

    ordered = sorted(accounts, key=lambda a: a.account_id)
    return tuple(map_bounded(one, ordered, workers))


def cleanup_record(item: CleanupItem, now: datetime) -> Mapping[str, object]:
    """One line of ``keyrotate cleanup --output json``."""
    orphan = item.orphan
    age = orphan.age(now)
    return {
        "account_id": item.account_id,
        "secret_name": orphan.name,
        "user_name": orphan.user_name,
        "why": orphan.why,
        "held_key_id": orphan.held_key_id,
        "orphaned_at": orphan.marked_at.isoformat() if orphan.marked_at else None,
        "age_days": round(age / timedelta(days=1), 2) if age is not None else None,
        "action": item.action,
        "outcome": item.outcome,
        "when": item.when.isoformat() if item.when else None,
        "error": item.error,
    }


def orphan_notes(
    account: Opened, scanned: AccountScan, now: datetime, *, write: bool
) -> tuple[str, ...]:
    """A run's note on the account's orphaned secrets, with each one's age; ``write``
    (an enforce run, its breaker not tripped): the new ones are marked first."""
    orphans = run_orphans(account, scanned)
    problems: tuple[str, ...] = ()
    if write and orphans:
        orphans, problems = mark_orphans(account, orphans, now)
    grace = timedelta(days=account.options.orphan_grace_days)
    note = orphan_note(orphans, now=now, grace=grace)
    return (*problems, note) if note is not None else problems

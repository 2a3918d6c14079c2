"""Orphaned secrets: a secret keyrotate wrote whose user no longer exists, or whose user no
longer has the key it holds. Pure: the service lists secrets, users and keys; this judges.

Every run reports them (a note on the account); ``keyrotate cleanup --enforce`` deletes one
only after a grace period, counted from the first run that saw it orphaned. That run tags the
secret ``keyrotate:orphaned-at`` (the moment is the only safe record of when the user or key
went: IAM keeps none once a user is deleted). A mark older than the secret's last rotation
(``keyrotate:rotated-at``) is stale: the secret was put back to use since, so the clock
starts again. Never a secret of a living user that still holds one of its keys: that is
checked here, and again on fresh reads just before anything is deleted.

    user gone              -> orphan ("its user no longer exists")
    user alive, key gone   -> orphan ("its user no longer has the key it holds")
    user alive, key held   -> not an orphan
    user alive, no key id  -> not an orphan (a secret never filled: the user's next rotation
                              fills it)
    keys unknown           -> only "user gone" can be judged (a report-only scan)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from keyrotate.domain.state_tags import (
    HELD_KEY_TAG,
    ROTATED_AT_TAG,
    STALE_TAG,
    parse_stamp,
)

ORPHANED_AT_TAG = "keyrotate:orphaned-at"
USER_GONE = "its user no longer exists"
KEY_GONE = "its user no longer has the key it holds"
# Secrets Manager keeps a deleted secret this many days (its maximum) before it is gone for
# good: RestoreSecret brings it back until then. Never ForceDeleteWithoutRecovery.
RECOVERY_WINDOW_DAYS = 30
_DAY = timedelta(days=1)
NOTE_LISTS_AT_MOST = 10


@dataclass(frozen=True, slots=True)
class Orphan:
    """One orphaned secret: whose it was, why it is orphaned, since when (the mark)."""

    name: str
    user_name: str
    why: str
    held_key_id: str | None
    marked_at: datetime | None  # the valid keyrotate:orphaned-at mark; None: not yet marked

    def age(self, now: datetime) -> timedelta | None:
        return None if self.marked_at is None else now - self.marked_at

    def deletable_at(self, grace: timedelta) -> datetime | None:
        return None if self.marked_at is None else self.marked_at + grace

    def deletable(self, now: datetime, grace: timedelta) -> bool:
        due = self.deletable_at(grace)
        return due is not None and now >= due


def held_key(tags: Mapping[str, str]) -> str | None:
    """The key id the secret's tags say it holds (None: none, or marked stale)."""
    if tags.get(STALE_TAG) == "true":
        return None
    return tags.get(HELD_KEY_TAG) or None


def orphan_mark(tags: Mapping[str, str]) -> datetime | None:
    """When a run first saw the secret orphaned, unless a rotation has used it since."""
    marked = parse_stamp(tags.get(ORPHANED_AT_TAG))
    if marked is None:
        return None
    rotated = parse_stamp(tags.get(ROTATED_AT_TAG))
    if rotated is not None and rotated > marked:
        return None  # put back to use after the mark: not the same orphan
    return marked


def judge(
    name: str,
    tags: Mapping[str, str],
    user_name: str,
    user_keys: Iterable[str] | None,
    *,
    keys_known: bool = True,
) -> Orphan | None:
    """Whether the secret ``name`` of ``user_name`` is orphaned.

    ``user_keys``: the ids of every key the user has (any status); None: no such user.
    ``keys_known``: whether ``user_keys`` are the real ids (False for a user judged from the
    credential report alone, whose ids were not read): then only a missing user counts.
    """
    held = held_key(tags)
    mark = orphan_mark(tags)
    if user_keys is None:
        return Orphan(name, user_name, USER_GONE, held, mark)
    if held is None or not keys_known or held in set(user_keys):
        return None
    return Orphan(name, user_name, KEY_GONE, held, mark)


def orphan_note(orphans: Iterable[Orphan], *, now: datetime, grace: timedelta) -> str | None:
    """One note for the account's orphaned secrets, with each one's age; None if none."""
    found = sorted(orphans, key=lambda o: o.name)
    if not found:
        return None
    parts = [_describe(o, now, grace) for o in found[:NOTE_LISTS_AT_MOST]]
    more = len(found) - NOTE_LISTS_AT_MOST
    if more > 0:
        parts.append(f"and {more} more")
    return (
        f"orphaned secrets ({len(found)}): " + "; ".join(parts) + ". `keyrotate cleanup` lists "
        f"them; `keyrotate cleanup --enforce` deletes each {grace / _DAY:.0f} days after a "
        "run first saw it orphaned (OrphanGracePeriod), into Secrets Manager's "
        f"{RECOVERY_WINDOW_DAYS}-day recovery window"
    )


def _describe(orphan: Orphan, now: datetime, grace: timedelta) -> str:
    what = f"{orphan.name} (user {orphan.user_name}: {orphan.why}"
    if orphan.why == KEY_GONE and orphan.held_key_id:
        what += f", {orphan.held_key_id}"
    age = orphan.age(now)
    if age is None or orphan.marked_at is None:
        return f"{what}; first seen now, not yet marked by an enforce run)"
    since = f"orphaned since {orphan.marked_at:%Y-%m-%d}, {age / _DAY:.0f} days"
    if orphan.deletable(now, grace):
        return f"{what}; {since}, deletable now)"
    due = orphan.deletable_at(grace)
    return f"{what}; {since}, deletable from {due:%Y-%m-%d})"

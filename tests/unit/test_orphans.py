"""Orphaned secrets are judged on the user and the key a secret holds; never a living user's
secret that holds one of its keys, whatever the tags say. Pure, no AWS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keyrotate.domain.orphans import (
    KEY_GONE,
    ORPHANED_AT_TAG,
    USER_GONE,
    Orphan,
    judge,
    orphan_mark,
    orphan_note,
)
from keyrotate.domain.state_tags import HELD_KEY_TAG, ROTATED_AT_TAG, STALE_TAG, stamp

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
GRACE = timedelta(days=30)
NAME = "keyrotate/111122223333/alice"


def tags(
    held: str | None = "AKIAHELD", marked: datetime | None = None, **more: str
) -> dict[str, str]:
    found = {HELD_KEY_TAG: held} if held else {}
    if marked is not None:
        found[ORPHANED_AT_TAG] = stamp(marked)
    return {**found, **more}


@pytest.mark.parametrize(
    ("secret_tags", "user_keys", "known", "why"),
    [
        (tags(), None, True, USER_GONE),  # user deleted
        (tags(held=None), None, True, USER_GONE),  # user deleted, secret never filled
        (tags(), {"AKIAOTHER"}, True, KEY_GONE),  # the key it holds was deleted
        (tags(), set(), True, KEY_GONE),  # the user has no key at all
        (tags(), {"AKIAHELD"}, True, None),  # holds one of the user's keys
        (tags(), {"AKIAHELD", "AKIAOTHER"}, True, None),
        (tags(held=None), {"AKIAOTHER"}, True, None),  # never filled: its user fills it next
        (tags(**{STALE_TAG: "true"}), {"AKIAOTHER"}, True, None),  # marked as holding none
        (tags(), {"AKIA_REPORT_1"}, False, None),  # keys not read: only a gone user counts
        (tags(), None, False, USER_GONE),
    ],
)
def test_a_secret_is_orphaned_when_its_user_or_its_key_is_gone(
    secret_tags: dict[str, str], user_keys: set[str] | None, known: bool, why: str | None
) -> None:
    found = judge(NAME, secret_tags, "alice", user_keys, keys_known=known)
    assert (found.why if found else None) == why


key_ids = st.sampled_from(["AKIA1", "AKIA2", "AKIA3", "AKIA4"])
moments = st.one_of(st.none(), st.integers(-400, 400).map(lambda d: NOW + timedelta(days=d)))


@given(
    held=key_ids,
    others=st.sets(key_ids),
    marked=moments,
    rotated=moments,
    stale=st.sampled_from(["", "true", "false"]),
    known=st.booleans(),
)
def test_never_a_living_users_secret_that_holds_one_of_its_keys(
    held: str,
    others: set[str],
    marked: datetime | None,
    rotated: datetime | None,
    stale: str,
    known: bool,
) -> None:
    secret_tags = tags(held, marked)
    if rotated is not None:
        secret_tags[ROTATED_AT_TAG] = stamp(rotated)
    if stale:
        secret_tags[STALE_TAG] = stale
    assert judge(NAME, secret_tags, "alice", {held, *others}, keys_known=known) is None


def test_a_mark_older_than_the_secrets_last_rotation_is_stale() -> None:
    assert orphan_mark(tags(marked=NOW)) == NOW
    put_back = tags(marked=NOW, **{ROTATED_AT_TAG: stamp(NOW + timedelta(days=1))})
    assert orphan_mark(put_back) is None
    older = tags(marked=NOW, **{ROTATED_AT_TAG: stamp(NOW - timedelta(days=1))})
    assert orphan_mark(older) == NOW
    assert orphan_mark({ORPHANED_AT_TAG: "yesterday"}) is None  # unreadable: not marked


def test_deletable_only_once_the_grace_period_from_the_mark_is_over() -> None:
    unmarked = Orphan(NAME, "alice", USER_GONE, None, None)
    assert not unmarked.deletable(NOW + timedelta(days=999), GRACE)
    marked = Orphan(NAME, "alice", USER_GONE, None, NOW)
    assert not marked.deletable(NOW + GRACE - timedelta(seconds=1), GRACE)
    assert marked.deletable(NOW + GRACE, GRACE)


def test_the_note_lists_each_orphan_with_its_age() -> None:
    orphans = [
        Orphan(NAME, "alice", USER_GONE, "AKIAHELD", NOW - timedelta(days=40)),
        Orphan("keyrotate/111122223333/bob", "bob", KEY_GONE, "AKIABOB", NOW - timedelta(days=3)),
        Orphan("keyrotate/111122223333/carol", "carol", USER_GONE, None, None),
    ]
    note = orphan_note(orphans, now=NOW, grace=GRACE)
    assert note is not None
    assert note.startswith("orphaned secrets (3): keyrotate/111122223333/alice")
    assert "orphaned since 2027-01-20, 40 days, deletable now" in note
    assert "AKIABOB" in note
    assert "deletable from 2027-03-28" in note
    assert "carol: its user no longer exists; first seen now, not yet marked" in note
    assert orphan_note([], now=NOW, grace=GRACE) is None

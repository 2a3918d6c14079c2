"""Exemptions: which one holds for a user, how it reads, and what an operator must hear
about them (the ones that will soon end, have ended, or whose tag could not be read). Pure.

A user may be exempt four ways, beside the protected users IAM itself fences off
(keyrotate.domain.protection): membership of the exemption group, the exemption tag, its
account's id, or an OU its account sits in (the last two from the AccountExemptions setting,
resolved by the service from the account's place in the organization). Every exemption but
the group may carry an end (``until``) and a reason; an exemption that has ended no longer
exempts, and the run says so. When several hold, :func:`strongest` picks the one that lasts
longest, so the user is exempt exactly while any of them holds.

An exemption keeps working as SPEC rule 8 says (a tag whose end date cannot be read keeps
the user exempt: nothing is changed when in doubt); these notes only make sure nobody learns
of it from a surprise. The other loud case, an exemption group missing in an account, is
found by the scan, which alone knows the account's groups (keyrotate.service.scan).

A note reads, for instance::

    user vendor: its exemption (tag keyrotate:exempt) ends on 2027-03-01 00:00 UTC, in 4
    days; from then on its keys are rotated like any other's
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from keyrotate.domain.models import Account, Exemption, UserKeys

_DAY = timedelta(days=1)
ACCOUNT = "account"
OU = "ou"
SCOPE_SOURCES = frozenset({ACCOUNT, OU})
_SOURCE_WORDS = {"group": "group", "tag": "tag", ACCOUNT: "account", OU: "OU"}


@dataclass(frozen=True, slots=True)
class ScopeExemption:
    """One entry of the AccountExemptions setting: an account (``kind`` "account", by id)
    or an OU (``kind`` "ou", by id, or by path as the report prints it) and everything
    nested under it, exempt until ``until`` (None: for good), for ``reason``."""

    kind: str
    target: str
    until: datetime | None = None
    reason: str = ""

    def matches(self, account: Account) -> bool:
        if self.kind == ACCOUNT:
            return account.account_id == self.target
        if self.target.startswith("/"):
            path = self.target.rstrip("/") or "/"
            return account.ou_path == path or account.ou_path.startswith(path.rstrip("/") + "/")
        return self.target in account.ou_ids

    def exemption(self) -> Exemption:
        return Exemption(self.kind, self.reason, self.until, scope=self.target)


def strongest(*candidates: Exemption | None) -> Exemption | None:
    """The exemption that lasts longest: one with no end, else the latest end; the first
    given on a tie. A user is exempt exactly while the one returned applies."""
    best: Exemption | None = None
    for exemption in candidates:
        if exemption is None:
            continue
        if best is None or _lasts_longer(exemption, best):
            best = exemption
    return best


def _lasts_longer(one: Exemption, other: Exemption) -> bool:
    if other.until is None:
        return False
    return one.until is None or one.until > other.until


def scope_exemption(entries: Iterable[ScopeExemption], account: Account) -> Exemption | None:
    """The account's exemption from the AccountExemptions entries that name it or an OU it
    sits in (nested OUs included), the longest-lasting one; None if none names it."""
    return strongest(*(e.exemption() for e in entries if e.matches(account)))


def describe(exemption: Exemption) -> str:
    """One line saying what exempts the user, until when and why, for tables and reports:
    ``exempt by OU /Root/Vendors until 2027-01-31 00:00 UTC: vendor appliance``."""
    if exemption.source == "protected":
        return f"protected: {exemption.reason}" if exemption.reason else "protected"
    word = _SOURCE_WORDS.get(exemption.source, exemption.source)
    text = f"exempt by {word}" + (f" {exemption.scope}" if exemption.scope else "")
    if exemption.until is not None:
        text += f" until {exemption.until:%Y-%m-%d %H:%M} UTC"
    reason = exemption.reason
    if exemption.source == "group" and reason.startswith("member of"):
        reason = ""  # the group's name already says it
    return f"{text}: {reason}" if reason else text


def exemption_notes(
    users: Iterable[UserKeys], tag: str, *, now: datetime, warn_before: timedelta
) -> tuple[str, ...]:
    """One note per user whose exemption tag cannot be read, or whose exemption ends within
    ``warn_before`` (the owners' warning period: the operator hears as early as they do) or
    has ended. An account's or OU's exemption is one note for the account, not one per user.
    """
    notes: list[str] = []
    told: set[Exemption] = set()
    for user in users:
        exemption = user.exemption
        if exemption is None or exemption.source not in ("tag", *SCOPE_SOURCES):
            continue
        if exemption.source in SCOPE_SOURCES:
            if exemption in told:
                continue
            told.add(exemption)
        note = _note(user.user_name, exemption, tag, now, warn_before)
        if note is not None:
            notes.append(note)
    return tuple(notes)


def _note(
    user_name: str, exemption: Exemption, tag: str, now: datetime, warn_before: timedelta
) -> str | None:
    if exemption.problem is not None:
        return (
            f"user {user_name}: its exemption tag {tag} cannot be read ({exemption.problem}); "
            "the user stays exempt until the tag is fixed"
        )
    until = exemption.until
    if until is None or until > now + warn_before:
        return None
    if exemption.source in SCOPE_SOURCES:
        who, what, keys = "account", f"its exemption ({describe(exemption)})", "its users' keys"
        fix = "remove the entry from AccountExemptions"
    else:
        who, what, keys = f"user {user_name}", f"its exemption (tag {tag})", "its keys"
        fix = f"remove the tag {tag}"
    if until <= now:
        return (
            f"{who}: {what} ended on {until:%Y-%m-%d %H:%M} UTC and no longer exempts; "
            f"{keys} are rotated like any other's ({fix}, or give it a later end)"
        )
    days = (until - now) / _DAY
    left = f"in {days:.0f} day{'' if round(days) == 1 else 's'}" if days >= 1 else "in hours"
    return (
        f"{who}: {what} ends on {until:%Y-%m-%d %H:%M} UTC, {left}; from then on {keys} are "
        "rotated like any other's"
    )

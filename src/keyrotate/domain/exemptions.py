"""What an operator must hear about exemptions: the ones that will soon end, and the ones
whose tag could not be read. Pure.

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
from datetime import datetime, timedelta

from keyrotate.domain.models import Exemption, UserKeys

_DAY = timedelta(days=1)


def exemption_notes(
    users: Iterable[UserKeys], tag: str, *, now: datetime, warn_before: timedelta
) -> tuple[str, ...]:
    """One note per user whose exemption tag cannot be read, or whose exemption ends within
    ``warn_before`` (the owners' warning period: the operator hears as early as they do)."""
    notes: list[str] = []
    for user in users:
        exemption = user.exemption
        if exemption is None or exemption.source != "tag":
            continue
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
    if until is None or not now < until <= now + warn_before:
        return None
    days = (until - now) / _DAY
    left = f"in {days:.0f} day{'' if round(days) == 1 else 's'}" if days >= 1 else "in hours"
    return (
        f"user {user_name}: its exemption (tag {tag}) ends on {until:%Y-%m-%d %H:%M} UTC, "
        f"{left}; from then on its keys are rotated like any other's"
    )

"""How the tool's state is written as tags, and read back into a :class:`KeyState`.

SPEC.md "where the tool keeps its state": on the user's secret (which key it holds, when it
was rotated in, when its predecessor was deactivated) and on the IAM user (when each key was
deactivated, and the rotation intent marker), so a scan never needs a secret's value.

    user tag   keyrotate:deactivated:AKIA...   2026-05-01T10:00:00+00:00
    user tag   keyrotate:intent                2026-05-01T10:00:00+00:00
    user tag   keyrotate:grant-pending         true      (attaching the read policy failed)
    user tag   keyrotate:snooze:AKIA...        2026-05-08T10:00:00+00:00 (not deactivated
                                               before then: keyrotate restore, or a
                                               reactivation by hand the tool recorded)
    user tag   keyrotate:compromised:AKIA...   2026-05-01T10:00:00+00:00 (deactivated as
                                               leaked: deleted after the recovery window)
    secret tag keyrotate:access-key-id         AKIA...
    secret tag keyrotate:rotated-at            2026-05-01T10:00:00+00:00
    secret tag keyrotate:self-used-at          2026-05-01T10:00:07+00:00 (the tool's STS check
                                                                    of the key it holds)
    secret tag keyrotate:deactivated-key-id    AKIA...   (the predecessor, once deactivated)
    secret tag keyrotate:deactivated-at        2026-05-11T10:00:00+00:00
    secret tag keyrotate:stale                 true      (the key it holds no longer exists)
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from keyrotate.domain.models import Exemption, KeyState

PREFIX = "keyrotate:"
USER_DEACTIVATED = "keyrotate:deactivated:"
USER_INTENT = "keyrotate:intent"
USER_GRANT_PENDING = "keyrotate:grant-pending"  # read access to the secret still owed
USER_SNOOZE = "keyrotate:snooze:"  # + key id: until when the key is not deactivated again
USER_COMPROMISED = "keyrotate:compromised:"  # + key id: when it was deactivated as leaked
HELD_KEY_TAG = "keyrotate:access-key-id"
ROTATED_AT_TAG = "keyrotate:rotated-at"
# When the tool itself last used the key the secret holds; empty until it has (SPEC rule 7).
SELF_USED_TAG = "keyrotate:self-used-at"
PREDECESSOR_TAG = "keyrotate:deactivated-key-id"
PREDECESSOR_DEACTIVATED_TAG = "keyrotate:deactivated-at"
STALE_TAG = "keyrotate:stale"
ACCOUNT_TAG = "keyrotate:account-id"
USER_NAME_TAG = "keyrotate:user-name"


def stamp(moment: datetime) -> str:
    """A tag value for a moment: ISO 8601 in UTC, to the second."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def parse_stamp(value: str | None) -> datetime | None:
    """Read a stamp back; anything unreadable counts as absent (never guessed)."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def key_state(
    user_tags: Mapping[str, str],
    secret_tags: Mapping[str, str] | None,
    *,
    value_written: bool = True,
) -> KeyState:
    """Combine the user's tags and its secret's tags into what the engine needs.

    ``value_written``: whether the secret's current value is the one written for the key its
    tags name. A rotation writes the tags just before the value; if it was interrupted in
    between (intent marker still there, tags stamped after it), the secret holds no key the
    tags can vouch for, and the new key is an orphan like any other key never stored.
    """
    deactivated: dict[str, datetime] = {}
    secret_tags = secret_tags or {}
    secret_key_id = secret_tags.get(HELD_KEY_TAG) or None
    if secret_tags.get(STALE_TAG) == "true":
        secret_key_id = None
    intent_at = parse_stamp(user_tags.get(USER_INTENT))
    tagged_at = parse_stamp(secret_tags.get(ROTATED_AT_TAG))
    if (
        secret_key_id
        and not value_written
        and intent_at is not None
        and tagged_at is not None
        and tagged_at >= intent_at
    ):
        secret_key_id = None
    prior = secret_tags.get(PREDECESSOR_TAG)
    prior_at = parse_stamp(secret_tags.get(PREDECESSOR_DEACTIVATED_TAG))
    if prior and prior_at:
        deactivated[prior] = prior_at
    snoozed: dict[str, datetime] = {}
    compromised: dict[str, datetime] = {}
    for tag, value in user_tags.items():  # the user's tags win: they are written first
        if not tag.startswith(PREFIX):
            continue
        for prefix, found in (
            (USER_DEACTIVATED, deactivated),
            (USER_SNOOZE, snoozed),
            (USER_COMPROMISED, compromised),
        ):
            if tag.startswith(prefix):
                moment = parse_stamp(value)
                if moment is not None:
                    found[tag.removeprefix(prefix)] = moment
    return KeyState(
        secret_key_id=secret_key_id,
        rotated_at=parse_stamp(secret_tags.get(ROTATED_AT_TAG)) if secret_key_id else None,
        deactivated_at=deactivated,
        intent_at=intent_at,
        self_used_at=parse_stamp(secret_tags.get(SELF_USED_TAG)) if secret_key_id else None,
        snoozed_until=snoozed,
        compromised_at=compromised,
    )


EXEMPT_UNTIL = "until"
EXEMPT_REASON = "reason"


def parse_exemption(value: str) -> Exemption:
    """Read an exemption tag value: ``until=2027-03-01;reason=vendor appliance``.

    A bare value is the reason. An ``until`` that cannot be read leaves the user exempt with
    no end (nothing is changed when in doubt); ``problem`` says what could not be read, so
    the run reports it instead of keeping the user exempt in silence.
    """
    until: datetime | None = None
    problem: str | None = None
    reason = value.strip()
    if "=" in value:
        fields = dict(part.split("=", 1) for part in value.split(";") if "=" in part)
        reason = fields.get(EXEMPT_REASON, "").strip()
        # "expires" is the AccountExemptions entries' word for the same end (docs/cli.md)
        raw_until = (fields.get(EXEMPT_UNTIL) or fields.get("expires") or "").strip()
        if raw_until:
            until = parse_stamp(raw_until)
            if until is None:
                problem = f"unreadable until={raw_until!r}, write a date such as 2027-03-01"
                reason = f"{reason} (unreadable until={raw_until!r}: exempt until fixed)".strip()
    return Exemption("tag", reason, until, problem)

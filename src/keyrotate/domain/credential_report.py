"""The IAM credential report as engine input: parsing, pseudo-keys, and matching to real keys.

One GetCredentialReport gives every user's key ages, status and last use (CSV, columns
``access_key_N_active``, ``access_key_N_last_rotated`` = the key's CreateDate,
``access_key_N_last_used_date``; ``N/A`` when absent). It does not give key ids, and it may be
hours old (IAM reuses a report for up to four hours). So it is used to decide *who needs a
closer look*, never to change a key:

- :func:`pseudo_keys` turns a user's report row into :class:`AccessKey` records whose ids are
  placeholders (``credential-report:access_key_1``). The engine plans them like real keys;
  a user whose plan is empty needs no more calls, and the run reports its keys under these
  placeholder ids (the real ids were never fetched because nothing is due).
- :func:`match_report_keys` fills in last use for keys freshly listed with ListAccessKeys,
  from the report, when a listed key is unmistakably the report's key (same creation second,
  same status, no twin). Any key the report does not vouch for must be read with
  GetAccessKeyLastUsed by the caller.

Standard library only, like the rest of ``domain``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from keyrotate.domain.models import AccessKey, KeyStatus

REPORT_KEY_PREFIX = "credential-report:access_key_"
ROOT_ROW = "<root_account>"
REQUIRED_COLUMNS = (
    "user",
    "arn",
    "access_key_1_active",
    "access_key_1_last_rotated",
    "access_key_1_last_used_date",
    "access_key_2_active",
    "access_key_2_last_rotated",
    "access_key_2_last_used_date",
)
_ABSENT = frozenset({"", "N/A", "no_information", "not_supported"})


class ReportFormatError(ValueError):
    """The report is not the CSV IAM documents (a column is missing or a date unreadable)."""


@dataclass(frozen=True, slots=True)
class ReportKey:
    """One key column group of a user's row: slot 1 or 2."""

    slot: int
    active: bool
    created: datetime  # access_key_N_last_rotated: the key's CreateDate, to the second
    last_used: datetime | None


@dataclass(frozen=True, slots=True)
class ReportUser:
    name: str
    arn: str
    keys: tuple[ReportKey, ...]


@dataclass(frozen=True, slots=True)
class CredentialReport:
    """Every IAM user of one account by name (the root account's row left out)."""

    users: Mapping[str, ReportUser]
    generated: datetime | None = None


def is_report_key_id(key_id: str) -> bool:
    """True for the placeholder id of a key known only from the credential report."""
    return key_id.startswith(REPORT_KEY_PREFIX)


def _moment(value: str, column: str, user: str) -> datetime | None:
    text = value.strip()
    if text in _ABSENT:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ReportFormatError(
            f"credential report: {column} of user {user!r} is not a date: {text!r}"
        ) from None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_credential_report(
    content: str | bytes, generated: datetime | None = None
) -> CredentialReport:
    """Parse the CSV of GetCredentialReport; raise :class:`ReportFormatError` if it is not."""
    text = content.decode("utf-8") if isinstance(content, bytes) else content
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or ())]
    if missing:
        raise ReportFormatError(f"credential report: missing columns {', '.join(missing)}")
    users: dict[str, ReportUser] = {}
    for row in reader:
        name = row["user"]
        if name == ROOT_ROW:
            continue  # the root user has no IAM user to rotate; never touched by the tool
        keys: list[ReportKey] = []
        for slot in (1, 2):
            prefix = f"access_key_{slot}_"
            created = _moment(row[prefix + "last_rotated"], prefix + "last_rotated", name)
            if created is None:
                continue  # no key in this slot
            keys.append(
                ReportKey(
                    slot=slot,
                    active=row[prefix + "active"].strip().lower() == "true",
                    created=created,
                    last_used=_moment(row[prefix + "last_used_date"], prefix + "last_used", name),
                )
            )
        users[name] = ReportUser(name, row["arn"], tuple(keys))
    return CredentialReport(users, generated)


def pseudo_keys(user: ReportUser) -> tuple[AccessKey, ...]:
    """The user's keys as the report shows them, under placeholder ids (no id in the report)."""
    return tuple(
        AccessKey(
            key_id=f"{REPORT_KEY_PREFIX}{key.slot}",
            status=KeyStatus.ACTIVE if key.active else KeyStatus.INACTIVE,
            created=key.created,
            last_used=key.last_used,
        )
        for key in user.keys
    )


def _second(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(microsecond=0)


def match_report_keys(
    listed: Sequence[AccessKey], user: ReportUser | None
) -> tuple[list[AccessKey], list[AccessKey]]:
    """Split freshly listed keys into (last use taken from the report, not vouched for).

    A listed key takes its last use from the report only when exactly one report key and
    exactly one listed key share its creation second, and the status agrees (a status that
    changed since means the report is stale for that key). Everything else is returned in
    the second list, for GetAccessKeyLastUsed.
    """
    if user is None:
        return [], list(listed)
    matched: list[AccessKey] = []
    unmatched: list[AccessKey] = []
    for key in listed:
        second = _second(key.created)
        twins = [k for k in listed if _second(k.created) == second]
        candidates = [k for k in user.keys if _second(k.created) == second]
        if len(twins) == 1 and len(candidates) == 1 and candidates[0].active == key.active:
            matched.append(replace(key, last_used=candidates[0].last_used))
        else:
            unmatched.append(key)
    return matched, unmatched

"""Read one account into engine inputs: users, keys, tags, exemptions, secret state.

Fetching and judging stay apart (Prowler's lesson): this module only loads typed records;
:func:`keyrotate.domain.plan` judges them.

Two paths (at organization scale the limit is IAM's rate limits, so calls count):

- **per-user**: the directory, then per user ListAccessKeys + one GetAccessKeyLastUsed per
  key. Exact, and about 1 + 2 calls per user.
- **credential-report**: one GenerateCredentialReport + one GetCredentialReport give every
  user's key ages, status and last use. Each user is planned on the report's keys first
  (placeholder ids, :func:`keyrotate.domain.credential_report.pseudo_keys`); only a user
  whose plan is not empty, or whose state the report cannot judge (intent marker, recorded
  deactivations, forced rotation, a user newer than the report), is marked ``needs_keys``
  and gets ListAccessKeys before planning (:func:`read_keys`). Everyone else is reported
  from the report alone, under placeholder key ids: nothing is due for them, so their real
  ids would cost a call per user and change nothing.

Both paths read the directory the same way: GetAccountAuthorizationDetails(Filter=User),
which lists every user with its tags and groups in a few pages (no ListUserTags per user,
no GetGroup); if that is denied, ListUsers + GetGroup + ListUserTags per user, with a note.

Freshness (SPEC rule 7). The report may be hours old, so nothing is ever changed on its
word: in enforce mode every ``needs_keys`` user's keys *and last use* are read fresh
(ListAccessKeys + GetAccessKeyLastUsed) before the plan that gets executed is made. In audit
mode last use comes from the report when the listed key is unmistakably the report's key (same
creation second and status) and is read with GetAccessKeyLastUsed otherwise: an audit
changes nothing, and this keeps it at one call per user that needs a look.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from keyrotate.aws.iam import IamUser
from keyrotate.aws.secrets import SecretInfo
from keyrotate.config import ScanMode
from keyrotate.domain.credential_report import (
    CredentialReport,
    ReportFormatError,
    ReportUser,
    match_report_keys,
    parse_credential_report,
    pseudo_keys,
)
from keyrotate.domain.engine import plan
from keyrotate.domain.errors import AccessDenied, AwsError
from keyrotate.domain.exemptions import strongest
from keyrotate.domain.models import AccessKey, Exemption, KeyState, UserKeys
from keyrotate.domain.policy import RotationPolicy
from keyrotate.domain.protection import protection_of
from keyrotate.domain.secret_names import is_secret_name
from keyrotate.domain.state_tags import HELD_KEY_TAG, key_state, parse_exemption
from keyrotate.service.account_context import ReadingAccount
from keyrotate.service.options import RunOptions
from keyrotate.service.ports import IamReader

# Which path read an account (AccountResult.scan_path), not how it was asked to (ScanMode).
SCAN_REPORT = "credential-report"
SCAN_PER_USER = "per-user"


@dataclass(frozen=True, slots=True)
class ScannedUser:
    """One user as read: the engine's input plus what execution needs to act on it.

    ``report_row`` is the user's credential-report row (report path only). ``needs_keys``:
    the input's keys are the report's placeholders; the real keys must be read before
    planning (:func:`read_keys`).
    """

    iam_user: IamUser
    inputs: UserKeys  # what the engine judges: keys, recorded state, exemption, owner
    tags: dict[str, str]
    secret_name: str
    secret: SecretInfo | None
    report_row: ReportUser | None = None
    needs_keys: bool = False

    @property
    def name(self) -> str:
        return self.iam_user.name

    @property
    def arn(self) -> str:
        return self.iam_user.arn

    @property
    def keys(self) -> tuple[AccessKey, ...]:
        return self.inputs.keys

    @property
    def state(self) -> KeyState:
        """What the tool recorded of this user's keys (tags on the user and its secret)."""
        return self.inputs.state


@dataclass(frozen=True, slots=True)
class Directory:
    """Every user with its tags, and the exemption group's members (None: no such group)."""

    users: tuple[tuple[IamUser, dict[str, str]], ...]
    members: set[str] | None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AccountScan:
    """An account as read: its users, which path read them, and why (``notes``)."""

    users: tuple[ScannedUser, ...]
    path: str
    notes: tuple[str, ...] = ()
    # The account's secrets by name (its prefix's) and every user name of its directory:
    # what the orphaned secrets are judged on (keyrotate.service.cleanup), whatever users a
    # narrowed run keeps.
    secrets: Mapping[str, SecretInfo] = field(default_factory=dict)
    user_names: frozenset[str] = frozenset()


def exemption_of(
    user: IamUser,
    tags: dict[str, str],
    group_members: set[str] | None,
    options: RunOptions,
    account_exemption: Exemption | None = None,
) -> Exemption | None:
    """Why the user is left alone, if it is. IAM's fences first: they hold for good, while
    an exemption tag may have expired (deploy/README.md "Which fence is which"). Then the
    group (no end), the tag and the account's own exemption (by id or OU): the one lasting
    longest, so an ended tag never hides a running account exemption, nor the reverse."""
    protected = protection_of(
        user.arn, tags, options.protected_user_arns, options.managed_user_path
    )
    if protected is not None:
        return Exemption("protected", protected)
    user_name = user.name
    if group_members is not None and user_name in group_members:
        return Exemption(
            "group", f"member of {options.exemption_group}", scope=options.exemption_group
        )
    value = tags.get(options.exemption_tag)
    tagged = None if value is None else replace(parse_exemption(value), scope=options.exemption_tag)
    return strongest(tagged, account_exemption)


def missing_group_note(group: str) -> str:
    """The note for an account without the exemption group (member-role.yaml creates it)."""
    return (
        f"the exemption group {group} does not exist in this account: no user here is exempt "
        "by group membership (member-role.yaml creates the group: was it deleted, or is "
        "IAMExemptionGroup spelt differently from the member role's stack?)"
    )


def read_directory(account: ReadingAccount) -> Directory:
    """Users, tags and exemption-group members in a few calls per account.

    A missing exemption group is a note: every user it should have exempted is planned like
    any other, and the operator must hear that before the changes surprise someone.
    """
    iam, group = account.iam, account.options.exemption_group
    try:
        details = iam.authorization_details()
    except AccessDenied as exc:
        note = (
            f"GetAccountAuthorizationDetails was denied ({exc}): users and tags were read "
            "with one ListUserTags per user; grant iam:GetAccountAuthorizationDetails to the "
            "member role to save those calls"
        )
        members = iam.group_members(group)
        users = tuple((u, iam.user_tags(u.name)) for u in iam.list_users())
        notes = (note,) if members is not None else (note, missing_group_note(group))
        return Directory(users, members, notes)
    directory = tuple((d.user, d.tags) for d in details.users)
    if group not in details.group_names:
        return Directory(directory, None, (missing_group_note(group),))
    members = {d.user.name for d in details.users if group in d.groups}
    return Directory(directory, members)


def scan_per_user(account: ReadingAccount, *, notes: tuple[str, ...] = ()) -> AccountScan:
    directory = read_directory(account)
    known_secrets = account.secrets.list_by_prefix(account.secret_prefix())
    scanned = tuple(
        build_user(
            account, user, tags, account.iam.access_keys(user.name), directory, known_secrets
        )
        for user, tags in directory.users
    )
    names = frozenset(user.name for user, _ in directory.users)
    return AccountScan(scanned, SCAN_PER_USER, (*notes, *directory.notes), known_secrets, names)


def scan(account: ReadingAccount, *, now: datetime) -> AccountScan:
    """Read the account by ``options.scan_mode``.

    ``auto``: the credential report, or the per-user path (with a note saying why) when the
    report is denied, not ready in time or unreadable. ``report``: the report only; the
    account fails if it cannot be had. ``per-user``: never the report.
    """
    mode = account.options.scan_mode
    if mode is ScanMode.PER_USER:
        return scan_per_user(account)
    try:
        report = fetch_report(account.iam)
    except AwsError as exc:
        if mode is ScanMode.REPORT:
            raise type(exc)(
                exc.operation,
                exc.code,
                f"ScanMode is report but the credential report could not be had ({exc}). "
                "Fix: grant iam:GenerateCredentialReport and iam:GetCredentialReport to the "
                "member role, or set ScanMode to auto",
            ) from exc
        note = f"credential report unavailable ({exc}); scanned user by user instead"
        return scan_per_user(account, notes=(note,))
    return scan_with_report(account, report, now=now)


def fetch_report(iam: IamReader) -> CredentialReport:
    raw = iam.credential_report()
    try:
        return parse_credential_report(raw.content, raw.generated)
    except ReportFormatError as exc:
        raise AwsError("iam:GetCredentialReport", "MalformedReport", str(exc)) from exc


def scan_with_report(
    account: ReadingAccount, report: CredentialReport, *, now: datetime
) -> AccountScan:
    """Every user from the report; those that need a closer look are marked ``needs_keys``."""
    directory = read_directory(account)
    known_secrets = account.secrets.list_by_prefix(account.secret_prefix())
    policy = account.options.policy
    users: list[ScannedUser] = []
    for user, tags in directory.users:
        row = report.users.get(user.name)
        keys = list(pseudo_keys(row)) if row is not None else []
        scanned = build_user(account, user, tags, keys, directory, known_secrets)
        # A user missing from the report was created after it: its keys are unknown.
        needs = row is None or needs_keys(scanned.inputs, policy, now)
        users.append(replace(scanned, report_row=row, needs_keys=needs))
    names = frozenset(user.name for user, _ in directory.users)
    return AccountScan(tuple(users), SCAN_REPORT, directory.notes, known_secrets, names)


def needs_keys(user: UserKeys, policy: RotationPolicy, now: datetime) -> bool:
    """Whether the user's real keys must be read: the report's keys would plan something.

    The report cannot tie the tool's recorded state to keys (it has no key ids): so a
    recorded deactivation, an intent marker or a forced rotation always means a look. The
    key the user's secret holds may be any of its active keys: the user is left alone only
    if the plan is empty whichever one it is.
    """
    exemption = user.exemption
    if exemption is not None and exemption.applies(now):
        return False  # the plan is EXEMPT whatever the keys are
    state = user.state
    if user.forced or state.intent_at is not None or state.deactivated_at:
        return True
    holders: list[str | None] = [None]
    if state.secret_key_id is not None:
        holders.extend(k.key_id for k in user.keys if k.active)
    for holder in holders:
        guess = KeyState(
            secret_key_id=holder,
            rotated_at=state.rotated_at if holder else None,
            self_used_at=state.self_used_at if holder else None,
        )
        if plan(replace(user, state=guess), policy, now=now).actions:
            return True
    return False


def read_keys(account: ReadingAccount, user: ScannedUser, *, fresh_last_used: bool) -> ScannedUser:
    """The user with its real keys (ListAccessKeys) in place of the report's placeholders.

    ``fresh_last_used``: every key's last use from GetAccessKeyLastUsed (enforce mode, SPEC
    rule 7); else from the report where it vouches for the key, GetAccessKeyLastUsed for
    the rest.
    """
    iam = account.iam
    listed = iam.access_keys(user.name, with_last_used=False)
    if fresh_last_used:
        matched: list[AccessKey] = []
        unmatched = listed
    else:
        matched, unmatched = match_report_keys(listed, user.report_row)
    by_id = {k.key_id: k for k in matched}
    by_id.update((k.key_id, replace(k, last_used=iam.last_used(k.key_id))) for k in unmatched)
    keys = tuple(by_id[k.key_id] for k in listed)
    return replace(user, inputs=replace(user.inputs, keys=keys), needs_keys=False)


def build_user(
    account: ReadingAccount,
    user: IamUser,
    tags: dict[str, str],
    keys: list[AccessKey],
    directory: Directory,
    known_secrets: dict[str, SecretInfo],
) -> ScannedUser:
    options = account.options
    name = account.secret_name(user.name)
    secret = known_secrets.get(name)
    inputs = UserKeys(
        user_name=user.name,
        keys=tuple(keys),
        state=key_state(
            tags,
            secret.tags if secret else None,
            value_written=secret is None or secret.holds_value_of(secret.tags.get(HELD_KEY_TAG)),
        ),
        exemption=exemption_of(user, tags, directory.members, options, account.exemption),
        forced=(account.account_id, user.name) in options.force_users,
        owner=tags.get(options.owner_tag) or None,
        # IAM allows ',' in a user name, Secrets Manager not in a secret name: such a user's
        # rotation is BLOCKED before a key is created that no secret could hold.
        storable=is_secret_name(name),
    )
    return ScannedUser(user, inputs, tags, name, secret)

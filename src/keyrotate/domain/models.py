"""Typed records the engine reads and writes. Standard library only; all immutable.

Datetimes are timezone-aware UTC everywhere. The engine never looks at a clock: ``now`` is
passed in, and ages are ``now - created`` as exact timedeltas (SPEC.md rule 6).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum, StrEnum
from types import MappingProxyType


class KeyStatus(StrEnum):
    ACTIVE = "Active"
    INACTIVE = "Inactive"


class AccountStatus(StrEnum):
    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"
    PENDING_CLOSURE = "PENDING_CLOSURE"
    CLOSED = "CLOSED"


@dataclass(frozen=True, slots=True)
class Account:
    """One member of the organization, as Organizations lists it."""

    account_id: str
    name: str
    email: str
    status: str = AccountStatus.ACTIVE
    ou_path: str = "/"
    # The root's and every OU's id from the root down to the account's parent: what an OU
    # exemption given by id matches (keyrotate.domain.exemptions.scope_exemption).
    ou_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AccessKey:
    """One IAM access key: never its secret, which the engine has no use for."""

    key_id: str
    status: KeyStatus
    created: datetime
    last_used: datetime | None = None

    @property
    def active(self) -> bool:
        return self.status is KeyStatus.ACTIVE


_NO_DATES: Mapping[str, datetime] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class KeyState:
    """What the tool recorded about a user's keys on earlier runs (secret and user tags).

    - ``secret_key_id``: the key id the user's secret holds (the current key, SPEC terms);
    - ``rotated_at``: when that key was created by a rotation;
    - ``deactivated_at``: key id -> when the tool deactivated it;
    - ``intent_at``: the rotation intent marker, written on the user just before a key is
      created; a key created within 15 minutes after it and held by no secret is an orphan;
    - ``self_used_at``: when the tool itself last used the key the secret holds (its STS
      check after the rotation): IAM records that call as the key's last use, which must not
      be mistaken for a consumer's (SPEC rule 7);
    - ``snoozed_until``: key id -> until when the key must not be deactivated (``keyrotate
      restore``, or a reactivation by hand the tool recorded);
    - ``compromised_at``: key id -> when the tool deactivated it as leaked (``keyrotate
      rotate --compromised``): deleted once the recovery window from that moment is over,
      whatever its age, and deactivated again should it ever be active.
    """

    secret_key_id: str | None = None
    rotated_at: datetime | None = None
    deactivated_at: Mapping[str, datetime] = field(default_factory=lambda: _NO_DATES)
    intent_at: datetime | None = None
    self_used_at: datetime | None = None
    snoozed_until: Mapping[str, datetime] = field(default_factory=lambda: _NO_DATES)
    compromised_at: Mapping[str, datetime] = field(default_factory=lambda: _NO_DATES)


NO_STATE = KeyState()


@dataclass(frozen=True, slots=True)
class Exemption:
    """Why a user is left alone: its group membership, its exemption tag, or its account's
    exemption by id or OU (the AccountExemptions setting, keyrotate.domain.exemptions)."""

    # "group", "tag", "account", "ou" or "protected" (keyrotate.domain.protection)
    source: str
    reason: str = ""
    until: datetime | None = None
    # What of the exemption tag could not be read; the exemption holds regardless (nothing
    # is changed when in doubt) and the run reports it (keyrotate.domain.exemptions).
    problem: str | None = None
    # What granted it: the group's name, the tag's key, the account id, the OU's id or path.
    scope: str = ""

    def applies(self, now: datetime) -> bool:
        return self.until is None or now < self.until


@dataclass(frozen=True, slots=True)
class UserKeys:
    """Everything the engine needs to plan one IAM user."""

    user_name: str
    keys: tuple[AccessKey, ...]
    state: KeyState = NO_STATE
    exemption: Exemption | None = None
    forced: bool = False
    # The operator reported the user's active keys leaked (``keyrotate rotate --compromised``):
    # a new key now and every active key deactivated now, no install window, no HOLD.
    compromised: bool = False
    owner: str | None = None  # the ResourceOwnerTag value; the engine does not read it
    # False when no secret can be named for this user (an IAM name with a character Secrets
    # Manager refuses): a rotation would create a key it cannot store, so it is BLOCKED.
    storable: bool = True


class ActionKind(StrEnum):
    """Kinds of action. The first three change IAM; the others are notices."""

    ROTATE = "ROTATE"
    DEACTIVATE = "DEACTIVATE"
    DELETE = "DELETE"
    WARN = "WARN"
    HOLD = "HOLD"
    BLOCKED = "BLOCKED"
    EXEMPT = "EXEMPT"

    @property
    def changes_keys(self) -> bool:
        return self in _CHANGING


_CHANGING = frozenset({ActionKind.ROTATE, ActionKind.DEACTIVATE, ActionKind.DELETE})


class Reason(Enum):
    """Why an action is planned; the value is the sentence shown to people."""

    ROTATION_DUE = "the key reached the rotation age"
    FORCED = "rotation was forced by the operator"
    UNUSED = (
        "the key was never used and is past the rotation age, so it is deactivated, not replaced"
    )
    REPLACED = "the key was replaced and the new key's install window has passed"
    RECOVERY_ELAPSED = "the key is inactive and its recovery window has passed"
    ORPHAN = "the key was created by an interrupted rotation and no secret holds it"
    UPCOMING = "an action falls due soon"
    CONSUMER_NOT_SWITCHED = (
        "the old key is still in use and the new key was never used by a consumer: "
        "the consumer has not switched"
    )
    STILL_IN_USE = (
        "the old key is still in use alongside the new key: a key shared by several "
        "consumers, some of which have not switched"
    )
    NO_FREE_SLOT = "the user already has two keys; the older one must be retired first"
    UNSTORABLE_NAME = (
        "the user's name contains a character a secret name cannot hold (Secrets Manager "
        "allows letters, digits and /_+=.@-), so no new key is created; rename the user or "
        "change the secret name format"
    )
    ROTATION_IN_PROGRESS = (
        "another run started rotating this user less than 15 minutes ago; nothing is changed "
        "until it has finished or its window has passed"
    )
    EXEMPT_GROUP = "the user is in the exemption group"
    EXEMPT_TAG = "the user carries the exemption tag"
    EXEMPT_ACCOUNT = "the user's account is exempt (AccountExemptions)"
    EXEMPT_OU = "the user's account is in an exempt OU (AccountExemptions)"
    # IAM itself denies keyrotate any change to the user (keyrotate.domain.protection).
    PROTECTED = "the user is protected: IAM denies keyrotate any change to it"
    # docs/incident-response.md: a leaked key, a restored key, a key reactivated by hand.
    COMPROMISED = (
        "the key was reported compromised: a new key is stored and the leaked key is "
        "deactivated at once, without an install window"
    )
    SNOOZED = (
        "the key was restored after keyrotate deactivated it: it is not deactivated again "
        "before the snooze ends"
    )
    REACTIVATED_BY_HAND = (
        "the key was reactivated by hand after keyrotate deactivated it, and used since: "
        "treated as a snooze of the default length"
    )

    @property
    def sentence(self) -> str:
        return str(self.value)


@dataclass(frozen=True, slots=True)
class Action:
    """One decision about one key.

    ``due`` is when the action falls (or fell) due. For WARN, ``upcoming`` names the action
    warned about; for BLOCKED, ``due`` is the date the rotation becomes possible; a HOLD
    ``overdue`` past ``hold_escalate_after_days`` is flagged in the admin digest.
    """

    kind: ActionKind
    user_name: str
    key_id: str | None
    reason: Reason
    due: datetime | None
    upcoming: ActionKind | None = None
    overdue: bool = False

    def describe(self) -> str:
        what = f"{self.upcoming.value} due" if self.upcoming else self.kind.value
        when = f" on {self.due:%Y-%m-%d %H:%M} UTC" if self.due else ""
        return f"{what} for {self.key_id or self.user_name}{when}: {self.reason.sentence}"


@dataclass(frozen=True, slots=True)
class Plan:
    """The ordered actions for one user. Executing them in order is always safe."""

    user_name: str
    current_key_id: str | None
    actions: tuple[Action, ...]

    @property
    def changes(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.kind.changes_keys)


# Fast constructors for the engine, which builds a Plan for every user of an organization and
# most of its Actions. A frozen dataclass's generated __init__ sets each field through
# object.__setattr__ (a global lookup and a call per field); writing the slots through their
# member descriptors makes the very same objects in about half the time. Neither class has a
# __post_init__, so nothing is skipped. tests/unit/test_engine_examples.py checks equality.
_new = object.__new__
_set_kind = Action.__dict__["kind"].__set__
_set_user_name = Action.__dict__["user_name"].__set__
_set_key_id = Action.__dict__["key_id"].__set__
_set_reason = Action.__dict__["reason"].__set__
_set_due = Action.__dict__["due"].__set__
_set_upcoming = Action.__dict__["upcoming"].__set__
_set_overdue = Action.__dict__["overdue"].__set__
_set_plan_user_name = Plan.__dict__["user_name"].__set__
_set_plan_current_key_id = Plan.__dict__["current_key_id"].__set__
_set_plan_actions = Plan.__dict__["actions"].__set__


def new_action(
    kind: ActionKind,
    user_name: str,
    key_id: str | None,
    reason: Reason,
    due: datetime | None,
    upcoming: ActionKind | None = None,
    overdue: bool = False,
) -> Action:
    """Exactly ``Action(kind, user_name, key_id, reason, due, upcoming, overdue)``, faster."""
    action: Action = _new(Action)
    _set_kind(action, kind)
    _set_user_name(action, user_name)
    _set_key_id(action, key_id)
    _set_reason(action, reason)
    _set_due(action, due)
    _set_upcoming(action, upcoming)
    _set_overdue(action, overdue)
    return action


def new_plan(user_name: str, current_key_id: str | None, actions: tuple[Action, ...]) -> Plan:
    """Exactly ``Plan(user_name, current_key_id, actions)``, faster."""
    result: Plan = _new(Plan)
    _set_plan_user_name(result, user_name)
    _set_plan_current_key_id(result, current_key_id)
    _set_plan_actions(result, actions)
    return result

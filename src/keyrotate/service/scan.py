"""Read one account into engine inputs: users, keys, tags, exemptions, secret state.

Fetching and judging stay apart (Prowler's lesson): this module only loads typed records;
:func:`keyrotate.domain.plan` judges them.
"""

from __future__ import annotations

from dataclasses import dataclass

from keyrotate.aws.iam import Iam, IamUser
from keyrotate.aws.secrets import SecretInfo, SecretStore
from keyrotate.domain.models import AccessKey, Exemption, UserKeys
from keyrotate.domain.state_tags import key_state, parse_exemption
from keyrotate.service.options import RunOptions


@dataclass(frozen=True, slots=True)
class ScannedUser:
    """One user as read: the engine input plus what execution needs to act on it."""

    user: IamUser
    keys: UserKeys
    tags: dict[str, str]
    secret_name: str
    secret: SecretInfo | None


def exemption_of(
    user_name: str,
    tags: dict[str, str],
    group_members: set[str] | None,
    options: RunOptions,
) -> Exemption | None:
    if group_members is not None and user_name in group_members:
        return Exemption("group", f"member of {options.exemption_group}")
    value = tags.get(options.exemption_tag)
    if value is None:
        return None
    until, reason = parse_exemption(value)
    return Exemption("tag", reason, until)


def scan_account(
    account_id: str,
    iam: Iam,
    secrets: SecretStore,
    options: RunOptions,
) -> list[ScannedUser]:
    """Every user of the account with keys, last use, tags, exemption and secret state."""
    members = iam.group_members(options.exemption_group)
    known_secrets = secrets.list_by_prefix(options.secret_prefix(account_id))
    scanned: list[ScannedUser] = []
    for user in iam.list_users():
        tags = iam.user_tags(user.name)
        keys = iam.access_keys(user.name)
        scanned.append(build_user(account_id, user, tags, keys, members, known_secrets, options))
    return scanned


def build_user(
    account_id: str,
    user: IamUser,
    tags: dict[str, str],
    keys: list[AccessKey],
    members: set[str] | None,
    known_secrets: dict[str, SecretInfo],
    options: RunOptions,
) -> ScannedUser:
    name = options.secret_name(account_id, user.name)
    secret = known_secrets.get(name)
    user_keys = UserKeys(
        user_name=user.name,
        keys=tuple(keys),
        state=key_state(tags, secret.tags if secret else None),
        exemption=exemption_of(user.name, tags, members, options),
        forced=(account_id, user.name) in options.force_users,
        owner=tags.get(options.owner_tag) or None,
    )
    return ScannedUser(user, user_keys, tags, name, secret)

"""A run narrowed to named users: ``keyrotate rotate`` and ``keyrotate restore`` act on one
user and leave every other user of its account alone, unread by the engine and unreported.

The account is scanned as any run scans it (the directory, exemptions, secrets: nothing is
judged differently for one user), then only the named users are kept, and a user reported
leaked is marked so for the engine (:attr:`keyrotate.domain.UserKeys.compromised`).
"""

from __future__ import annotations

from dataclasses import replace

from keyrotate.service.options import RunOptions
from keyrotate.service.scan import AccountScan


def targeted(scanned: AccountScan, account_id: str, options: RunOptions) -> AccountScan:
    """``scanned`` with only the users ``options.only_users`` names (all when it is None).

    A leaked user's real keys are always read (``needs_keys``): the credential report's
    placeholders would plan nothing for a young key, and a leaked key is never young.
    """
    only, leaked = options.only_users, options.compromised_users
    if only is None and not leaked:
        return scanned
    users = []
    for user in scanned.users:
        mark = (account_id, user.name)
        if only is not None and mark not in only:
            continue
        if mark in leaked:
            user = replace(user, inputs=replace(user.inputs, compromised=True), needs_keys=True)
        users.append(user)
    return replace(scanned, users=tuple(users))

"""Keys reactivated by hand after keyrotate deactivated them: recorded as snoozes, reported.

The engine sees such a key (a recorded deactivation, the key active again and used since)
and holds it for the default snooze from ``now`` (:func:`keyrotate.domain.engine.snooze_of`).
An enforce run records that snooze on the user (``keyrotate:snooze:<key id>``), so it ends
on a fixed date and the key is then judged as any other; an audit only reports it. Either
way the account's notes say which keys were found so, for the report and the digest.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from keyrotate.domain import state_tags as tags
from keyrotate.domain.errors import AwsError
from keyrotate.domain.models import ActionKind, Plan, Reason
from keyrotate.domain.problems import counted
from keyrotate.service.account_context import WritingAccount

log = logging.getLogger(__name__)
HOLD = ActionKind.HOLD


def hand_snoozes(plans: Mapping[str, Plan], account: WritingAccount | None) -> tuple[str, ...]:
    """One note on the keys reactivated by hand (a count and a few of them, as for any
    repeated per-user finding); their snoozes recorded when ``account`` is given (an enforce
    run whose changes went on: no breaker tripped)."""
    found: dict[str, list[str]] = {}  # how it ended -> "user/key" of each key
    until = ""
    for name, user_plan in plans.items():
        for action in user_plan.actions:
            if action.reason is not Reason.REACTIVATED_BY_HAND or action.kind is not HOLD:
                continue
            if action.key_id is None or action.due is None:  # the engine always sets both
                continue
            until = tags.stamp(action.due)  # now + the default snooze: the same for all
            outcome = "recorded" if account is not None else "would be recorded (audit)"
            if account is not None:
                try:
                    account.iam.tag_user(name, {tags.USER_SNOOZE + action.key_id: until})
                except AwsError as exc:  # harmless: the next run finds the key the same way
                    log.warning("recording the snooze of %s failed: %s", action.key_id, exc)
                    outcome = f"not recorded ({exc.code}); the next run tries again"
            found.setdefault(outcome, []).append(f"{name}/{action.key_id}")
    return tuple(
        f"{counted(keys, 'key')} reactivated by hand after keyrotate deactivated "
        f"{'it' if len(keys) == 1 else 'them'}, and used since: treated as snoozed until "
        f"{until} ({outcome}); keyrotate restore sets another length"
        for outcome, keys in found.items()
    )

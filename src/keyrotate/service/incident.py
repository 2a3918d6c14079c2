"""Incident response on one user: ``keyrotate rotate`` and ``keyrotate restore``
(docs/incident-response.md).

Both act through an ordinary run narrowed to the one user (:mod:`keyrotate.service.targets`):
the same scan, exemptions, engine, guardrails, report and mails as any run, so the user is
judged exactly as the schedule would judge it. Before anything changes, a quiet audit pass
(no mail) proves the target is real: an account out of scope, an unknown user or an exempt
user is an :class:`InputError` naming why (exit 2), never a run that silently does nothing.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from keyrotate.aws.iam import Iam
from keyrotate.aws.organizations import Inventory
from keyrotate.domain import state_tags as tags
from keyrotate.domain.engine import MAX_SNOOZE_DAYS, MIN_SNOOZE_DAYS
from keyrotate.domain.errors import AwsError, InputError
from keyrotate.domain.models import ActionKind, KeyStatus, UserKeys
from keyrotate.domain.results import UserResult
from keyrotate.service.context import RunContext
from keyrotate.service.organization import OrganizationRun, run_organization
from keyrotate.service.results import KeptAccounts

log = logging.getLogger(__name__)

TARGET_FIELD = "ACCOUNT:USER"
_TARGET = re.compile(r"(\d{12}):([\w+=,.@-]{1,64})")
_KEY_ID = re.compile(r"[A-Z0-9]{16,128}")


@dataclass(frozen=True, slots=True)
class Target:
    account_id: str
    user_name: str

    @property
    def mark(self) -> tuple[str, str]:
        return self.account_id, self.user_name

    def __str__(self) -> str:
        return f"{self.account_id}:{self.user_name}"


def parse_target(value: str, field: str = TARGET_FIELD) -> Target:
    found = _TARGET.fullmatch(value.strip())
    if found is None:
        raise InputError(
            field,
            value,
            "use ACCOUNTID:USERNAME, e.g. 123456789012:deploy-bot (12-digit account ID, "
            "IAM user name of letters, digits and _+=,.@-)",
        )
    return Target(found.group(1), found.group(2))


def check_scope(inventory: Inventory, target: Target, field: str = TARGET_FIELD) -> None:
    """The target's account must be one the run covers; else say why it is not."""
    account_id = target.account_id
    if any(a.account_id == account_id for a in inventory.accounts):
        return
    why = next((r for a, r in inventory.skipped if a.account_id == account_id), None)
    raise InputError(
        field,
        str(target),
        f"account {account_id} is out of scope ({why or 'not in the organization'}); "
        "check --accounts, --ou and ExcludeAccounts",
    )


def narrow(
    context: RunContext, target: Target, *, forced: bool = False, compromised: bool = False
) -> Inventory:
    """Point ``context`` at the target alone; return the inventory holding its account.

    The account is checked against the scope the operator's settings give (``--accounts``,
    ``--ou``, ExcludeAccounts) before the run is narrowed to it.
    """
    inventory = context.list_inventory()
    check_scope(inventory, target)
    context.options = replace(
        context.options,
        only_users=frozenset({target.mark}),
        force_users=frozenset({target.mark}) if forced else frozenset(),
        compromised_users=frozenset({target.mark}) if compromised else frozenset(),
    )
    account = next(a for a in inventory.accounts if a.account_id == target.account_id)
    return Inventory((account,), ())


def quiet_audit(context: RunContext, inventory: Inventory) -> OrganizationRun:
    """The narrowed run as an audit, without mail: what the real one would do."""
    enforce = context.options.enforce
    context.options = replace(context.options, enforce=False)
    try:
        return run_organization(context, inventory, KeptAccounts(), notify=False)
    finally:
        context.options = replace(context.options, enforce=enforce)


def _found(run: OrganizationRun, target: Target) -> tuple[bool, UserResult | None]:
    """Whether the target's account failed, and the target's result if the run has one."""
    account = next(a for a in run.report.accounts if a.account.account_id == target.account_id)
    user = next((u for u in account.users if u.user_name == target.user_name), None)
    return account.failed, user


def target_user(run: OrganizationRun, target: Target) -> UserResult | None:
    """The target's result, checked: None when its account failed (the run says why).

    An unknown user or an exempt one is an :class:`InputError` naming why.
    """
    failed, user = _found(run, target)
    if failed:
        return None
    if user is None:
        raise InputError(
            TARGET_FIELD,
            str(target),
            f"account {target.account_id} has no IAM user named {target.user_name!r} "
            "(names are case-sensitive)",
        )
    if user.exempt:
        exempt = next(r.action for r in user.results if r.action.kind is ActionKind.EXEMPT)
        detail = user.inputs.exemption.reason if user.inputs and user.inputs.exemption else ""
        why = exempt.reason.sentence + (f" ({detail})" if detail else "")
        raise InputError(
            TARGET_FIELD,
            str(target),
            f"{target.user_name} is exempt: {why}; keyrotate changes no key of an exempt user "
            "(lift the exemption first, or act by hand)",
        )
    return user


def no_new_key(run: OrganizationRun, target: Target) -> str | None:
    """Why the target gets no new key from this run, if it does not: its rotation BLOCKED,
    or no active key to replace. A leaked key is deactivated all the same."""
    failed, user = _found(run, target)
    if user is None or failed:
        return None  # the run says why
    for result in user.results:
        action = result.action
        if action.kind is ActionKind.ROTATE:
            return None
        if action.kind is ActionKind.BLOCKED:
            when = f" (possible from {action.due:%Y-%m-%d %H:%M} UTC)" if action.due else ""
            return f"no new key for {target}: {action.reason.sentence}{when}"
    return f"no new key for {target}: the user has no active key to replace"


def check_forced_users(context: RunContext, inventory: Inventory) -> None:
    """``--force-user``: each named user must exist in an account in scope (exit 2 if not).

    One ListUserTags per named user; nothing is changed. An account whose role cannot be
    assumed is left to the run, which reports it as failed.
    """
    for account_id, user_name in sorted(context.options.force_users):
        target = Target(account_id, user_name)
        check_scope(inventory, target, "--force-user")
        iam = Iam(context.sessions.client(account_id, "iam"))
        try:
            iam.user_tags(user_name)
        except AwsError as exc:
            if exc.code != "NoSuchEntity":
                continue  # not ours to judge here: the run reports the account
            raise InputError(
                "--force-user",
                str(target),
                f"account {account_id} has no IAM user named {user_name!r} "
                "(names are case-sensitive)",
            ) from None


# restore --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Restore:
    """What ``keyrotate restore`` found (and, with --enforce, did)."""

    target: Target
    key_id: str
    until: datetime
    deactivated_at: datetime
    was_active: bool  # reactivated by hand already: only the snooze is recorded
    done: bool


def check_days(days: int) -> timedelta:
    if not MIN_SNOOZE_DAYS <= days <= MAX_SNOOZE_DAYS:
        raise InputError(
            "--days",
            days,
            f"use {MIN_SNOOZE_DAYS} to {MAX_SNOOZE_DAYS} days (a snooze is "
            "a reprieve; a user that must keep its key for longer wants an exemption)",
        )
    return timedelta(days=days)


def check_key_id(key_id: str) -> str:
    if _KEY_ID.fullmatch(key_id) is None:
        raise InputError("KEY_ID", key_id, "use an access key id such as AKIAIOSFODNN7EXAMPLE")
    return key_id


def plan_restore(
    inputs: UserKeys,
    target: Target,
    key_id: str,
    snooze: timedelta,
    now: datetime,
    recovery: timedelta,
) -> Restore:
    """Whether ``key_id`` may be restored now: only a key keyrotate deactivated, not as
    leaked, and still inside its recovery window (after it, a run may delete it any time)."""
    state = inputs.state

    def refuse(why: str) -> InputError:
        return InputError("KEY_ID", key_id, f"{why}; nothing was changed")

    if key_id in state.compromised_at:
        raise refuse(
            f"keyrotate deactivated {key_id} as compromised: a leaked key is never restored "
            "(fetch the new key from the user's secret instead)"
        )
    deactivated = state.deactivated_at.get(key_id)
    if deactivated is None:
        raise refuse(
            f"keyrotate has no record of deactivating {key_id} for {target.user_name} "
            "(only a key keyrotate deactivated can be restored)"
        )
    key = next((k for k in inputs.keys if k.key_id == key_id), None)
    if key is None:
        raise refuse(f"{target.user_name} has no access key {key_id} (deleted already?)")
    window_end = deactivated + recovery
    if now >= window_end:
        raise refuse(
            f"{key_id} was deactivated on {deactivated:%Y-%m-%d %H:%M} UTC and its recovery "
            f"window ended on {window_end:%Y-%m-%d %H:%M} UTC: the next run may delete it"
        )
    return Restore(target, key_id, now + snooze, deactivated, key.status is KeyStatus.ACTIVE, False)


def restore_key(context: RunContext, restore: Restore) -> Restore:
    """Record the snooze, then reactivate the key (a recorded snooze of a key still inactive
    only delays its deletion; a reactivated key without one would be deactivated again)."""
    target = restore.target
    iam = Iam(context.sessions.client(target.account_id, "iam"))
    snooze = {tags.USER_SNOOZE + restore.key_id: tags.stamp(restore.until)}
    iam.tag_user(target.user_name, snooze)
    if not restore.was_active:
        iam.set_key_status(target.user_name, restore.key_id, KeyStatus.ACTIVE)
    # docs/events.md: an "Access Key Restored" event when EventBusName is set; never fatal.
    published = context.publisher.publish_restore(
        target.account_id,
        target.user_name,
        restore.key_id,
        until=restore.until,
        now=context.clock(),
    )
    for note in published:
        log.warning("%s", note)
    return replace(restore, done=True)


def tell_owners(context: RunContext, inventory: Inventory) -> OrganizationRun:
    """The user's plan after a restore, as an audit run that mails its owners and the admin:
    the restored key shows as held (SNOOZED) until its snooze ends. Nothing is changed."""
    enforce = context.options.enforce
    context.options = replace(context.options, enforce=False, force_users=frozenset())
    try:
        return run_organization(context, inventory, KeptAccounts())
    finally:
        context.options = replace(context.options, enforce=enforce)

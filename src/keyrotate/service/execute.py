"""Carry out one user's plan in enforce mode, in the plan's order (SPEC "Executing a rotation").

Each step records its own outcome; the first failure stops the user's remaining steps
(they may depend on it) and never the account's other users. Audit mode goes through
:func:`audit` instead and touches nothing; a user a guardrail holds back goes through
:func:`defer` (keyrotate.service.guardrails).

A rotation is: intent marker on the user -> create the key -> store it (replicas, policy,
tags, the value last) -> verify it with STS and record that use as the tool's own (the
secret's ``keyrotate:self-used-at`` tag, so rule 7 never takes it for a consumer's); once
the user's steps are done, give the user read access and clear the marker (:func:`_finish`).
If storing fails the new key is deleted again, so no key exists that no secret holds; if the
process dies in between, the marker lets the next run find the orphan (engine rule,
:func:`keyrotate.domain.is_orphan`). A read grant that fails is owed through the
``keyrotate:grant-pending`` user tag.

Several users of an account run at once (:mod:`keyrotate.service.guarded`), each through
:func:`enforce` in a thread of its own: one user's steps stay in this order, and users share
nothing here but the account's clients. The check of a new key (``account.verifier``) is
where a user waits for STS; the guarded pass lends the user's place to the next user then.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

from keyrotate.aws.iam import NewKey
from keyrotate.domain import state_tags as tags
from keyrotate.domain.errors import AwsError, KeySlotsFull
from keyrotate.domain.models import Action, ActionKind, KeyStatus, Plan, Reason
from keyrotate.domain.results import ActionResult, Outcome, SecretLocation
from keyrotate.service.account_context import WritingAccount
from keyrotate.service.scan import ScannedUser

log = logging.getLogger(__name__)


def audit(plan: Plan) -> tuple[ActionResult, ...]:
    """What enforce would do, done by nobody (SPEC rule 10)."""
    return tuple(
        ActionResult(a, Outcome.PLANNED if a.kind.changes_keys else Outcome.NOTICE)
        for a in plan.actions
    )


def defer(plan: Plan, why: str) -> tuple[ActionResult, ...]:
    """The plan held back by a guardrail: no change and no housekeeping write; ``why`` on
    every change. The next run plans the user afresh."""
    return tuple(
        ActionResult(a, Outcome.DEFERRED, note=why)
        if a.kind.changes_keys
        else ActionResult(a, Outcome.NOTICE)
        for a in plan.actions
    )


@dataclass(frozen=True, slots=True)
class Enforced:
    """A user's enforce pass: its plan's results, and a step owed from an earlier run that
    failed again in this one (the read grant; :attr:`UserResult.owed`), or ``None``."""

    results: tuple[ActionResult, ...]
    owed: str | None = None


def enforce(plan: Plan, user: ScannedUser, account: WritingAccount) -> Enforced:
    results: list[ActionResult] = []
    failed = False
    for action in plan.actions:
        if not action.kind.changes_keys:
            results.append(ActionResult(action, Outcome.NOTICE))
        elif failed:
            results.append(ActionResult(action, Outcome.SKIPPED, "an earlier step failed"))
        else:
            result = _execute(action, user, account)
            failed = result.outcome is Outcome.FAILED
            results.append(result)
    if any(a.reason is Reason.ROTATION_IN_PROGRESS for a in plan.actions):
        return Enforced(tuple(results))  # the marker is another run's: leave it alone
    if failed:  # the marker stays: the next run judges what the failure left
        return Enforced(tuple(results))
    return _finish(user, account, results)


def _finish(user: ScannedUser, account: WritingAccount, results: list[ActionResult]) -> Enforced:
    """After a user's steps: grant read access where a key is stored, then clear the marker.

    The grant is retried by later runs while it is owed: the user carries the grant-pending
    tag (a grant failed) or an intent marker (a run stopped after storing the key). The
    marker is cleared once the rotation is complete either way: its only job is to let the
    next run recognise a key that was created but never stored.

    A grant that fails again with no rotation in this run is the earlier run's rotation
    still partial: it is returned as ``owed`` (counted partial, exit 1), not only logged.
    """
    still_owed: str | None = None
    name = user.name
    rotated = next(
        (
            i
            for i, r in enumerate(results)
            if r.action.kind is ActionKind.ROTATE and r.outcome is Outcome.DONE
        ),
        None,
    )
    interrupted = user.state.intent_at is not None
    pending = tags.USER_GRANT_PENDING in user.tags
    if (rotated is not None or user.secret is not None) and (
        rotated is not None or interrupted or pending
    ):
        problem = _grant_read(name, account)
        if problem is None and pending:
            _quietly(lambda: account.iam.untag_user(name, [tags.USER_GRANT_PENDING]))
        elif problem is not None:
            if not pending:
                _quietly(lambda: account.iam.tag_user(name, {tags.USER_GRANT_PENDING: "true"}))
            if rotated is not None:
                done = results[rotated]
                owed = "read access is owed: every run retries it until it works"
                note = "; ".join(n for n in (done.error, problem, owed) if n)
                # The key stands, the grant is owed: partial, counted, exit 1 (issue 14).
                results[rotated] = replace(done, outcome=Outcome.PARTIAL, error=note)
            else:
                retried = "owed since an earlier run: every run retries it until it works"
                still_owed = f"{problem}; {retried}"
                log.warning("%s: %s", name, still_owed)
    if rotated is not None or interrupted:
        _quietly(lambda: account.iam.untag_user(name, [tags.USER_INTENT]))
    return Enforced(tuple(results), still_owed)


def _execute(action: Action, user: ScannedUser, account: WritingAccount) -> ActionResult:
    try:
        if action.kind is ActionKind.ROTATE:
            return _rotate(action, user, account)
        if action.kind is ActionKind.DEACTIVATE:
            _deactivate(action, user, account)
        else:
            _delete(action, user, account)
    except KeySlotsFull as exc:
        return ActionResult(action, Outcome.FAILED, f"another run is rotating this user ({exc})")
    except AwsError as exc:
        log.warning("%s of %s failed: %s", action.kind.value, action.key_id, exc)
        return ActionResult(action, Outcome.FAILED, str(exc))
    return ActionResult(action, Outcome.DONE)


def _deactivate(action: Action, user: ScannedUser, account: WritingAccount) -> None:
    assert action.key_id is not None
    name = user.name
    moment = tags.stamp(account.clock())
    # Record first: a recorded deactivation of a still-active key only delays its deletion.
    record = {tags.USER_DEACTIVATED + action.key_id: moment}
    if action.reason is Reason.COMPROMISED:  # deleted one recovery window on, whatever its age
        record[tags.USER_COMPROMISED + action.key_id] = moment
    account.iam.tag_user(name, record)
    account.iam.set_key_status(name, action.key_id, KeyStatus.INACTIVE)
    if user.secret is not None and action.key_id != user.state.secret_key_id:
        account.secrets.tag(
            user.secret_name,
            {tags.PREDECESSOR_TAG: action.key_id, tags.PREDECESSOR_DEACTIVATED_TAG: moment},
        )


def _delete(action: Action, user: ScannedUser, account: WritingAccount) -> None:
    assert action.key_id is not None
    name = user.name
    account.iam.delete_key(name, action.key_id)
    prefixes = (tags.USER_DEACTIVATED, tags.USER_COMPROMISED, tags.USER_SNOOZE)
    markers = [m for m in (p + action.key_id for p in prefixes) if m in user.tags]
    if markers:
        _quietly(lambda: account.iam.untag_user(name, markers))
    if user.secret is not None and action.key_id == user.state.secret_key_id:
        account.secrets.tag(user.secret_name, {tags.STALE_TAG: "true"})


def _rotate(action: Action, user: ScannedUser, account: WritingAccount) -> ActionResult:
    name = user.name
    account.iam.tag_user(name, {tags.USER_INTENT: tags.stamp(account.clock())})
    new_key = account.iam.create_key(name)
    try:
        location = _store(new_key, user, account)
    except AwsError as exc:
        undo = "the new key was deleted again"
        try:
            account.iam.delete_key(name, new_key.key_id)
        except AwsError as undo_exc:  # the intent marker stays: the next run removes it
            undo = f"deleting the new key failed too ({undo_exc}); the next run removes it"
        else:  # nothing is left to recognise: no reason to keep other runs off this user
            _quietly(lambda: account.iam.untag_user(name, [tags.USER_INTENT]))
        return ActionResult(action, Outcome.FAILED, f"storing the new key failed: {exc}; {undo}")
    verified, problem = _verify(new_key, user, account)
    if verified is not None:
        # IAM records the check as the key's last use: say it was ours (SPEC rule 7). If this
        # write fails, the engine counts from rotated-at, which the check followed closely.
        checked = {tags.SELF_USED_TAG: tags.stamp(account.clock())}
        _quietly(lambda: account.secrets.tag(user.secret_name, checked))
    return ActionResult(action, Outcome.DONE, problem, new_key.key_id, location, verified)


def _store(new_key: NewKey, user: ScannedUser, account: WritingAccount) -> SecretLocation:
    value = {
        "AccessKeyId": new_key.key_id,
        "UserName": new_key.user_name,
        "CreateDate": new_key.created.isoformat(),
    }
    state = {
        tags.HELD_KEY_TAG: new_key.key_id,
        tags.ROTATED_AT_TAG: tags.stamp(new_key.created),
        tags.SELF_USED_TAG: "",  # the previous key's: this one is recorded once checked
        tags.STALE_TAG: "false",
        tags.ACCOUNT_TAG: account.account_id,
        tags.USER_NAME_TAG: new_key.user_name,
    }
    readers = (user.arn, *account.options.reader_principals)
    return account.secrets.store(
        user.secret_name, value=value, secret=new_key.secret, tags=state, readers=readers
    )


def _verify(
    new_key: NewKey, user: ScannedUser, account: WritingAccount
) -> tuple[bool | None, str | None]:
    """Prove the stored key authenticates (``None``: not checked); a failure is reported."""
    if not account.options.verify_new_keys:
        return None, None
    problem = account.verifier(
        new_key.key_id,
        new_key.secret,
        region=account.options.region,
        expected_arn=user.arn,
        first_wait=account.options.verify_first_wait,
    )
    if problem is None:
        return True, None
    return False, f"verification failed: {problem}"


def _grant_read(user_name: str, account: WritingAccount) -> str | None:
    """Attach the read-own-secret policy; a failure is reported, the rotation stands."""
    policy_arn = account.read_policy_arn()
    if policy_arn is None:
        return None
    try:
        account.iam.ensure_policy_attached(user_name, policy_arn)
    except AwsError as exc:
        return f"the new key is stored, but granting the user read access failed: {exc}"
    return None


def _quietly(step: Callable[[], None]) -> None:
    try:
        step()
    except AwsError as exc:
        log.warning("housekeeping step failed (harmless, retried next run): %s", exc)

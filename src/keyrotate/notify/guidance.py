"""What an owner must do, and by when, for each action of a mail: plain words from the results.

Pure: no I/O, no Jinja. The dates come from the engine itself (:func:`keyrotate.domain.forecast
.forecast`, replayed from the run's start on what the engine judged), never from arithmetic
of its own, so a mail and ``keyrotate plan`` always agree.

Everything here is driven by tables with a fallback, so that an action kind, outcome or
reason added to the domain renders in words without a special case (its value is shown).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from keyrotate.domain.forecast import Forecast, forecast, judged_inputs
from keyrotate.domain.models import Action, ActionKind, Reason
from keyrotate.domain.policy import RotationPolicy
from keyrotate.domain.results import ActionResult, Outcome, UserResult, get_secret_command
from keyrotate.domain.secret_names import is_secret_name

# What each outcome is called in a mail; any other outcome shows its own value.
OUTCOME_LABELS: Mapping[str, str] = {
    Outcome.PLANNED.value: "would be done (audit mode)",
    Outcome.DONE.value: "done",
    Outcome.FAILED.value: "FAILED",
    Outcome.PARTIAL.value: "done in part: a later step FAILED",
    Outcome.NOTICE.value: "notice",
    Outcome.SKIPPED.value: "not attempted: an earlier step for this user failed",
    Outcome.DEFERRED.value: "deferred to the next run",
}

# (infinitive, past participle) of each kind in people's words; others use the kind's name.
_VERBS: Mapping[ActionKind, tuple[str, str]] = {
    ActionKind.ROTATE: ("replace", "replaced by a new key"),
    ActionKind.DEACTIVATE: ("deactivate", "deactivated"),
    ActionKind.DELETE: ("delete", "deleted"),
}
# The outcomes after which nothing changed, so the forecast's next steps do not hold yet.
_NOT_DONE = frozenset({Outcome.FAILED, Outcome.SKIPPED, Outcome.DEFERRED})
_SHOWN_STEPS = 3


def verbs(kind: ActionKind | None) -> tuple[str, str]:
    if kind is None:
        return ("act on", "acted on")
    return _VERBS.get(kind, (kind.value.lower(), f"{kind.value.lower()} done"))


def day(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d}" if moment else "-"


def when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "-"


@dataclass(frozen=True, slots=True)
class Guide:
    """What the mails need to know beyond the results themselves.

    ``policy``: to replay the engine for the next dates (None: no dates are forecast).
    ``secret_name_format``/``secrets_region``: to name a user's secret when the run did not
    store one (a HOLD, a WARN). ``contact``: whom owners ask (the admin address).
    """

    policy: RotationPolicy | None = None
    secret_name_format: str = ""
    secrets_region: str = ""
    contact: str = ""


@dataclass(frozen=True, slots=True)
class Step:
    """A date that matters for a key: on ``when`` (or the first run after), ``kind``."""

    when: datetime
    kind: str
    words: str  # "deactivated", "deleted", "replaced by a new key"

    def __str__(self) -> str:
        return f"{self.words} on {day(self.when)}"


@dataclass(frozen=True, slots=True)
class SecretGuide:
    """Where a user's key lives and the two ways to fetch it."""

    name: str
    region: str
    get_command: str
    helper_command: str


def secret_guide(user: UserResult, account_id: str, guide: Guide) -> SecretGuide | None:
    stored = next((r.secret for r in user.results if r.secret is not None), None)
    secret_id: str | None = None
    if stored is not None:
        # Commands name it by ARN: a secret in the central account is found by no name from
        # the member account.
        name, region, secret_id = stored.name, stored.region, stored.arn
    elif guide.secret_name_format:
        name = guide.secret_name_format.format(account_id=account_id, user_name=user.user_name)
        region = guide.secrets_region
    else:
        return None
    if not is_secret_name(name):  # no secret can have it: the user is BLOCKED for that
        return None
    where = f" --region {shlex.quote(region)}" if region else ""
    named = shlex.quote(secret_id or name)
    return SecretGuide(
        name=name,
        region=region,
        get_command=get_secret_command(secret_id or name, region),
        helper_command=f"keyrotate credentials --secret {named}{where}",
    )


def restore_command(account_id: str, user_name: str, key_id: str) -> str:
    """``keyrotate restore`` as an operator runs it: it only audits without --enforce."""
    return f"keyrotate restore {shlex.quote(f'{account_id}:{user_name}')} {key_id} --enforce"


def user_forecast(user: UserResult, guide: Guide, start: datetime) -> Sequence[Forecast]:
    """The engine's next actions for ``user`` from ``start``, as far as any item needs.

    The horizon covers a warning, a rotation, the install and the recovery windows: the
    longest chain one mail speaks of (WARN, ROTATE, DEACTIVATE, DELETE).
    """
    policy = guide.policy
    if policy is None:
        return ()
    horizon = policy.warn_before + policy.install_window + policy.recovery_window
    return forecast(judged_inputs(user), policy, start=start, until=start + horizon + timedelta(1))


def next_steps(
    result: ActionResult, entries: Sequence[Forecast], start: datetime
) -> tuple[Step, ...]:
    """The changes that follow for the action's key, this action itself left out."""
    action = result.action
    if action.key_id is None or result.outcome in _NOT_DONE:
        return ()
    steps = [
        Step(e.when, e.kind.value, verbs(e.kind)[1])
        for e in entries
        if e.key_id == action.key_id
        and e.kind.changes_keys
        and not (e.kind is action.kind and e.when == start)
    ]
    return tuple(steps[:_SHOWN_STEPS])


@dataclass(frozen=True, slots=True)
class Words:
    """An item in plain words: what (would have) happened, why, what to do, how to undo."""

    headline: str
    summary: str
    why: str | None
    todo: str | None
    undo_command: str | None


def _first(steps: Sequence[Step], kind: ActionKind) -> Step | None:
    return next((s for s in steps if s.kind == kind.value), None)


def _by(step: Step | None, fallback: str) -> str:
    return f"before {day(step.when)}" if step else fallback


def _on(step: Step | None, fallback: str) -> str:
    return f"on {day(step.when)}" if step else fallback


def words(
    result: ActionResult,
    steps: Sequence[Step],
    *,
    account_id: str,
    secret: SecretGuide | None,
    policy: RotationPolicy | None,
    case: str | None,
) -> Words:
    action = result.action
    outcome = result.outcome
    key = action.key_id or action.user_name
    where = f"secret {secret.name}" if secret else "its secret in Secrets Manager"
    undo = (
        restore_command(account_id, action.user_name, action.key_id)
        if action.key_id and action.kind is ActionKind.DEACTIVATE and outcome not in _NOT_DONE
        else None
    )
    why = None if action.reason is Reason.UPCOMING else action.reason.sentence
    if action.kind.changes_keys:
        summary = _change_summary(result, key)
    else:
        summary = _notice_summary(action, key, case)
    return Words(
        headline=_headline(action, case),
        summary=summary,
        why=why,
        todo=_todo(result, steps, key, where, policy),
        undo_command=undo,
    )


def _headline(action: Action, case: str | None) -> str:
    kind = action.kind
    if kind is ActionKind.WARN:
        upcoming = action.upcoming.value if action.upcoming else "change"
        return f"WARNING: {upcoming} on {day(action.due)}"
    if kind is ActionKind.HOLD:
        overdue = " (overdue)" if action.overdue else ""
        return f"HOLD: previous key kept{overdue}" + (f": {case}" if case else "")
    if kind is ActionKind.BLOCKED:
        return "rotation BLOCKED"
    return kind.value


def _change_summary(result: ActionResult, key: str) -> str:
    action, outcome = result.action, result.outcome
    verb, past = verbs(action.kind)
    if outcome is Outcome.PLANNED:
        return (
            f"In enforce mode keyrotate would {verb} key {key} now (due since "
            f"{when(action.due)}). Nothing was changed."
        )
    if outcome is Outcome.DONE:
        new = f" {result.new_key_id}" if result.new_key_id else ""
        if action.kind is ActionKind.ROTATE:
            return f"Key {key} was replaced by the new key{new} in this run."
        return f"Key {key} was {past} in this run."
    if outcome is Outcome.PARTIAL:
        return (
            f"Key {key} was {past} in this run, but a later step failed: "
            f"{result.error or 'see the report'}."
        )
    if outcome is Outcome.FAILED:
        return f"keyrotate tried to {verb} key {key} and failed; nothing was changed."
    if outcome is Outcome.SKIPPED:
        return f"keyrotate did not try to {verb} key {key}: an earlier step for the user failed."
    if outcome is Outcome.DEFERRED:
        return f"keyrotate did not {verb} key {key} in this run; the next run will."
    return f"{action.kind.value} of key {key}: {outcome.value}."


def _notice_summary(action: Action, key: str, case: str | None) -> str:
    kind = action.kind
    if kind is ActionKind.WARN:
        return f"Key {key} is due to be {verbs(action.upcoming)[1]} on {when(action.due)}."
    if kind is ActionKind.HOLD:
        state = f" ({case})" if case else ""
        return (
            f"keyrotate keeps the previous key {key} active although it was due to be "
            f"deactivated on {when(action.due)}: it is still in use{state}."
        )
    if kind is ActionKind.BLOCKED:
        possible = f" It becomes possible on {when(action.due)}." if action.due else ""
        return f"keyrotate cannot rotate key {key}.{possible}"
    if kind is ActionKind.EXEMPT:
        return "keyrotate leaves this user alone."
    return f"{kind.value} for key {key}" + (f", due {when(action.due)}." if action.due else ".")


def _todo(
    result: ActionResult,
    steps: Sequence[Step],
    key: str,
    where: str,
    policy: RotationPolicy | None,
) -> str | None:
    action, outcome = result.action, result.outcome
    kind = action.kind
    if outcome in _NOT_DONE:
        return f"Nothing yet: key {key} stays as it is; keyrotate tries again at the next run."
    deactivation = _first(steps, ActionKind.DEACTIVATE)
    deletion = _first(steps, ActionKind.DELETE)
    if kind is ActionKind.ROTATE:
        before = _by(deactivation, "before the old key is deactivated")
        if outcome is Outcome.PLANNED:
            return (
                f"Nothing yet. When enforce mode runs, a new key is stored in {where}: switch "
                f"every application to it {before}, when key {key} would be deactivated."
            )
        return (
            f"Switch every application that uses this user to the new key in {where} "
            f"{before}: key {key} is deactivated then, and deleted "
            f"{_on(deletion, 'after the recovery window')}."
        )
    if kind is ActionKind.DEACTIVATE:
        if outcome is Outcome.PLANNED:
            return f"Make sure no application still uses key {key}; the current key is in {where}."
        return (
            f"If an application stopped working, switch it to the current key in {where}. "
            f"Until key {key} is deleted ({_on(deletion, 'after the recovery window')}), the "
            "undo command below (run by whoever operates keyrotate) switches it back on."
        )
    if kind is ActionKind.DELETE:
        if outcome is Outcome.PLANNED:
            return f"Nothing to do, unless key {key} is still needed: say so before enforce runs."
        return f"Nothing to do: key {key} is removed for good."
    if kind is ActionKind.WARN:
        upcoming = action.upcoming
        if upcoming is ActionKind.ROTATE:
            return (
                f"Nothing yet. On {day(action.due)} a new key is stored in {where}; switch "
                f"every application to it {_by(deactivation, 'before the old key is deactivated')}."
            )
        if upcoming is ActionKind.DEACTIVATE:
            return (
                f"Make sure every application uses the current key in {where} before "
                f"{day(action.due)}."
            )
        if upcoming is ActionKind.DELETE:
            return (
                f"Nothing to do, unless key {key} is still needed: say so before {day(action.due)}."
            )
        return None
    if kind is ActionKind.HOLD:
        quiet = f"{policy.in_use_days} days" if policy else "a while"
        return (
            f"Switch every application that uses this user to the new key in {where} now. "
            f"keyrotate deactivates key {key} once it has not been used for {quiet}."
        )
    if kind is ActionKind.BLOCKED:
        return "Fix what the reason (why) says; until then this key is not rotated."
    return None

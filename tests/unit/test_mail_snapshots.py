"""Every mail template for every action kind, outcome and reason, audit and enforce, at a
fixed clock, compared with checked-in snapshots (tests/snapshot.py says how to regenerate),
and the owner's questions each mail must answer: what, by when, where the key is, how to
undo, whom to ask."""

from __future__ import annotations

from dataclasses import replace

import pytest

from keyrotate.domain.models import ActionKind, Reason
from keyrotate.domain.results import AccountResult, Outcome, RunReport, UserResult
from keyrotate.notify import Message, NoneTransport, Notifier, NotifyOptions, Templates
from tests.snapshot import assert_snapshot
from tests.unit.notify_support import assert_no_secret, parts
from tests.unit.reader_scenarios import (
    ACCOUNT,
    NOW,
    POLICY,
    REGION,
    SECRET_FORMAT,
    key_id,
    scenario_report,
    scenario_user,
)

OPTIONS = NotifyOptions(
    admin_email_address="cloud-team@example.com",
    email_footer="Cloud Platform Team",
    secret_name_format=SECRET_FORMAT,
    secrets_region=REGION,
)
MODES = ("audit", "enforce")


def notifier() -> Notifier:
    return Notifier(OPTIONS, Templates(), NoneTransport(), policy=POLICY)


def owner_mail(run: RunReport) -> Message | None:
    messages, _ = notifier().owner_messages(run.accounts, mode=run.mode, started=run.started)
    return messages[0] if messages else None


def one_user(mode: str, user: UserResult) -> RunReport:
    return RunReport(mode, NOW, NOW, (AccountResult(ACCOUNT, (user,)),))


def rendered(message: Message) -> tuple[str, str]:
    text, html = parts(message.email)
    return f"Subject: {message.email['Subject']}\n\n{text}", html


@pytest.mark.parametrize("kind", list(ActionKind), ids=str)
@pytest.mark.parametrize("mode", MODES)
def test_owner_mail_of_each_action_kind_matches_its_snapshot(mode: str, kind: ActionKind) -> None:
    message = owner_mail(one_user(mode, scenario_user(kind, mode)))
    if message is None:  # EXEMPT: an exemption is news to no one
        assert kind is ActionKind.EXEMPT
        text, html = "(no owner mail: nothing to tell)\n", ""
    else:
        text, html = rendered(message)
    assert_no_secret(text + html)
    assert_snapshot(f"mail/{mode}-{kind.value.lower()}.txt", text)
    if html:
        assert_snapshot(f"mail/{mode}-{kind.value.lower()}.html", html)


@pytest.mark.parametrize("mode", MODES)
def test_admin_digest_of_a_run_with_every_kind_matches_its_snapshot(mode: str) -> None:
    run = scenario_report(mode)
    message = notifier().digest_message(run, POLICY)
    assert message is not None
    text, html = rendered(message)
    assert_no_secret(text + html)
    assert_snapshot(f"mail/digest-{mode}.txt", text)
    assert_snapshot(f"mail/digest-{mode}.html", html)


@pytest.mark.parametrize("outcome", list(Outcome), ids=str)
def test_owner_mail_of_each_outcome_matches_its_snapshot(outcome: Outcome) -> None:
    user = scenario_user(ActionKind.DEACTIVATE, "enforce")
    results = tuple(replace(r, outcome=outcome) for r in user.results)
    message = owner_mail(one_user("enforce", replace(user, results=results)))
    text = "(no owner mail: nothing to tell)\n" if message is None else rendered(message)[0]
    assert (message is None) == (outcome is Outcome.NONE)
    assert_snapshot(f"mail/outcome-{outcome.value}.txt", text)


# The kind each reason goes with; a reason added later is shown on a WARN-less BLOCKED.
_KIND_OF = {
    Reason.ROTATION_DUE: ActionKind.ROTATE,
    Reason.FORCED: ActionKind.ROTATE,
    Reason.UNUSED: ActionKind.DEACTIVATE,
    Reason.REPLACED: ActionKind.DEACTIVATE,
    Reason.RECOVERY_ELAPSED: ActionKind.DELETE,
    Reason.ORPHAN: ActionKind.DELETE,
    Reason.UPCOMING: ActionKind.WARN,
    Reason.CONSUMER_NOT_SWITCHED: ActionKind.HOLD,
    Reason.STILL_IN_USE: ActionKind.HOLD,
    Reason.EXEMPT_GROUP: ActionKind.BLOCKED,  # EXEMPT itself is never mailed
    Reason.EXEMPT_TAG: ActionKind.BLOCKED,
    Reason.PROTECTED: ActionKind.BLOCKED,
}


@pytest.mark.parametrize("reason", list(Reason), ids=lambda r: r.name)
def test_owner_mail_of_each_reason_matches_its_snapshot(reason: Reason) -> None:
    kind = _KIND_OF.get(reason, ActionKind.BLOCKED)
    user = scenario_user(kind, "audit")
    first = user.results[0]
    action = replace(first.action, reason=reason)
    user = replace(user, results=(replace(first, action=action),), inputs=None)
    message = owner_mail(one_user("audit", user))
    assert message is not None
    text = rendered(message)[0]
    assert reason.sentence in text or reason is Reason.UPCOMING
    assert_snapshot(f"mail/reason-{reason.name.lower()}.txt", text)


def test_enforce_rotation_mail_gives_deactivation_and_deletion_dates_not_the_past_due_date() -> (
    None
):
    message = owner_mail(one_user("enforce", scenario_user(ActionKind.ROTATE, "enforce")))
    assert message is not None
    text, html = parts(message.email)
    old = key_id(1)
    # Rotated at NOW (2026-03-01): deactivation 10 days on, deletion 10 days after that.
    assert "next: deactivated on 2026-03-11; deleted on 2026-03-21" in text
    secret = f"keyrotate/{ACCOUNT.account_id}/svc-rotate"
    assert f"to the new key in secret {secret} before 2026-03-11" in text
    assert f"Key {old} was replaced by the new key {key_id(901)} in this run." in text
    assert "due since" not in text  # the past due date is no deadline
    # Both commands name the secret by ARN (found from any account, the central one too),
    # and once: no second fetch line beside the new key.
    arn = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:keyrotate/111111111111/svc-rotate"
    assert f"keyrotate credentials --secret {arn}" in text
    assert text.count("get-secret-value") == 1
    assert "Questions? Write to cloud-team@example.com." in text
    assert "deleted on 2026-03-21" in html


def test_audit_says_what_would_happen_and_enforce_what_happened() -> None:
    audit = owner_mail(one_user("audit", scenario_user(ActionKind.DEACTIVATE, "audit")))
    enforce = owner_mail(one_user("enforce", scenario_user(ActionKind.DEACTIVATE, "enforce")))
    assert audit is not None
    assert enforce is not None
    audit_text, enforce_text = parts(audit.email)[0], parts(enforce.email)[0]
    assert f"In enforce mode keyrotate would deactivate key {key_id(2)} now" in audit_text
    assert "Nothing was changed." in audit_text
    assert f"Key {key_id(2)} was deactivated in this run." in enforce_text
    assert "would" not in enforce_text


def test_warning_names_the_action_and_its_date() -> None:
    message = owner_mail(one_user("audit", scenario_user(ActionKind.WARN, "audit")))
    assert message is not None
    text, html = parts(message.email)
    # 86 days old: rotation falls due at 90 days, on 2026-03-05.
    assert "WARNING: ROTATE on 2026-03-05" in text
    assert f"Key {key_id(6)} is due to be replaced by a new key on 2026-03-05 06:00 UTC." in text
    assert "falls due soon" not in text + html


def test_hold_mail_names_the_secret_and_the_commands_to_fetch_the_new_key() -> None:
    message = owner_mail(one_user("enforce", scenario_user(ActionKind.HOLD, "enforce")))
    assert message is not None
    secret = "keyrotate/111111111111/svc-hold"
    for part in parts(message.email):
        assert secret in part
        assert (
            f"aws secretsmanager get-secret-value --secret-id {secret} --region {REGION} "
            "--query SecretString --output text"
        ) in part
        assert f"keyrotate credentials --secret {secret} --region {REGION}" in part


def test_deactivate_mail_says_how_to_undo_it_and_until_when() -> None:
    message = owner_mail(one_user("enforce", scenario_user(ActionKind.DEACTIVATE, "enforce")))
    assert message is not None
    text, html = parts(message.email)
    command = f"keyrotate restore 111111111111:svc-deactivate {key_id(2)} --enforce"
    assert f"undo: {command}" in text
    assert command in html
    assert "deleted (on 2026-03-11)" in text


def test_a_result_read_back_without_engine_inputs_gets_the_same_dates() -> None:
    """A spilled run or the Lambda digest has no engine inputs: the dates must not change."""
    user = scenario_user(ActionKind.ROTATE, "enforce")
    with_inputs = owner_mail(one_user("enforce", user))
    without = owner_mail(one_user("enforce", replace(user, inputs=None)))
    assert with_inputs is not None
    assert without is not None
    assert parts(with_inputs.email)[0] == parts(without.email)[0]

"""Rendering: every template with every action kind and outcome, escaping, overrides, secrets."""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

import pytest

from keyrotate.domain.errors import InputError
from keyrotate.domain.models import ActionKind, Reason
from keyrotate.domain.policy import RotationPolicy
from keyrotate.domain.results import AccountResult, Outcome, RunReport
from keyrotate.notify import Message, NoneTransport, Notifier, NotifyOptions, Templates
from keyrotate.notify.render import Override
from tests.unit.notify_support import (
    FAKE_SECRET,
    HOSTILE,
    NOW,
    PROD,
    assert_no_secret,
    hostile_report,
    org_report,
    parts,
    report,
    result,
    user,
)

FOOTER = "Cloud Platform Team, Department of Keys"
OPTIONS = NotifyOptions(admin_email_address="admin@example.com", email_footer=FOOTER)


def notifier(templates: Templates | None = None, options: NotifyOptions = OPTIONS) -> Notifier:
    return Notifier(options, templates or Templates(), NoneTransport())


def all_messages(run: RunReport, n: Notifier | None = None) -> list[Message]:
    n = n or notifier()
    messages, invalid = n.owner_messages(run.accounts, mode=run.mode, started=run.started)
    admin = n.digest_message(run, RotationPolicy(), invalid)
    assert admin is not None
    return [*messages, admin]


@pytest.mark.parametrize(
    ("mode", "kind", "outcome"),
    list(itertools.product(("audit", "enforce"), ActionKind, Outcome)),
)
def test_every_template_renders_every_action_kind_and_outcome(
    mode: str, kind: ActionKind, outcome: Outcome
) -> None:
    run = report(mode, [AccountResult(PROD, (user("alice", [result(kind, outcome, "alice", 1)]),))])
    messages = all_messages(run)
    digest_text, digest_html = parts(messages[-1].email)
    newsworthy = outcome is not Outcome.NONE and kind is not ActionKind.EXEMPT
    assert len(messages) == (2 if newsworthy else 1)
    if outcome is not Outcome.NONE:
        assert f"{kind.value} {outcome.value}" in digest_text
        assert f"<td>{kind.value}</td><td>{outcome.value}</td><td>1</td>" in digest_html
    for message in messages:
        assert message.email.get_content_type() == "multipart/alternative"
        assert message.email["Subject"]
    if newsworthy:
        text, html = parts(messages[0].email)
        for part in (text, html):
            assert "AKIA0000000000000001" in part
            assert "alice" in part
            assert FOOTER in part
        assert kind.value in text.upper()
        assert ("NOTHING WAS CHANGED" in text) == (mode == "audit")
        if outcome is Outcome.FAILED:
            assert "FAILED: AccessDenied: iam:X" in text
            assert 'class="failed"' in html


@pytest.mark.parametrize("mode", ["audit", "enforce"])
def test_owner_mail_shows_due_dates_and_new_key_location_with_fetch_command(mode: str) -> None:
    run = org_report(mode)
    owner_mail = all_messages(run)[0]
    assert owner_mail.recipient == PROD.email
    text, html = parts(owner_mail.email)
    assert "WARNING: DEACTIVATE on 2026-03-04" in text
    assert "2026-03-04 06:00 UTC" in text
    assert "HOLD: previous key kept (overdue): the consumer has not switched" in text
    assert "rotation BLOCKED" in text
    if mode == "enforce":
        arn = "arn:aws:secretsmanager:us-east-1:111111111111:secret:keyrotate/alice-AbCdEf"
        command = (
            f"aws secretsmanager get-secret-value --secret-id {arn} --region us-east-1 "
            "--query SecretString --output text"
        )
        for part in (text, html):
            assert "keyrotate/alice" in part
            assert arn in part
            assert command in part
            assert "eu-west-1" in part
        assert owner_mail.email["Subject"] == (
            "[keyrotate] 3 access key changes, 1 FAILED, 3 notices"
        )
    else:
        assert "get-secret-value" not in text
        assert owner_mail.email["Subject"] == (
            "[keyrotate] Audit: 3 access key changes would be made, 3 notices"
        )


@pytest.mark.parametrize(
    ("reason", "case"),
    [
        (Reason.CONSUMER_NOT_SWITCHED, "the consumer has not switched"),
        (Reason.STILL_IN_USE, "still in use alongside the new key"),
    ],
)
def test_owner_and_admin_mails_say_which_case_a_hold_is(reason: Reason, case: str) -> None:
    held = result(ActionKind.HOLD, Outcome.NOTICE, "carol", 4)
    held = replace(held, action=replace(held.action, reason=reason))
    run = report("enforce", [AccountResult(PROD, (user("carol", [held]),))])
    owner_mail, digest = all_messages(run)
    owner_text, owner_html = parts(owner_mail.email)
    assert f"HOLD: previous key kept: {case}" in owner_text
    assert f"HOLD: previous key kept: {case}" in owner_html
    for part in (owner_text, owner_html, *parts(digest.email)):
        assert reason.sentence in part


def test_hostile_names_tags_and_errors_are_escaped_in_html_and_never_run_as_templates() -> None:
    messages = all_messages(hostile_report())
    assert {m.role for m in messages} == {"account-owner", "admin"}
    for message in messages:
        text, html = parts(message.email)
        assert "<script>" not in html
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;{{ 7*7 }}&#34;&#39;" in html
        assert "49" not in html
        assert "49" not in text
        assert HOSTILE in text
        assert "\n" not in message.email["Subject"]
    digest_text, _ = parts(messages[-1].email)
    assert f"resource-owner {HOSTILE}" in digest_text


def test_no_secret_access_key_in_any_rendered_message_while_arns_and_commands_are() -> None:
    blobs: list[str] = []
    for mode in ("audit", "enforce"):
        for run in (org_report(mode), hostile_report(mode)):
            for message in all_messages(run):
                text, html = parts(message.email)
                blobs += [text, html, message.email.as_string()]
    for blob in blobs:
        assert_no_secret(blob)
    everything = "\n".join(blobs)
    assert (
        "arn:aws:secretsmanager:us-east-1:111111111111:secret:keyrotate/alice-AbCdEf" in everything
    )
    assert "aws secretsmanager get-secret-value --secret-id arn:aws:secretsmanager:" in everything
    assert FAKE_SECRET not in everything


def write(tmp_path: Path, name: str, source: str) -> str:
    path = tmp_path / name
    path.write_text(source, encoding="utf-8")
    return str(path)


def test_local_override_extending_the_shipped_template_changes_only_its_blocks(
    tmp_path: Path,
) -> None:
    location = write(
        tmp_path,
        "enforce.j2",
        '{% extends "enforce.j2" %}'
        "{% block footer %}<p>Ops &amp; {{ footer }}</p>{% endblock %}"
        "{% block subject %}Keys of {{ accounts[0].account_name }}{% endblock %}",
    )
    options = NotifyOptions(email_template_enforce=location, email_footer=FOOTER)
    n = notifier(Templates.load(options), options)
    run = report("enforce", [org_report("enforce").accounts[0]])
    messages, _ = n.owner_messages(run.accounts, mode="enforce", started=NOW)
    text, html = parts(messages[0].email)
    assert messages[0].email["Subject"] == "Keys of prod"
    assert f"<p>Ops &amp; {FOOTER}</p>" in html
    assert "Sent by keyrotate" not in html
    assert "keyrotate/alice" in html
    assert "Sent by keyrotate" in text


def test_plain_html_override_becomes_the_html_part_with_escaped_values(tmp_path: Path) -> None:
    location = write(
        tmp_path,
        "audit.html",
        "<html><body><h1>Dept of Keys</h1>"
        "{% for a in accounts %}<p>{{ a.account_name }}</p>{% endfor %}</body></html>",
    )
    options = NotifyOptions(email_template_audit=location)
    templates = Templates.load(options)
    run = hostile_report("audit")
    messages, _ = notifier(templates, options).owner_messages(
        run.accounts, mode="audit", started=NOW
    )
    text, html = parts(messages[0].email)
    assert html.startswith("<html><body><h1>Dept of Keys</h1><p>&lt;script&gt;")
    assert "NOTHING WAS CHANGED" in text
    assert messages[0].email["Subject"].startswith("[keyrotate] Audit:")


@pytest.mark.parametrize(
    ("setting", "location", "fix"),
    [
        ("email_template_audit", "/nonexistent/audit.j2", "readable UTF-8 template"),
        ("email_template_enforce", "https://example.com/t.j2", "s3://bucket/key"),
        ("email_template_digest", "s3://only-a-bucket", "s3://bucket/key"),
    ],
)
def test_unreadable_override_location_is_an_input_error_naming_the_setting(
    setting: str, location: str, fix: str
) -> None:
    with pytest.raises(InputError) as raised:
        Templates.load(NotifyOptions(**{setting: location}))  # type: ignore[arg-type]
    assert raised.value.field == setting
    assert raised.value.value == location
    assert fix in raised.value.fix


def test_override_with_bad_syntax_or_unknown_variable_names_the_setting(tmp_path: Path) -> None:
    broken = write(tmp_path, "broken.j2", "<p>{% for x in %}</p>")
    with pytest.raises(InputError, match="email_template_digest") as raised:
        Templates.load(NotifyOptions(email_template_digest=broken))
    assert "does not compile" in raised.value.fix

    unknown = write(tmp_path, "unknown.j2", "<p>{{ no_such_variable }}</p>")
    options = NotifyOptions(admin_email_address="a@example.com", email_template_digest=unknown)
    n = notifier(Templates.load(options), options)
    with pytest.raises(InputError, match="email_template_digest") as raised:
        n.digest_message(org_report("audit"), RotationPolicy())
    assert "fails to render" in raised.value.fix


def test_sandbox_refuses_attribute_tricks_in_overrides() -> None:
    sneaky = "{{ accounts.__class__.__mro__ }}"
    templates = Templates(
        {"audit": Override("email_template_audit", "inline", sneaky, extends=False)}
    )
    run = org_report("audit")
    with pytest.raises(InputError, match="email_template_audit"):
        notifier(templates).owner_messages(run.accounts, mode="audit", started=NOW)


def test_the_digest_lists_every_accounts_notes_and_a_run_without_notes_has_no_section() -> None:
    run = org_report("enforce")
    quiet_text, quiet_html = parts(all_messages(run)[-1].email)
    assert "NOTES" not in quiet_text
    assert "<h2>Notes</h2>" not in quiet_html
    note = "the exemption group IAMKeyRotationExemptionGroup does not exist in this account"
    noted = replace(
        run, accounts=(replace(run.accounts[0], notes=(note, HOSTILE)), *run.accounts[1:])
    )
    text, html = parts(all_messages(noted)[-1].email)
    assert f"NOTES\n  - {PROD.name} ({PROD.account_id}): {note}\n" in text
    assert f"<li>{PROD.name} ({PROD.account_id}): {note}</li>" in html
    assert HOSTILE not in html  # escaped like every other value
    assert "\n\n\n" not in text

"""Delivery: the file transport, bounded retries, failures recorded and never raised."""

from __future__ import annotations

import email
from email import policy as email_policy
from pathlib import Path

from keyrotate.domain.errors import AwsError
from keyrotate.domain.policy import RotationPolicy
from keyrotate.notify import (
    FileTransport,
    Message,
    NoneTransport,
    Notifier,
    NotifyOptions,
    Templates,
    send_all,
)
from tests.unit.notify_support import assert_no_secret, org_report, parts


class FlakyTransport:
    """Fails the first ``failures`` sends to each address in ``failing``, then delivers."""

    def __init__(self, failing: set[str], failures: int = 10**6) -> None:
        self.failing = failing
        self.failures = failures
        self.attempts: dict[str, int] = {}
        self.delivered: list[Message] = []

    def send(self, message: Message) -> None:
        count = self.attempts[message.recipient] = self.attempts.get(message.recipient, 0) + 1
        if message.recipient in self.failing and count <= self.failures:
            raise AwsError("ses:SendRawEmail", "Throttling", "slow down")
        self.delivered.append(message)


def owner_messages() -> list[Message]:
    run = org_report("enforce")
    n = Notifier(NotifyOptions(), Templates(), NoneTransport())
    messages, _ = n.owner_messages(run.accounts, mode="enforce", started=run.started)
    return messages


def test_send_all_retries_a_failed_send_with_doubling_backoff_then_succeeds() -> None:
    transport = FlakyTransport({"team-b@example.com"}, failures=2)
    sleeps: list[float] = []
    results = send_all(owner_messages(), transport, 3, backoff_seconds=0.1, sleep=sleeps.append)
    assert all(r.sent for r in results)
    assert transport.attempts["team-b@example.com"] == 3
    assert sleeps == [0.1, 0.2]


def test_send_all_records_a_persistent_failure_and_keeps_sending_the_rest() -> None:
    transport = FlakyTransport({"team-b@example.com"})
    sleeps: list[float] = []
    results = send_all(owner_messages(), transport, 3, sleep=sleeps.append)
    failed = [r for r in results if not r.sent]
    assert [(r.recipient, r.role) for r in failed] == [("team-b@example.com", "resource-owner")]
    assert failed[0].error == "AwsError: ses:SendRawEmail failed: Throttling: slow down"
    assert transport.attempts["team-b@example.com"] == 3
    assert len(transport.delivered) == len(results) - 1
    assert len(sleeps) == 2


def test_file_transport_writes_one_readable_eml_per_message_named_by_role_and_address(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "mail"
    results = send_all(owner_messages(), FileTransport(folder))
    assert all(r.sent for r in results)
    names = sorted(p.name for p in folder.iterdir())
    assert names == [
        "account-owner-dev-owner@example.com-222222222222.eml",
        "account-owner-prod-owner@example.com-111111111111.eml",
        "resource-owner-team-a@example.com.eml",
        "resource-owner-team-b@example.com-111111111111.eml",
    ]
    raw = (folder / names[1]).read_bytes()
    parsed = email.message_from_bytes(raw, policy=email_policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    assert parsed["To"] == "prod-owner@example.com"
    text, html = parts(parsed)  # type: ignore[arg-type]
    assert "keyrotate/alice" in text
    assert "<html" in html
    assert_no_secret(raw.decode())


def test_file_transport_never_overwrites_an_earlier_mail(tmp_path: Path) -> None:
    transport = FileTransport(tmp_path)
    message = owner_messages()[0]
    send_all([message, message], transport)
    assert len(list(tmp_path.glob("*.eml"))) == 2


def test_notify_run_sends_owners_first_then_a_digest_listing_their_failures(
    tmp_path: Path,
) -> None:
    options = NotifyOptions(
        admin_email_address="admin@example.com", email_transport="file", mail_dir=str(tmp_path)
    )
    transport = FlakyTransport({"team-b@example.com"})
    notifier = Notifier(options, Templates(), transport, backoff_seconds=0)
    results = notifier.notify_run(org_report("enforce"), RotationPolicy())
    assert [r.role for r in results][-1] == "admin"
    assert results[-1].sent
    digest = transport.delivered[-1]
    assert digest.recipient == "admin@example.com"
    text, html = parts(digest.email)
    assert "resource-owner team-b@example.com (account 111111111111): AwsError" in text
    assert "team-b@example.com" in html


def test_notify_run_with_file_options_writes_every_mail_to_mail_dir(tmp_path: Path) -> None:
    options = NotifyOptions(
        admin_email_address="admin@example.com", email_transport="file", mail_dir=str(tmp_path)
    )
    results = Notifier.from_options(options).notify_run(org_report("enforce"), RotationPolicy())
    assert len(results) == 5
    assert all(r.sent for r in results)
    assert (tmp_path / "admin-admin@example.com.eml").exists()


def test_transport_none_sends_nothing_and_reports_nothing() -> None:
    options = NotifyOptions(admin_email_address="admin@example.com", email_transport="none")
    assert Notifier.from_options(options).notify_run(org_report("enforce"), RotationPolicy()) == ()

"""SES delivery and S3 template overrides against the moto server over HTTP."""

from __future__ import annotations

import email
import json
import urllib.request
from dataclasses import replace
from email import policy as email_policy
from email.message import EmailMessage

import boto3
import pytest

from keyrotate.aws import s3 as s3_adapter
from keyrotate.aws import ses as ses_adapter
from keyrotate.domain.errors import InputError
from keyrotate.domain.models import ActionKind
from keyrotate.domain.policy import RotationPolicy
from keyrotate.domain.results import AccountResult, Outcome, SecretLocation
from keyrotate.notify import NoneTransport, Notifier, NotifyOptions, Templates
from tests.unit.notify_support import (
    FAKE_SECRET,
    PROD,
    assert_no_secret,
    org_report,
    parts,
    report,
    result,
    user,
)

SENDER = "keyrotate@example.com"
SES_OPTIONS = NotifyOptions(
    admin_email_address="admin@example.com",
    email_transport="ses",
    email_sender=SENDER,
    ses_region="us-east-1",
)


def sent_mail(endpoint: str) -> list[tuple[str, list[str], EmailMessage]]:
    """What moto's SES accepted, read back through the server's own data dump."""
    with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=30) as response:  # noqa: S310
        data = json.load(response)
    mails = []
    for raw in data["ses"]["RawMessage"]:
        parsed = email.message_from_string(raw["raw_data"], policy=email_policy.default)
        # moto appends the To header's addresses to Destinations: count each address once.
        mails.append((raw["source"], sorted(set(raw["destinations"])), parsed))
    return mails  # type: ignore[return-value]


def test_adapters_declare_only_the_permissions_they_call() -> None:
    assert ses_adapter.PERMISSIONS == ("ses:SendRawEmail",)
    assert s3_adapter.PERMISSIONS == ("s3:GetObject",)


def test_ses_sends_one_raw_mail_per_recipient_with_secret_location_and_no_secret(
    moto_endpoint: str,
) -> None:
    boto3.client("ses").verify_email_identity(EmailAddress=SENDER)
    secrets = boto3.client("secretsmanager")
    stored = secrets.create_secret(
        Name="keyrotate/alice",
        SecretString=json.dumps(
            {"AccessKeyId": "AKIA0000000000000901", "SecretAccessKey": FAKE_SECRET}
        ),
    )
    location = SecretLocation("keyrotate/alice", stored["ARN"], "us-east-1", PROD.account_id)
    rotated = replace(result(ActionKind.ROTATE, Outcome.DONE, "alice", 1), secret=location)
    run = report(
        "enforce",
        [AccountResult(PROD, (user("alice", [rotated], owner="team-a@example.com"),))],
    )

    results = Notifier.from_options(SES_OPTIONS).notify_run(run, RotationPolicy())

    assert [(r.recipient, r.role, r.sent) for r in results] == [
        ("prod-owner@example.com", "account-owner", True),
        ("team-a@example.com", "resource-owner", True),
        ("admin@example.com", "admin", True),
    ]
    mails = sent_mail(moto_endpoint)
    assert [(source, to) for source, to, _ in mails] == [
        (SENDER, ["prod-owner@example.com"]),
        (SENDER, ["team-a@example.com"]),
        (SENDER, ["admin@example.com"]),
    ]
    owner = mails[0][2]
    assert owner["Subject"] == "[keyrotate] 1 access key change, 0 notices"
    assert owner.get_content_type() == "multipart/alternative"
    text, html = parts(owner)
    for part in (text, html):
        assert stored["ARN"] in part
        assert location.fetch_command() in part
    assert mails[2][2]["Subject"].startswith("[keyrotate] enforce digest: 1 account")
    for _, _, mail in mails:
        assert_no_secret(mail.as_string())
        for part in parts(mail):
            assert_no_secret(part)


def test_unverified_ses_sender_is_retried_recorded_and_listed_in_the_digest(
    moto_endpoint: str,
) -> None:
    notifier = Notifier.from_options(SES_OPTIONS)
    notifier.backoff_seconds = 0
    results = notifier.notify_run(org_report("enforce"), RotationPolicy())
    assert len(results) == 5
    assert all(not r.sent for r in results)
    assert all("MessageRejected" in (r.error or "") for r in results)
    assert sent_mail(moto_endpoint) == []


def test_digest_reaches_admin_with_owner_failures_when_only_owner_sends_fail(
    moto_endpoint: str,
) -> None:
    ses = boto3.client("ses")
    ses.verify_email_identity(EmailAddress=SENDER)
    run = org_report("enforce")
    owners = Notifier.from_options(replace(SES_OPTIONS, email_sender="nobody@example.com"))
    owners.backoff_seconds = 0
    failed = owners.notify_account(run.accounts[0], mode="enforce", started=run.started)
    assert failed
    assert not any(r.sent for r in failed)

    admin = Notifier.from_options(SES_OPTIONS).notify_admin(run, RotationPolicy(), failed)

    assert [(r.recipient, r.sent) for r in admin] == [("admin@example.com", True)]
    ((_, to, digest),) = sent_mail(moto_endpoint)
    assert to == ["admin@example.com"]
    text, _ = parts(digest)
    assert "account-owner prod-owner@example.com (account 111111111111): AwsError" in text
    assert "MessageRejected" in text


def test_s3_override_is_fetched_and_used(moto_endpoint: str) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="templates")
    s3.put_object(
        Bucket="templates",
        Key="mail/enforce.j2",
        Body=b'{% extends "enforce.j2" %}{% block footer %}<p>Dept of Keys (S3)</p>{% endblock %}',
    )
    options = NotifyOptions(email_template_enforce="s3://templates/mail/enforce.j2")
    templates = Templates.load(options)
    run = org_report("enforce")
    notifier = Notifier(options, templates, NoneTransport())
    messages, _ = notifier.owner_messages(run.accounts, mode="enforce", started=run.started)
    _, html = parts(messages[0].email)
    assert "<p>Dept of Keys (S3)</p>" in html
    assert "keyrotate/alice" in html


def test_a_template_is_read_only_from_the_deployment_accounts_bucket(moto_endpoint: str) -> None:
    # moto does not check ExpectedBucketOwner; S3 answers 403 when another account owns the
    # bucket. What keyrotate controls is that every read asks: the header is on the wire.
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="templates")
    s3.put_object(Bucket="templates", Key="audit.j2", Body=b'{% extends "audit.j2" %}')
    asked: list[object] = []
    s3.meta.events.register(
        "before-send.s3.GetObject",
        lambda request, **_: asked.append(request.headers.get("x-amz-expected-bucket-owner")),
    )
    options = NotifyOptions(
        email_template_audit="s3://templates/audit.j2", template_bucket_owner="123456789012"
    )
    Templates.load(options, s3_client=s3)
    s3_adapter.get_object_text("templates", "audit.j2", client=s3)  # a CLI user's: any owner
    assert asked == [b"123456789012", None]


def test_missing_s3_template_is_an_input_error_naming_the_setting(moto_endpoint: str) -> None:
    boto3.client("s3").create_bucket(Bucket="templates")
    with pytest.raises(InputError) as raised:
        Templates.load(NotifyOptions(email_template_audit="s3://templates/nope.j2"))
    assert raised.value.field == "email_template_audit"
    assert raised.value.value == "s3://templates/nope.j2"
    assert "NoSuchKey" in raised.value.fix

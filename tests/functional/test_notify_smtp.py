"""SMTP delivery to a real aiosmtpd server on loopback: plain, STARTTLS and implicit TLS with
a self-signed certificate made here, credentials read from moto SSM SecureString parameters.
"""

from __future__ import annotations

import datetime as dt
import email
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy as email_policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import boto3
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from keyrotate.domain.policy import RotationPolicy
from keyrotate.notify import Notifier, NotifyOptions
from tests.unit.notify_support import FAKE_SECRET, assert_no_secret, org_report, parts

SMTP_USER = "mailer"
USER_PARAM = "/keyrotate/smtp/user"
PASSWORD_PARAM = "/keyrotate/smtp/password"


class LoopbackController(Controller):  # type: ignore[misc]
    """aiosmtpd on port 0: learn the real port before the readiness check connects."""

    def _trigger_server(self) -> None:
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@dataclass
class Inbox:
    mails: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email_policy.default)
        self.mails.append((envelope.mail_from, list(envelope.rcpt_tos), parsed))  # type: ignore[arg-type]
        return "250 OK"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == SMTP_USER
            and auth_data.password.decode() == FAKE_SECRET
        )
        if ok:
            self.logins.append(auth_data.login.decode())
        return AuthResult(success=ok)


@dataclass(frozen=True)
class Certificate:
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert_file))


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Certificate(cert_file, key_file)


@pytest.fixture
def smtp_credentials(moto_endpoint: str) -> None:
    ssm = boto3.client("ssm")
    ssm.put_parameter(Name=USER_PARAM, Value=SMTP_USER, Type="SecureString")
    ssm.put_parameter(Name=PASSWORD_PARAM, Value=FAKE_SECRET, Type="SecureString")


def serve(inbox: Inbox, **kwargs: Any) -> Iterator[int]:
    controller = LoopbackController(
        inbox,
        hostname="127.0.0.1",
        port=0,
        authenticator=inbox.authenticate,
        **kwargs,
    )
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()


def options(port: int, security: str) -> NotifyOptions:
    return NotifyOptions(
        admin_email_address="admin@example.com",
        email_transport="smtp",
        email_sender="keyrotate@example.com",
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security=security,
        smtp_user_param_name=USER_PARAM,
        smtp_password_param_name=PASSWORD_PARAM,
        smtp_timeout_seconds=5,
        email_footer="Platform Security",
    )


def check_delivered(inbox: Inbox, results: tuple[Any, ...]) -> None:
    assert results
    assert all(r.sent for r in results), results
    assert [rcpt for _, rcpt, _ in inbox.mails] == [[r.recipient] for r in results]
    assert {sender for sender, _, _ in inbox.mails} == {"keyrotate@example.com"}
    assert inbox.logins == [SMTP_USER] * len(results)
    owner = inbox.mails[0][2]
    assert owner["To"] == "prod-owner@example.com"
    assert owner["Subject"] == "[keyrotate] 3 access key changes, 1 FAILED, 3 notices"
    text, html = parts(owner)
    assert "keyrotate/alice" in text
    assert "Platform Security" in html
    digest = inbox.mails[-1][2]
    assert digest["To"] == "admin@example.com"
    assert digest["Subject"].startswith("[keyrotate] enforce digest: 4 accounts")
    for _, _, mail in inbox.mails:
        assert_no_secret(mail.as_string())


def test_plain_smtp_with_login_from_ssm_delivers_every_mail(smtp_credentials: None) -> None:
    inbox = Inbox()
    for port in serve(inbox, auth_require_tls=False):
        results = Notifier.from_options(options(port, "none")).notify_run(
            org_report("enforce"), RotationPolicy()
        )
    check_delivered(inbox, results)


def test_starttls_with_self_signed_certificate_delivers_every_mail(
    smtp_credentials: None, certificate: Certificate
) -> None:
    inbox = Inbox()
    for port in serve(
        inbox,
        server_hostname="localhost",
        tls_context=certificate.server_context(),
        require_starttls=True,
    ):
        notifier = Notifier.from_options(
            options(port, "starttls"), ssl_context=certificate.client_context()
        )
        results = notifier.notify_run(org_report("enforce"), RotationPolicy())
    check_delivered(inbox, results)


def test_implicit_tls_delivers_every_mail(smtp_credentials: None, certificate: Certificate) -> None:
    inbox = Inbox()
    # aiosmtpd only counts STARTTLS as TLS when deciding to offer AUTH; this session is TLS
    # from its first byte, so AUTH is allowed explicitly.
    for port in serve(
        inbox,
        server_hostname="localhost",
        ssl_context=certificate.server_context(),
        auth_require_tls=False,
    ):
        notifier = Notifier.from_options(
            options(port, "tls"), ssl_context=certificate.client_context()
        )
        results = notifier.notify_run(org_report("enforce"), RotationPolicy())
    check_delivered(inbox, results)


def test_untrusted_certificate_is_refused_and_recorded_not_raised(
    smtp_credentials: None, certificate: Certificate
) -> None:
    inbox = Inbox()
    for port in serve(
        inbox,
        server_hostname="localhost",
        tls_context=certificate.server_context(),
        require_starttls=True,
    ):
        notifier = Notifier.from_options(options(port, "starttls"))  # system CAs only
        notifier.backoff_seconds = 0
        results = notifier.notify_run(org_report("enforce"), RotationPolicy())
    assert inbox.mails == []
    assert results
    assert all(not r.sent and "SSLCertVerificationError" in (r.error or "") for r in results)


def test_smtp_server_down_is_retried_recorded_and_never_raised(smtp_credentials: None) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    notifier = Notifier.from_options(options(closed_port, "none"))
    notifier.backoff_seconds = 0
    results = notifier.notify_run(org_report("enforce"), RotationPolicy())
    assert len(results) == 5
    assert all(not r.sent and "ConnectionRefusedError" in (r.error or "") for r in results)
    assert results[-1].role == "admin"
    assert all(FAKE_SECRET not in (r.error or "") for r in results)


def test_missing_ssm_parameter_fails_the_sends_without_raising(moto_endpoint: str) -> None:
    inbox = Inbox()
    for port in serve(inbox, auth_require_tls=False):
        notifier = Notifier.from_options(options(port, "none"))
        notifier.backoff_seconds = 0
        results = notifier.notify_run(org_report("enforce"), RotationPolicy())
    assert inbox.mails == []
    assert all(not r.sent and "ParameterNotFound" in (r.error or "") for r in results)

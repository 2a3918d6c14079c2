"""Ways to deliver a :class:`Message`, behind one small protocol, and a retrying ``send_all``.

A transport's ``send`` raises on failure; :func:`send_all` turns failures into records, so a
mail problem never stops or undoes a rotation.
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from email import policy as email_policy
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from keyrotate.aws import ses, ssm
from keyrotate.domain.errors import KeyrotateError
from keyrotate.domain.results import NotificationResult
from keyrotate.notify.message import Message
from keyrotate.notify.options import EmailTransport, NotifyOptions, SmtpSecurity

if TYPE_CHECKING:
    from boto3.session import Session
    from mypy_boto3_ses import SESClient
    from mypy_boto3_ssm import SSMClient

log = logging.getLogger(__name__)

# What a failed delivery can raise: our AWS errors, SMTP protocol errors, and the socket/TLS
# errors (OSError) of an unreachable or misconfigured server.
SEND_ERRORS: tuple[type[BaseException], ...] = (KeyrotateError, smtplib.SMTPException, OSError)


class Transport(Protocol):
    def send(self, message: Message) -> None: ...


class NoneTransport:
    """Sends nothing (``email_transport = "none"``)."""

    def send(self, message: Message) -> None:
        return None


class SesTransport:
    """Amazon SES, raw: the message goes out exactly as built."""

    def __init__(self, sender: str, client: SESClient) -> None:
        self.sender = sender
        self._client = client

    def send(self, message: Message) -> None:
        ses.send_raw_email(
            message.email.as_bytes(policy=email_policy.SMTP),
            sender=self.sender,
            recipients=[message.recipient],
            client=self._client,
        )


Credentials = tuple[str, str]


class SmtpTransport:
    """Any SMTP relay: STARTTLS, implicit TLS or plain; login when credentials are given.

    ``credentials`` is called at the first send and its answer kept (so SSM is read once, and
    only when there is mail); ``None`` means no login.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        security: SmtpSecurity = SmtpSecurity.STARTTLS,
        credentials: Callable[[], Credentials | None] = lambda: None,
        sender: str = "",
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.host = host
        self.port = port
        self.security = security
        self.sender = sender
        self._credentials_source = credentials
        self._credentials: Credentials | None = None
        self._credentials_read = False
        self._ssl_context = ssl_context or ssl.create_default_context()
        self._timeout = timeout

    def _login_details(self) -> Credentials | None:
        if not self._credentials_read:
            self._credentials = self._credentials_source()
            self._credentials_read = True
        return self._credentials

    def _connect(self) -> smtplib.SMTP:
        if self.security == SmtpSecurity.TLS:
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self._timeout, context=self._ssl_context
            )
        return smtplib.SMTP(self.host, self.port, timeout=self._timeout)

    @contextmanager
    def _session(self) -> Iterator[tuple[smtplib.SMTP, bool]]:
        """Connected, secured and logged in (when credentials are configured: the bool)."""
        credentials = self._login_details()
        with self._connect() as smtp:
            if self.security == SmtpSecurity.STARTTLS:
                smtp.starttls(context=self._ssl_context)
            if credentials is not None:
                smtp.login(*credentials)
            yield smtp, credentials is not None

    def check_login(self) -> bool:
        """Connect, secure and log in as :meth:`send` would, then quit: no mail is sent.

        ``True`` when a login was made, ``False`` when no credentials are configured. Raises
        as :meth:`send` does (``SEND_ERRORS``). For ``keyrotate doctor``.
        """
        with self._session() as (smtp, logged_in):
            if not logged_in:
                smtp.noop()
        return logged_in

    def send(self, message: Message) -> None:
        with self._session() as (smtp, _logged_in):
            smtp.send_message(
                message.email,
                from_addr=self.sender or None,
                to_addrs=[message.recipient],
            )


_UNSAFE = re.compile(r"[^A-Za-z0-9@._+-]")


class FileTransport:
    """Writes one ``.eml`` per message into ``folder``, named by role and address."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def path_for(self, message: Message) -> Path:
        stem = f"{message.role}-{_UNSAFE.sub('_', message.recipient)}"
        if message.account_id and message.role != "admin":
            stem = f"{stem}-{message.account_id}"
        path = self.folder / f"{stem}.eml"
        counter = 2
        while path.exists():
            path = self.folder / f"{stem}-{counter}.eml"
            counter += 1
        return path

    def send(self, message: Message) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path_for(message).write_bytes(message.email.as_bytes(policy=email_policy.SMTP))


def smtp_credentials(
    options: NotifyOptions, ssm_client: SSMClient | None = None, session: Session | None = None
) -> Callable[[], Credentials | None]:
    """Reads the SMTP user and password from SSM SecureString parameters, when named."""

    def read() -> Credentials | None:
        if not options.smtp_user_param_name:
            return None
        client = ssm_client or ssm.make_client(session)
        return (
            ssm.get_secure_parameter(options.smtp_user_param_name, client=client),
            ssm.get_secure_parameter(options.smtp_password_param_name, client=client),
        )

    return read


def build_transport(
    options: NotifyOptions,
    session: Session | None = None,
    *,
    ssl_context: ssl.SSLContext | None = None,
) -> Transport:
    """The transport ``options.email_transport`` names, with the settings it needs (the
    settings have checked they are there: ``Settings._check_mail``)."""
    kind = options.email_transport
    if kind == EmailTransport.NONE:
        return NoneTransport()
    if kind == EmailTransport.FILE:
        return FileTransport(options.mail_dir)
    if kind == EmailTransport.SES:
        return SesTransport(options.email_sender, ses.make_client(session, options.ses_region))
    return SmtpTransport(
        options.smtp_host,
        options.smtp_port,
        security=options.smtp_security,
        credentials=smtp_credentials(options, session=session),
        sender=options.email_sender,
        ssl_context=ssl_context,
        timeout=options.smtp_timeout_seconds,
    )


def send_all(
    messages: Iterable[Message],
    transport: Transport,
    attempts: int = 3,
    *,
    backoff_seconds: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[NotificationResult, ...]:
    """Send each message, retrying up to ``attempts`` times with doubling backoff.

    Never raises for a delivery failure: it is logged and recorded as ``sent=False`` with the
    last error.
    """
    results: list[NotificationResult] = []
    for message in messages:
        error: str | None = None
        for attempt in range(1, max(attempts, 1) + 1):
            try:
                transport.send(message)
            except SEND_ERRORS as exc:
                error = f"{exc.__class__.__name__}: {exc}"
                log.warning(
                    "mail to %s (%s) failed, attempt %d of %d: %s",
                    message.recipient,
                    message.role,
                    attempt,
                    attempts,
                    error,
                )
                if attempt < attempts:
                    sleep(backoff_seconds * 2 ** (attempt - 1))
            else:
                error = None
                break
        results.append(
            NotificationResult(
                recipient=message.recipient,
                role=message.role,
                account_id=message.account_id,
                sent=error is None,
                error=error,
            )
        )
    return tuple(results)

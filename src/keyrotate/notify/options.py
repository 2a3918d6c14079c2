"""The notification settings, as plain values: made from the validated Settings
(:func:`keyrotate.service.context.notify_options_from`), which check every mail setting when
they load (``Settings._check_mail``). Nothing here checks them again.

Kept separate from ``keyrotate.config`` so that ``notify`` depends on nothing above it: the
two enums live here, and the settings use them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class EmailTransport(StrEnum):
    SES = "ses"
    SMTP = "smtp"
    FILE = "file"  # write .eml files to mail_dir (demo, air-gapped review)
    NONE = "none"


class SmtpSecurity(StrEnum):
    STARTTLS = "starttls"
    TLS = "tls"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class NotifyOptions:
    """Who gets mail, how it is sent and which templates render it.

    The template settings are ``""`` (the shipped template), a local path, or
    ``s3://bucket/key``. ``email_footer`` is the department text shown at the bottom.
    """

    admin_email_address: str = ""
    email_transport: EmailTransport = EmailTransport.NONE
    email_sender: str = ""
    ses_region: str | None = None
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_security: SmtpSecurity = SmtpSecurity.STARTTLS
    smtp_user_param_name: str = ""
    smtp_password_param_name: str = ""
    smtp_timeout_seconds: float = 30.0
    mail_dir: str = ""
    email_template_audit: str = ""
    email_template_enforce: str = ""
    email_template_digest: str = ""
    email_footer: str = ""
    # Owners are mailed only at these domains (empty: anywhere); see
    # keyrotate.domain.mail_domains. (The admin address is checked against them by Settings.)
    allowed_email_domains: tuple[str, ...] = ()
    # The account that must own an s3:// template's bucket ("" = any): the deployment's own.
    template_bucket_owner: str = ""
    # To name a user's secret in a mail when the run stored none (a HOLD, a WARN): the
    # SecretNameFormat and the home region ("": the mails name no secret then).
    secret_name_format: str = ""
    secrets_region: str = ""

"""The notification settings, as plain values (the service fills them from its Settings).

Kept separate from ``keyrotate.config`` so that ``notify`` depends on nothing above it.
"""

from __future__ import annotations

from dataclasses import dataclass

from keyrotate.domain.errors import InputError

TRANSPORTS = ("ses", "smtp", "file", "none")
SMTP_SECURITY = ("starttls", "tls", "none")


@dataclass(frozen=True, slots=True)
class NotifyOptions:
    """Who gets mail, how it is sent and which templates render it.

    The template settings are ``""`` (the shipped template), a local path, or
    ``s3://bucket/key``. ``email_footer`` is the department text shown at the bottom.
    """

    admin_email_address: str = ""
    email_transport: str = "none"
    email_sender: str = ""
    ses_region: str | None = None
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_security: str = "starttls"
    smtp_user_param_name: str = ""
    smtp_password_param_name: str = ""
    smtp_timeout_seconds: float = 30.0
    mail_dir: str = ""
    email_template_audit: str = ""
    email_template_enforce: str = ""
    email_template_digest: str = ""
    email_footer: str = ""

    def __post_init__(self) -> None:
        if self.email_transport not in TRANSPORTS:
            raise InputError(
                "email_transport", self.email_transport, f"use one of {', '.join(TRANSPORTS)}"
            )
        if self.smtp_security not in SMTP_SECURITY:
            raise InputError(
                "smtp_security", self.smtp_security, f"use one of {', '.join(SMTP_SECURITY)}"
            )
        if bool(self.smtp_user_param_name) != bool(self.smtp_password_param_name):
            raise InputError(
                "smtp_password_param_name" if self.smtp_user_param_name else "smtp_user_param_name",
                "",
                "name both SSM parameters (user and password) or neither",
            )

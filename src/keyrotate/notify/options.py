"""The notification settings, as plain values (the service fills them from its Settings).

Kept separate from ``keyrotate.config`` so that ``notify`` depends on nothing above it.
"""

from __future__ import annotations

from dataclasses import dataclass

from keyrotate.domain.errors import InputError
from keyrotate.domain.mail_domains import recipient_allowed

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
    # Owners are mailed only at these domains (empty: anywhere); see
    # keyrotate.domain.mail_domains. The admin address is checked against them at start-up.
    allowed_email_domains: tuple[str, ...] = ()
    # The account that must own an s3:// template's bucket ("" = any): the deployment's own.
    template_bucket_owner: str = ""

    def __post_init__(self) -> None:
        if self.email_transport not in TRANSPORTS:
            raise InputError(
                "email_transport", self.email_transport, f"use one of {', '.join(TRANSPORTS)}"
            )
        if self.smtp_security not in SMTP_SECURITY:
            raise InputError(
                "smtp_security", self.smtp_security, f"use one of {', '.join(SMTP_SECURITY)}"
            )
        if self.admin_email_address and not recipient_allowed(
            self.admin_email_address, self.allowed_email_domains
        ):
            raise InputError(
                "admin_email_address",
                self.admin_email_address,
                "use an address of one of allowed_email_domains "
                f"({', '.join(self.allowed_email_domains)}), its domain written as listed "
                "(IAM compares case-sensitively), or add its domain to the list",
            )
        if bool(self.smtp_user_param_name) != bool(self.smtp_password_param_name):
            raise InputError(
                "smtp_password_param_name" if self.smtp_user_param_name else "smtp_user_param_name",
                "",
                "name both SSM parameters (user and password) or neither",
            )

"""A mail ready to send: a multipart/alternative EmailMessage and who it is for."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from keyrotate.notify.render import Rendered

DEFAULT_SENDER = "keyrotate@localhost"


@dataclass(frozen=True, slots=True)
class Message:
    recipient: str
    role: str  # "account-owner", "resource-owner", "admin"
    account_id: str | None
    email: EmailMessage


def compose(
    rendered: Rendered,
    *,
    sender: str,
    recipient: str,
    role: str,
    account_id: str | None,
    date: datetime,
) -> Message:
    """A text part and an HTML alternative (mail clients show the richest they can)."""
    email = EmailMessage()
    email["Subject"] = rendered.subject
    email["From"] = sender or DEFAULT_SENDER
    email["To"] = recipient
    email["Date"] = format_datetime(date)
    email["Message-ID"] = make_msgid(domain="keyrotate.invalid")
    email["X-Keyrotate-Role"] = role
    email.set_content(rendered.text)
    email.add_alternative(rendered.html, subtype="html")
    return Message(recipient, role, account_id, email)

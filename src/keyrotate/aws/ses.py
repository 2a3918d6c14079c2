"""SES adapter: send one already-built MIME message (SES v1 ``SendRawEmail``).

Raw sending keeps the message exactly as :mod:`keyrotate.notify` built it (multipart text +
HTML, our headers); SES only relays it. The sender identity must be verified in SES in the
chosen region, else SES answers ``MessageRejected``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from keyrotate.aws.errors import translate
from keyrotate.aws.session import service_client

if TYPE_CHECKING:
    from boto3.session import Session
    from mypy_boto3_ses import SESClient

PERMISSIONS: tuple[str, ...] = ("ses:SendRawEmail",)


def make_client(session: Session | None = None, region: str | None = None) -> SESClient:
    """An SES client in ``region`` (``None``: the session's region)."""
    client: SESClient = service_client("ses", session, region)
    return client


def send_raw_email(
    raw_message: bytes,
    *,
    sender: str,
    recipients: Sequence[str],
    client: SESClient | None = None,
) -> str:
    """Send ``raw_message`` from ``sender`` to ``recipients``; returns SES's message id."""
    ses = client or make_client()
    with translate("ses:SendRawEmail"):
        response = ses.send_raw_email(
            Source=sender,
            Destinations=list(recipients),
            RawMessage={"Data": raw_message},
        )
    return response["MessageId"]

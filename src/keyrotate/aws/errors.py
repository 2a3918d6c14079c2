"""Translate botocore errors into keyrotate's error tree where they cross into our code.

Every adapter wraps its AWS calls in :func:`translate`, so callers above ``aws`` catch only
``keyrotate.domain.errors`` types::

    with translate("iam:CreateAccessKey"):
        iam.create_access_key(UserName=user)

- ``AccessDenied``/``AccessDeniedException``/``UnauthorizedOperation`` → :class:`AccessDenied`
- IAM's ``LimitExceeded`` on the two-keys-per-user quota → :class:`KeySlotsFull`
- anything else (other client errors, timeouts, connection errors) → :class:`AwsError`

AWS error messages do not carry secret keys, but the text is still scrubbed of anything
shaped like one before it reaches an exception, a log line or a report.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError

from keyrotate.domain.errors import AccessDenied, AwsError, KeySlotsFull

ACCESS_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})

# A secret access key is 40 characters of base64; session tokens are longer. Random text of
# that length mixes upper case, lower case and digits, which names and ARNs rarely do.
_SECRET_SHAPED = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+=]{40,}(?![A-Za-z0-9/+=])")
REDACTED = "[redacted]"


def redact(text: str) -> str:
    """``text`` with every secret-shaped run of characters replaced by ``[redacted]``."""

    def _replace(match: re.Match[str]) -> str:
        run = match.group(0)
        looks_random = (
            any(c.isupper() for c in run)
            and any(c.islower() for c in run)
            and any(c.isdigit() for c in run)
        )
        return REDACTED if looks_random else run

    return _SECRET_SHAPED.sub(_replace, text)


def _is_key_quota(exc: ClientError, code: str, message: str) -> bool:
    # IAM answers LimitExceeded for several quotas; only the two-keys-per-user one means
    # "another run holds the second slot".
    return code == "LimitExceeded" and (
        exc.operation_name == "CreateAccessKey" or "AccessKeysPerUser" in message
    )


def error_message(exc: BotoCoreError | ClientError) -> str:
    """The service's own message for ``exc`` (no operation or code prefix), redacted."""
    if isinstance(exc, ClientError):
        return redact(str(exc.response.get("Error", {}).get("Message") or exc))
    return redact(str(exc))


def aws_error(exc: BotoCoreError | ClientError, operation: str, hint: str = "") -> AwsError:
    """The keyrotate error for a botocore failure of ``operation`` (e.g. ``"iam:ListUsers"``).

    ``hint`` is appended to access-denied messages: say which role needs which permission.
    """
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or "Unknown")
        message = error_message(exc)
        if code in ACCESS_DENIED_CODES:
            return AccessDenied(operation, code, f"{message}. {hint}" if hint else message)
        if _is_key_quota(exc, code, message):
            return KeySlotsFull(operation, code, message)
        return AwsError(operation, code, message)
    return AwsError(operation, type(exc).__name__, error_message(exc))


@contextmanager
def translate(operation: str, hint: str = "") -> Iterator[None]:
    """Re-raise botocore errors raised inside the block as keyrotate errors (``from exc``)."""
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise aws_error(exc, operation, hint) from exc


# The name the IAM and Secrets Manager adapters use: the same context manager.
aws_call = translate

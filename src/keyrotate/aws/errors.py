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
# that length mixes upper case, lower case and digits, which names and ARNs rarely do. "="
# is base64's padding, at the end only: "key=<secret>" is the secret after a separator.
_SECRET_SHAPED = re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40,}={0,2}(?![A-Za-z0-9/+=])")
_SECRET_KEY_LENGTH = 40
REDACTED = "[redacted]"

# The value of a field that names a secret is redacted whatever it looks like (a key without
# a digit, a short test value), in every shape botocore and we write: JSON, JSON inside a
# JSON string (PutSecretValue's SecretString), a Python repr (dicts, bytes), XML
# (CreateAccessKey, AssumeRole), query strings and URL-encoded forms, HTTP headers and
# SigV4's canonical request (``x-amz-security-token:...``). SecretString and SecretBinary
# are listed for values that are not JSON; a JSON SecretString is covered by its fields.
_SECRET_FIELD = (
    r"[A-Za-z_-]*?(?:secret_?access_?key|session_?token|security[_-]?token"
    r"|secret_?string|secret_?binary)"
)
_QUOTE = r"""(?:\\*["']|%22|&quot;)"""
_SEPARATOR = rf"{_QUOTE}?\s*(?::|=|%3A|>)\s*\+?(?:b?{_QUOTE})?"
_FIELD_VALUE = re.compile(
    # Not after a letter, digit or "/": "</SecretAccessKey>" closes a value, opens none.
    rf"(?i)(?<![A-Za-z0-9/])({_SECRET_FIELD}{_SEPARATOR})((?:[A-Za-z0-9/+=%]|\\/)+)"
)


def _looks_random(run: str) -> bool:
    upper = any(c.isupper() for c in run)
    lower = any(c.islower() for c in run)
    digit = any(c.isdigit() for c in run)
    if len(run) == _SECRET_KEY_LENGTH:
        # One secret key in a thousand has no digit: at exactly a key's length, mixed case
        # is enough (hex digests of that length have no upper case).
        return upper and lower
    return upper and lower and digit


def redact(text: str) -> str:
    """``text`` with secret material replaced by ``[redacted]``.

    Two rules: the value of any field named like a secret (``SecretAccessKey``,
    ``aws_secret_access_key``, ``SessionToken``, ``X-Amz-Security-Token``, ...), and any
    run of 40 or more base64 characters that looks random (a key or a token on its own).
    The one definition of redaction: error messages and log records (``keyrotate.logredact``)
    both use it.
    """
    text = _FIELD_VALUE.sub(lambda match: match.group(1) + REDACTED, text)
    return _SECRET_SHAPED.sub(
        lambda match: REDACTED if _looks_random(match.group(0)) else match.group(0), text
    )


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

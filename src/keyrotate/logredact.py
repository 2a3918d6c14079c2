"""Keep secret access keys out of every log line, at every level, DEBUG included.

Two layers, installed by the entry points (the CLI's group, the Lambda handlers' module):

1. :func:`pin_wire_loggers`: the SDK loggers that write request and response bodies at
   DEBUG are held at INFO. With the root logger at DEBUG, botocore logs

   - ``botocore.endpoint``: every request's parameters and body ("Making request ... with
     params"; CreateSecret's and PutSecretValue's ``SecretString`` holds the new key), and
     the signed request's headers ("Sending http request"; ``X-Amz-Security-Token``);
   - ``botocore.parsers``: every response's headers and body ("Response body"; the new
     secret in CreateAccessKey's and GetSecretValue's, a session's in AssumeRole's);
   - ``botocore.auth``: SigV4's canonical request, ``x-amz-security-token`` included;
   - ``boto3.resources.action`` / ``.collection``: a resource action's parameters and response.

   Their other DEBUG lines (hooks, retries, credential lookup, urllib3's connections) carry
   no body and stay. A level alone would not hold: ``logging.getLogger("botocore.parsers")
   .setLevel(DEBUG)`` undoes it. So each pinned logger also gets a filter that drops its
   records below INFO, whatever its level becomes; ``boto3.set_stream_logger("botocore")``
   and ``logging.getLogger("botocore").setLevel(DEBUG)`` never reach them at all (a logger
   with a level of its own does not inherit one).

2. :class:`RedactSecrets`, a filter for handlers: whatever a record carries (its message and
   arguments, extra fields, the traceback) reaches the handler with secret material replaced
   by ``[redacted]``, by :func:`keyrotate.aws.errors.redact` (the one definition of what is
   secret). A handler filter, not a logger filter: records propagated from child loggers
   pass only the handlers' filters.

The CLI's switch: ``keyrotate --log-level DEBUG ...`` or ``KEYROTATE_LOG_LEVEL=DEBUG``
(:data:`LOG_LEVEL_ENV`); see :func:`cli_logging`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable
from typing import Any, TextIO


def redact(text: str) -> str:
    """:func:`keyrotate.aws.errors.redact`, imported when first used: importing
    ``keyrotate.aws`` pins the wire loggers through this module, so loading it here would be
    a cycle for whoever imports this module first (the Lambda runtime, with
    ``keyrotate.lambda_handlers``)."""
    from keyrotate.aws.errors import redact as redact_secrets

    return redact_secrets(text)


LOG_LEVEL_ENV = "KEYROTATE_LOG_LEVEL"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

#: The loggers that write request or response bodies (or signed headers) at DEBUG.
WIRE_LOGGERS = (
    "botocore.endpoint",
    "botocore.parsers",
    "botocore.auth",
    "boto3.resources.action",
    "boto3.resources.collection",
)
_PINNED_LEVEL = logging.INFO
CLI_FORMAT = "%(levelname)s %(name)s: %(message)s"

# Attributes every LogRecord has; anything else on a record came in through ``extra=``.
_RECORD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class _DropWireDebug(logging.Filter):
    """On a pinned logger: no record below INFO, whatever level the logger is set to."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= _PINNED_LEVEL


def pin_wire_loggers() -> None:
    """Hold :data:`WIRE_LOGGERS` at INFO for good (idempotent)."""
    for name in WIRE_LOGGERS:
        wire = logging.getLogger(name)
        wire.setLevel(_PINNED_LEVEL)
        if not any(isinstance(f, _DropWireDebug) for f in wire.filters):
            wire.addFilter(_DropWireDebug())


def _redacted(value: Any) -> Any:
    """``value`` with its strings redacted and plain containers rebuilt; any other object
    whose text shows a secret becomes that text, redacted (formatters print it as text).
    """
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bytes):
        return redact(value.decode("utf-8", errors="replace"))
    # Exact types only: a subclass (a namedtuple, say) may not rebuild from an iterable.
    if type(value) is dict:
        return {k: _redacted(v) for k, v in value.items()}
    if type(value) in (list, tuple, set, frozenset):
        return type(value)(_redacted(v) for v in value)
    if value is None or isinstance(value, bool | int | float):
        return value
    text = str(value)
    clean = redact(text)
    return value if clean == text else clean


class RedactSecrets(logging.Filter):
    """Rewrite each record so that no secret access key or session token leaves the handler.

    Never drops a record, never raises (a filter's exception would reach the code that
    logged). The message is formatted here (``msg % args``) and replaced by its redacted text
    only when redaction changed something; otherwise the record is untouched.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            self._redact_message(record)
            for key, value in list(record.__dict__.items()):
                if key not in _RECORD_ATTRIBUTES:
                    record.__dict__[key] = _redacted(value)
            if record.stack_info:
                record.stack_info = redact(record.stack_info)
            self._redact_traceback(record)
        except Exception:  # what could not be redacted is not written
            record.msg = f"[a {record.levelname} record of {record.name} could not be redacted]"
            record.args, record.exc_info, record.exc_text, record.stack_info = (), None, None, None
            for key in [k for k in record.__dict__ if k not in _RECORD_ATTRIBUTES]:
                del record.__dict__[key]
        return True

    @staticmethod
    def _redact_message(record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: the handler reports it, redacted
            # logging.Handler.handleError prints msg and args: redact what it would print.
            record.msg = redact(str(record.msg))
            if record.args:
                record.args = tuple(redact(repr(a)) for a in _as_tuple(record.args))
            return
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, ()

    @staticmethod
    def _redact_traceback(record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[0] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            clean = redact(text)
            if clean != text:
                # Formatters read exc_info anew; only exc_text keeps the redacted form.
                record.exc_info, record.exc_text = None, clean
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)


def _as_tuple(args: Any) -> tuple[Any, ...]:
    return tuple(args.values()) if isinstance(args, dict) else tuple(args)


_FILTER = RedactSecrets()


def redact_handlers(handlers: Iterable[logging.Handler]) -> None:
    """Add the redacting filter to each of ``handlers`` that has none yet."""
    for handler in handlers:
        if not any(isinstance(f, RedactSecrets) for f in handler.filters):
            handler.addFilter(_FILTER)


def protect(handlers: Iterable[logging.Handler] = ()) -> None:
    """Pin the wire loggers; redact on ``handlers`` and on the root logger's handlers.

    Handlers added later need :func:`redact_handlers` of their own: the pinned loggers keep
    bodies out of them regardless.
    """
    pin_wire_loggers()
    redact_handlers([*logging.getLogger().handlers, *handlers])


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is when a record comes (click's test runner swaps it)."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        """StreamHandler's own __init__ sets it; the property ignores that."""


def cli_logging(level: str | None) -> Callable[[], None]:
    """Log to stderr, redacted, from ``level`` (None: WARNING, the root logger's default,
    and its level is left alone). Returns what undoes it, for the end of the command.

    Without this, warnings went through logging's last-resort handler, which no filter guards.
    Handlers the root logger already has are not the CLI's (a test runner's): left as they are.
    """
    pin_wire_loggers()
    root = logging.getLogger()
    previous = root.level
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter(CLI_FORMAT))
    handler.setLevel(level.upper() if level else logging.WARNING)
    redact_handlers([handler])
    root.addHandler(handler)
    if level:
        root.setLevel(level.upper())

    def undo() -> None:
        root.removeHandler(handler)
        root.setLevel(previous)

    return undo

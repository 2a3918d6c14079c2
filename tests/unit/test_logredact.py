"""The log redaction: crafted records in every shape botocore writes, the pinned wire loggers,
the CLI's switch and the Lambda handlers' wiring.

The secrets here are made up, but the tests treat them as real ones: an assertion is on a
boolean (``leaked``) so that a failure never prints the text that holds one.
"""

from __future__ import annotations

import json
import logging
import random
import string
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from click.testing import CliRunner

from keyrotate.aws.errors import REDACTED, redact
from keyrotate.cli import main
from keyrotate.logredact import (
    LOG_LEVEL_ENV,
    WIRE_LOGGERS,
    RedactSecrets,
    cli_logging,
    pin_wire_loggers,
    protect,
)

# The characters of an AWS secret access key (and of moto's).
ALPHABET = string.ascii_letters + string.digits + "+/"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYzEXAMPLEKY"
NO_DIGIT = "wJalrXUtnFEMI/K/MDENG+bPxRfiCYzEXAMPLEKY"  # one key in a thousand looks like this
TOKEN = "FQoGZXIvYXdzEBYaDiBxqMLO0E+xbY/Opqqf/hE7oegfm1rpdqogZ6CYv4liCuJHo1HDgErEGpaDzP/DQ=="
KEY_ID = "AKIAIOSFODNN7EXAMPLE"


def _secrets() -> list[str]:
    rng = random.Random(20261130)  # fixed: the same keys every run
    return [SECRET, NO_DIGIT, *("".join(rng.choices(ALPHABET, k=40)) for _ in range(8))]


def _record(msg: str, *args: object, **extra: Any) -> logging.LogRecord:
    record = logging.LogRecord("botocore.parsers", logging.DEBUG, __file__, 1, msg, args, None)
    record.__dict__.update(extra)
    return record


def _through_filter(record: logging.LogRecord) -> str:
    assert RedactSecrets().filter(record) is True  # never drops a record
    return logging.Formatter("%(levelname)s %(name)s: %(message)s").format(record)


def _leaked(secret: str, text: str) -> bool:
    return any(form in text for form in {secret, json.dumps(secret)[1:-1]})


# -- the shapes botocore writes ----------------------------------------------------------------
def _json_request(secret: str) -> logging.LogRecord:
    """botocore.endpoint: "Making request ... with params" of PutSecretValue (JSON in JSON)."""
    value = json.dumps({"AccessKeyId": KEY_ID, "SecretAccessKey": secret, "UserName": "alice"})
    body = json.dumps({"SecretId": "keyrotate/123456789012/alice", "SecretString": value})
    params = {
        "url_path": "/",
        "query_string": "",
        "method": "POST",
        "headers": {"X-Amz-Target": "secretsmanager.PutSecretValue"},
        "body": body.encode(),
    }
    return _record("Making request for %s with params: %s", "PutSecretValue", params)


def _xml_response(secret: str) -> logging.LogRecord:
    """botocore.parsers: "Response body" of CreateAccessKey, a bytes repr of XML."""
    body = (
        "<CreateAccessKeyResponse><CreateAccessKeyResult><AccessKey><UserName>alice</UserName>"
        f"<AccessKeyId>{KEY_ID}</AccessKeyId><Status>Active</Status>"
        f"<SecretAccessKey>{secret}</SecretAccessKey></AccessKey></CreateAccessKeyResult>"
        "</CreateAccessKeyResponse>"
    ).encode()
    return _record("Response body:\n%r", body)


def _form_body(secret: str) -> logging.LogRecord:
    """A query-protocol form body: the secret URL-encoded, "/" and "+" as %2F and %2B."""
    form = urllib.parse.urlencode(
        {"Action": "Example", "Version": "2010-05-08", "SecretAccessKey": secret}
    )
    return _record("form: %s", form)


def _form_json(secret: str) -> logging.LogRecord:
    """JSON URL-encoded in a form field: quotes and colon as %22 and %3A."""
    value = json.dumps({"AccessKeyId": KEY_ID, "SecretAccessKey": secret})
    return _record("form: %s", urllib.parse.urlencode({"SecretString": value}))


def _dict_repr(secret: str) -> logging.LogRecord:
    """A response dict as boto3 returns it, logged with %r."""
    response = {"AccessKey": {"AccessKeyId": KEY_ID, "SecretAccessKey": secret}}
    return _record("response: %r", response)


def _ini_text(secret: str) -> logging.LogRecord:
    return _record("credentials file:\n[default]\naws_secret_access_key = %s\n", secret)


def _bare(secret: str) -> logging.LogRecord:
    """No field name at all: only the secret's shape gives it away."""
    return _record("new key %s (%s) for alice", secret, KEY_ID)


SHAPES = [_json_request, _xml_response, _form_body, _form_json, _dict_repr, _ini_text, _bare]
# In a URL-encoded form, a field's value runs to the next "&": the key id inside the
# SecretString goes with the secret.
KEEP_KEY_ID = [_json_request, _xml_response, _dict_repr, _bare]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.__name__.strip("_"))
def test_every_shape_is_redacted_for_every_secret(shape: Any) -> None:
    for i, secret in enumerate(_secrets()):
        text = _through_filter(shape(secret))
        leaked = _leaked(secret, text)
        assert not leaked, f"secret #{i} survives {shape.__name__}"
        assert REDACTED in text
        if shape in KEEP_KEY_ID:
            assert KEY_ID in text  # the key id next to it stays: it is not a secret


def test_no_40_character_key_escapes_on_its_own() -> None:
    """Any key IAM could issue, between any delimiters, with no field name to go by."""
    rng = random.Random(7)
    for i in range(3000):
        secret = "".join(rng.choices(ALPHABET, k=40))
        left, right = rng.choice([(" ", " "), ("'", "'"), ('"', '"'), ("=", "&"), (">", "<")])
        leaked = _leaked(secret, redact(f"value{left}{secret}{right}end"))
        assert not leaked, f"random key #{i} survives"


def test_session_tokens_in_headers_and_the_canonical_request_are_redacted() -> None:
    headers = {"X-Amz-Date": b"20260101T000000Z", "X-Amz-Security-Token": TOKEN.encode()}
    canonical = f"POST\n/\n\nhost:127.0.0.1\nx-amz-security-token:{TOKEN}\n\nhost;x-amz-date"
    for record in (
        _record("Sending http request: <AWSPreparedRequest headers=%s>", headers),
        _record("CanonicalRequest:\n%s", canonical),
        _record("<SessionToken>%s</SessionToken>", TOKEN),
    ):
        text = _through_filter(record)
        leaked = _leaked(TOKEN, text)
        assert not leaked
        assert REDACTED in text


def test_a_short_or_plain_value_of_a_secret_field_is_redacted_too() -> None:
    text = _through_filter(_record('{"SecretAccessKey": "%s", "UserName": "alice"}', "testing"))
    assert "testing" not in text  # not a real secret: safe to show on failure
    assert '"UserName": "alice"' in text


def test_names_ids_and_digests_are_left_alone() -> None:
    keep = [
        "arn:aws:iam::123456789012:user/alice",
        KEY_ID,
        '{"SecretId": "keyrotate/123456789012/alice", "NextToken": "abc123"}',
        "<AccessKeyId>AKIAIOSFODNN7EXAMPLE</AccessKeyId>",
        "sha256 3181c27282952ebcb367dbb4da0630d711080266b3e75f5218cc9d829cf634d7",
        "commit 4665d45a1b2c3d4e5f60718293a4b5c6d7e8f901",  # 40 hex characters, no upper case
        "tag keyrotate:access-key-id=AKIAIOSFODNN7EXAMPLE",
    ]
    for text in keep:
        assert redact(text) == text


def test_a_clean_record_keeps_its_message_and_arguments() -> None:
    record = _record("%d keys in %s", 3, "alice")
    RedactSecrets().filter(record)
    assert (record.msg, record.args) == ("%d keys in %s", (3, "alice"))


def test_extra_fields_and_tracebacks_are_redacted() -> None:
    error = ClientError(
        {"Error": {"Code": "InvalidInput", "Message": f"bad SecretAccessKey={SECRET}"}}, "X"
    )
    try:
        raise error
    except ClientError:
        exc_info = sys.exc_info()
    record = _record("call failed", detail={"SecretAccessKey": SECRET, "user": "alice"})
    record.exc_info = exc_info
    text = _through_filter(record)
    leaked = _leaked(SECRET, text) or _leaked(SECRET, json.dumps(record.__dict__["detail"]))
    assert not leaked
    assert record.__dict__["detail"]["user"] == "alice"
    assert "ClientError" in text  # the traceback is still there, redacted


def test_a_broken_format_string_is_redacted_for_logging_s_error_report() -> None:
    record = _record("%d", SECRET)
    RedactSecrets().filter(record)
    leaked = _leaked(SECRET, f"{record.msg} {record.args}")
    assert not leaked


# -- pinned wire loggers ---------------------------------------------------------------------
class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def logging_state() -> Iterator[_Capture]:
    """Root, botocore and keyrotate loggers restored afterwards; the root's only handler a
    capture, "keyrotate" at DEBUG.
    """
    names = ["", "botocore", *WIRE_LOGGERS, "keyrotate"]
    saved = {
        name: (logging.getLogger(name).level, list(logging.getLogger(name).filters))
        for name in names
    }
    root = logging.getLogger()
    handlers = list(root.handlers)
    capture = _Capture()
    root.handlers = [capture]
    # Importing the Lambda handlers holds "keyrotate" at INFO; these tests log below it.
    logging.getLogger("keyrotate").setLevel(logging.DEBUG)
    try:
        yield capture
    finally:
        root.handlers = handlers
        for name, (level, filters) in saved.items():
            logging.getLogger(name).setLevel(level)
            logging.getLogger(name).filters = filters


def test_pinned_loggers_write_no_debug_line_even_when_set_to_debug_again(
    logging_state: _Capture,
) -> None:
    pin_wire_loggers()
    pin_wire_loggers()  # idempotent: one filter per logger
    logging.getLogger().setLevel(logging.DEBUG)
    logging.getLogger("botocore").setLevel(logging.DEBUG)
    for name in WIRE_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
        logging.getLogger(name).debug("Response body: body-marker")
        logging.getLogger(name).warning("a warning still comes through")
    logging.getLogger("botocore.hooks").debug("Event x: calling handler y")
    seen = [(r.name, r.getMessage()) for r in logging_state.records]
    assert not [s for s in seen if "body-marker" in s[1]]
    assert sum("a warning" in message for _, message in seen) == len(WIRE_LOGGERS)
    assert ("botocore.hooks", "Event x: calling handler y") in seen  # other DEBUG lines stay
    assert all(len(logging.getLogger(n).filters) == 1 for n in WIRE_LOGGERS)


def test_protect_redacts_on_the_root_logger_s_handlers(logging_state: _Capture) -> None:
    protect()
    logging.getLogger().setLevel(logging.DEBUG)
    logging.getLogger("keyrotate").debug("stored %r", {"SecretAccessKey": SECRET})
    [record] = logging_state.records
    leaked = _leaked(SECRET, record.getMessage())
    assert not leaked


# -- the entry points ------------------------------------------------------------------------
def test_the_cli_switch_sets_the_level_for_the_command_only(logging_state: _Capture) -> None:
    root = logging.getLogger()
    before = (root.level, list(root.handlers))
    result = CliRunner().invoke(main, ["--log-level", "debug", "config", "--output", "json"])
    assert result.exit_code == 0, result.stderr
    assert (root.level, root.handlers) == before
    assert logging.getLogger("botocore.parsers").level == logging.INFO


def test_a_bad_log_level_in_the_environment_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["config"], env={LOG_LEVEL_ENV: "LOUD"})
    assert result.exit_code == 2
    assert "LOUD" in result.stderr


def test_cli_logging_writes_redacted_lines_to_stderr(
    logging_state: _Capture, capsys: pytest.CaptureFixture[str]
) -> None:
    undo = cli_logging("DEBUG")
    try:
        logging.getLogger("keyrotate.test").debug("stored %r", {"SecretAccessKey": SECRET})
    finally:
        undo()
    err = capsys.readouterr().err
    leaked = _leaked(SECRET, err)
    assert not leaked
    assert "DEBUG keyrotate.test: stored {'SecretAccessKey': '[redacted]'}" in err


def test_the_lambda_handlers_redact_through_powertools_handler(logging_state: _Capture) -> None:
    from keyrotate.lambda_handlers import logger as handler_logger

    handler = handler_logger.registered_handler
    assert any(isinstance(f, RedactSecrets) for f in handler.filters)
    assert all(logging.getLogger(n).level == logging.INFO for n in WIRE_LOGGERS)
    record = _record("stored", detail={"SecretAccessKey": SECRET})
    assert handler.filter(record)
    line = handler_logger.registered_formatter.format(record)
    leaked = _leaked(SECRET, line)
    assert not leaked
    assert json.loads(line)["detail"] == {"SecretAccessKey": REDACTED}


def test_odd_records_never_make_the_filter_raise() -> None:
    from collections import namedtuple

    Row = namedtuple("Row", ["user", "secret"])
    record = _record("row", row=Row("alice", SECRET), plain=Row("alice", "bob"))
    _through_filter(record)  # a namedtuple cannot be rebuilt from an iterable: its text is
    leaked = _leaked(SECRET, str(record.__dict__["row"]))
    assert not leaked
    assert record.__dict__["plain"] == Row("alice", "bob")  # nothing to hide: left as it is

    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no")

    broken = _record("%d")
    broken.msg = Unprintable()
    assert RedactSecrets().filter(broken) is True
    assert "could not be redacted" in broken.getMessage()


def test_using_the_aws_adapters_pins_the_wire_loggers_whoever_set_up_logging() -> None:
    """A fresh interpreter with the root logger at DEBUG and no keyrotate entry point: the
    bodies botocore would log are held back as soon as keyrotate.aws is imported."""
    probe = (
        "import logging; logging.basicConfig(level=logging.DEBUG)\n"
        "before = logging.getLogger('botocore.parsers').getEffectiveLevel()\n"
        "import keyrotate.aws.iam\n"
        "after = [logging.getLogger(n).getEffectiveLevel() for n in "
        "('botocore.parsers', 'botocore.endpoint', 'botocore.auth')]\n"
        "print(before, *after)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.split() == ["10", "20", "20", "20"]  # DEBUG before, INFO after

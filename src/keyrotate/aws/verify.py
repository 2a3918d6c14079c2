"""Prove a new key works before it counts as current: STS GetCallerIdentity with the key.

IAM is eventually consistent: a key can take seconds to be accepted everywhere, so the call
is retried with backoff for a bounded time. GetCallerIdentity needs no IAM permission.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from keyrotate.aws.errors import redact
from keyrotate.domain.secret import SecretText

PERMISSIONS: tuple[str, ...] = ()  # GetCallerIdentity is allowed to every principal

_NO_RETRY = Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=10)
_LOCK = threading.Lock()


@functools.cache
def _session(profile: str | None) -> boto3.Session:
    """One session per profile for every check: botocore's models loaded once, not once per
    new key. The profile gives the check the run's endpoint settings (``endpoint_url``,
    ``use_fips_endpoint``, ...); its credentials are never used: the new key's are."""
    return boto3.Session(profile_name=profile)


def verify_key(
    key_id: str,
    secret: SecretText,
    *,
    region: str,
    expected_arn: str | None = None,
    profile: str | None = None,
    attempts: int = 6,
    first_wait: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> str | None:
    """``None`` when the key authenticates (as ``expected_arn`` if given), else why not.

    ``profile``: the run's named profile (``--profile``), for its endpoint settings."""
    with _LOCK:  # boto3 sessions are not thread-safe while making clients
        sts = _session(profile).client(
            "sts",
            region_name=region,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret.reveal(),
            aws_session_token=None,
            config=_NO_RETRY,
        )
    wait = first_wait
    problem = "not tried"
    for attempt in range(attempts):
        try:
            arn = sts.get_caller_identity()["Arn"]
        except (ClientError, BotoCoreError) as exc:
            problem = redact(str(exc))
        else:
            if expected_arn is None or arn == expected_arn:
                return None
            return f"the new key authenticates as {arn}, not {expected_arn}"
        if attempt + 1 < attempts:
            sleep(wait)
            wait *= 2
    return f"the new key was not accepted after {attempts} attempts: {problem}"

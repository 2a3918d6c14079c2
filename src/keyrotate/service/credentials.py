"""``keyrotate credentials``: the key in a user's own secret, for the AWS credential_process.

A consumer configured once with ``credential_process = keyrotate credentials --secret NAME``
follows every rotation with no human step. Each call:

1. takes the key it handed out last time (the cache, :mod:`keyrotate.service.credential_cache`)
   or, the first time, the initial key from ``KEYROTATE_INITIAL_ACCESS_KEY_ID`` /
   ``KEYROTATE_INITIAL_SECRET_ACCESS_KEY`` if set;
2. reads the secret's current version with that key: the user may read its own secret
   (member-role.yaml's read-own-secret policy). A new key there means keyrotate rotated: the
   cache is replaced and the new key handed out. The read is also a use of the key, so IAM
   sees the consumer on the new key within one call of the rotation: rule 7 never holds
   the old key of a consumer that uses this helper;
3. if that key is refused (keyrotate deactivated it, or it was deleted), or there is no
   key yet, reads the secret with the standard credential chain (``--profile``) instead;
4. if the secret does not exist yet (keyrotate has not rotated this user) and a key was
   given, hands that key out as it is: the consumer works from day one and follows the
   first rotation too.

Every call reads the secret: the simplest rule that is always right, one GetSecretValue per
credential refresh. The printed JSON has an ``Expiration`` (default one hour ahead, not the
key's: a user key does not expire), so SDKs that keep running call the helper again and
pick up a rotation within the hour; IAM deactivates the old key only after the install window
(10 days by default), so there is ample time.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from keyrotate.aws.own_secret import SECRET_NOT_FOUND, KeyPair, SecretKey, read_key, session_for
from keyrotate.domain.errors import AwsError, InputError, KeyrotateError
from keyrotate.domain.secret import SecretText
from keyrotate.service import credential_cache
from keyrotate.service.credential_cache import CachedKey, CacheUnreadable
from keyrotate.service.options import Clock, utc_now

INITIAL_KEY_ID_ENV = "KEYROTATE_INITIAL_ACCESS_KEY_ID"
INITIAL_SECRET_ENV = "KEYROTATE_INITIAL_SECRET_ACCESS_KEY"
# Set in the helper's own environment, so a bootstrap profile whose credential_process is
# this helper again fails at once instead of starting helpers without end.
ACTIVE_ENV = "KEYROTATE_CREDENTIALS_HELPER"
DEFAULT_EXPIRATION_MINUTES = 60
# botocore refreshes credentials 15 minutes before they expire (10 minutes: mandatory);
# anything shorter would run the helper before every request.
MIN_EXPIRATION_MINUTES = 16
MAX_EXPIRATION_MINUTES = 24 * 60


class CredentialsUnavailable(KeyrotateError):
    """Neither the cached key nor the credential chain could read the secret."""


@dataclass(frozen=True, slots=True)
class Request:
    secret_id: str
    cache_path: Path
    region: str | None = None
    profile: str | None = None
    initial_key: KeyPair | None = None
    expiration_minutes: int = DEFAULT_EXPIRATION_MINUTES


@dataclass(frozen=True, slots=True)
class Result:
    key: KeyPair
    source: str  # "cache", "initial key", "secret (read with ...)": for stderr notes only
    notes: tuple[str, ...] = ()


Reader = Callable[[KeyPair | None], SecretKey]


def initial_key_from(env: Mapping[str, str]) -> KeyPair | None:
    """The bootstrap key from the environment; both halves or neither."""
    key_id, secret = env.get(INITIAL_KEY_ID_ENV, ""), env.get(INITIAL_SECRET_ENV, "")
    if bool(key_id) != bool(secret):
        missing = INITIAL_SECRET_ENV if key_id else INITIAL_KEY_ID_ENV
        raise InputError(missing, "(unset)", "set both initial key variables, or neither")
    return KeyPair(key_id, SecretText(secret)) if key_id else None


def check_expiration(minutes: int) -> int:
    if minutes != 0 and not MIN_EXPIRATION_MINUTES <= minutes <= MAX_EXPIRATION_MINUTES:
        raise InputError(
            "--expiration-minutes",
            minutes,
            f"use 0 (no Expiration) or {MIN_EXPIRATION_MINUTES} to {MAX_EXPIRATION_MINUTES}: "
            "SDKs refresh 15 minutes before the expiration",
        )
    return minutes


def region_of(secret_id: str, region: str | None, chain_region: str | None) -> str:
    """``--region``, else the region of a secret ARN, else the profile's or environment's."""
    if region:
        return region
    if secret_id.startswith("arn:"):
        parts = secret_id.split(":")
        if len(parts) > 3 and parts[3]:
            return parts[3]
    if chain_region:
        return chain_region
    raise InputError(
        "--region", None, "give --region, AWS_REGION, a profile with a region, or a secret ARN"
    )


def fetch(request: Request, read: Reader) -> Result:
    """The key to hand out now, the cache updated when it changed (see the module doc).

    ``read(key)`` reads the secret with ``key``, or with the credential chain for None.
    """
    notes: list[str] = []
    try:
        cached = credential_cache.load(request.cache_path, request.secret_id)
    except CacheUnreadable as exc:
        notes.append(f"{exc}; reading the secret again")
        cached = None
    start = cached.key if cached is not None else request.initial_key
    refused: AwsError | None = None
    if start is not None:
        try:
            found = read(start)
        except AwsError as exc:
            if exc.code == SECRET_NOT_FOUND:
                # keyrotate has not stored a key for this user yet: the key it has is it.
                notes.append(f"{request.secret_id} has no key yet; handing out the key given")
                _remember(request, cached, start, "initial", notes)
                return Result(start, "initial key", tuple(notes))
            refused = exc
        else:
            _remember(request, cached, found.key, found.version_id, notes)
            return Result(found.key, "secret", tuple(notes))
        notes.append(
            f"the {'cached' if cached else 'initial'} key {start.access_key_id} cannot read "
            f"{request.secret_id} ({refused.code}); using the credential chain"
        )
    try:
        found = read(None)
    except AwsError as exc:
        problems = [f"the credential chain: {exc}"]
        if refused is not None:
            problems.insert(0, f"the key {start.access_key_id if start else ''}: {refused}")
        raise CredentialsUnavailable(
            f"cannot read {request.secret_id}: " + "; ".join(problems) + ". Fix: give "
            f"--profile (or {INITIAL_KEY_ID_ENV}/{INITIAL_SECRET_ENV}) with credentials "
            "that may read the secret, such as the user's current key"
        ) from exc
    _remember(request, cached, found.key, found.version_id, notes)
    return Result(found.key, "secret", tuple(notes))


def _remember(
    request: Request, cached: CachedKey | None, key: KeyPair, version_id: str, notes: list[str]
) -> None:
    """Write the cache when what it holds changed (another key, or a newer version).

    A cache that cannot be written (a read-only volume, a full disk) costs the next call a
    bootstrap, not this one its key: a note, and the key is handed out all the same.
    """
    if cached is not None and cached.key == key and cached.version_id == version_id:
        return
    try:
        credential_cache.save(request.cache_path, CachedKey(request.secret_id, key, version_id))
    except OSError as exc:
        notes.append(
            f"cannot write the cache {request.cache_path}: {exc.strerror or exc}; the next "
            "call reads the secret with the credential chain again"
        )


def process_output(key: KeyPair, expiration_minutes: int, clock: Clock = utc_now) -> str:
    """The JSON the AWS CLI and SDKs read from a credential_process (Version 1)."""
    body: dict[str, object] = {
        "Version": 1,
        "AccessKeyId": key.access_key_id,
        "SecretAccessKey": key.secret_access_key.reveal(),
    }
    if expiration_minutes:
        expires = clock() + timedelta(minutes=expiration_minutes)
        body["Expiration"] = _iso_z(expires)
    return json.dumps(body)


def _iso_z(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def run(request: Request, env: Mapping[str, str] | None = None) -> Result:
    """Read the secret through AWS (the cached key, then the chain) and return the key."""
    environ = os.environ if env is None else env
    if environ.get(ACTIVE_ENV):
        raise CredentialsUnavailable(
            "keyrotate credentials was started by its own credential chain (a bootstrap "
            "profile whose credential_process is this helper). Fix: give --profile naming "
            f"another profile, or {INITIAL_KEY_ID_ENV}/{INITIAL_SECRET_ENV}"
        )
    chain = session_for(None, profile=request.profile, region=request.region)
    region = region_of(request.secret_id, request.region, chain.region_name)

    def read(key: KeyPair | None) -> SecretKey:
        session = chain if key is None else session_for(key, profile=None, region=region)
        return read_key(session, request.secret_id, region)

    os.environ[ACTIVE_ENV] = "1"  # seen by any credential_process the chain starts
    try:
        return fetch(request, read)
    finally:
        os.environ.pop(ACTIVE_ENV, None)

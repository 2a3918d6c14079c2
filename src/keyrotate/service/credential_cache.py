"""The credential helper's cache: the key it last handed out, kept on disk between calls.

It holds a secret access key: that is its purpose (the key reads the secret that names the
next one), so it is written like one. The file is created with mode 0600 inside a directory
the helper creates with 0700, written to a temporary file beside it and renamed over the old
one, so a reader never sees half a file and two helpers racing leave one whole file. Nothing
here logs or prints the key; a cache that cannot be read is reported by its path only.

Its content is JSON::

    {"SecretId": "keyrotate/123456789012/svc-app", "AccessKeyId": "AKIA...",
     "SecretAccessKey": "...", "VersionId": "..."}

A cache for another secret, or one that is not such JSON, counts as no cache: the helper
fetches again from the credential chain.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from keyrotate.aws.own_secret import KeyPair
from keyrotate.domain.secret import SecretText

FILE_MODE = 0o600
DIR_MODE = 0o700
_UNSAFE = re.compile(r"[^A-Za-z0-9_.=@+-]")


@dataclass(frozen=True, slots=True)
class CachedKey:
    secret_id: str
    key: KeyPair
    version_id: str


class CacheUnreadable(Exception):
    """The cache exists but is not a cache of this secret; the message names the path only."""


def default_cache_path(secret_id: str, env: dict[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/keyrotate/credentials/<secret id>.json`` (else ``~/.cache``)."""
    environ = os.environ if env is None else env
    base = Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "keyrotate" / "credentials" / f"{_UNSAFE.sub('_', secret_id)}.json"


def load(path: Path, secret_id: str) -> CachedKey | None:
    """The cached key for ``secret_id``; None if there is no cache file.

    Raises :class:`CacheUnreadable` if the file is there but unusable (corrupt, another
    secret's, unreadable): the caller treats it as absent and overwrites it.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CacheUnreadable(f"cannot read the cache {path}: {exc.strerror}") from None
    try:
        body = json.loads(text)
        cached = CachedKey(
            secret_id=_text(body, "SecretId"),
            key=KeyPair(_text(body, "AccessKeyId"), SecretText(_text(body, "SecretAccessKey"))),
            version_id=_text(body, "VersionId"),
        )
    except (ValueError, TypeError, KeyError):
        raise CacheUnreadable(f"the cache {path} is not a keyrotate credentials cache") from None
    if cached.secret_id != secret_id:
        raise CacheUnreadable(f"the cache {path} holds the key of {cached.secret_id}")
    return cached


def _text(body: object, name: str) -> str:
    if not isinstance(body, dict):
        raise TypeError("not an object")
    value = body[name]
    if not isinstance(value, str) or not value:
        raise TypeError(f"{name} is not text")
    return value


def save(path: Path, cached: CachedKey) -> None:
    """Write ``cached`` to ``path`` atomically, mode 0600 (its directory made 0700 if new)."""
    _make_dirs(path.parent)
    body = json.dumps(
        {
            "SecretId": cached.secret_id,
            "AccessKeyId": cached.key.access_key_id,
            "SecretAccessKey": cached.key.secret_access_key.reveal(),
            "VersionId": cached.version_id,
        }
    )
    # mkstemp creates the file with 0600 whatever the umask: the key is never readable by
    # others, not even for the moment before a chmod.
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, FILE_MODE)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _make_dirs(directory: Path) -> None:
    """Create the missing directories 0700; leave existing ones (a shared volume) alone."""
    missing = [d for d in (directory, *directory.parents) if not d.exists()]
    for created in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another helper made it just now
            created.mkdir(mode=DIR_MODE)
            created.chmod(DIR_MODE)  # mkdir's mode is reduced by the umask

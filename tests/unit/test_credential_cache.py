"""The credential helper's cache file and its decisions (keyrotate.service.credentials).

The reader is a plain function standing in for "read the secret with this key": the AWS side
is tested end to end in tests/functional/test_consumer_credentials.py.
"""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from keyrotate.aws.own_secret import KeyPair, SecretKey
from keyrotate.domain.errors import AwsError, InputError
from keyrotate.domain.secret import SecretText
from keyrotate.service import credential_cache, credentials
from keyrotate.service.credential_cache import CachedKey, CacheUnreadable

SECRET_ID = "keyrotate/123456789012/svc-app"
OLD = KeyPair("AKIAOLDOLDOLDOLDOLD1", SecretText("old-secret-half"))
NEW = KeyPair("AKIANEWNEWNEWNEWNEW2", SecretText("new-secret-half"))


def _cached(key: KeyPair = OLD, version: str = "v1") -> CachedKey:
    return CachedKey(SECRET_ID, key, version)


# the file ------------------------------------------------------------------------------------
def test_the_cache_is_written_0600_in_a_new_0700_directory_whatever_the_umask(
    tmp_path: Path,
) -> None:
    path = tmp_path / "a" / "b" / "cache.json"
    previous = os.umask(0o022)
    try:
        credential_cache.save(path, _cached())
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o700
    assert credential_cache.load(path, SECRET_ID) == _cached()


def test_an_existing_directory_keeps_its_mode(tmp_path: Path) -> None:
    shared = tmp_path / "volume"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    credential_cache.save(shared / "cache.json", _cached())
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755


def test_a_failed_write_leaves_the_previous_cache_whole_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "cache.json"
    credential_cache.save(path, _cached(OLD, "v1"))

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space"):
        credential_cache.save(path, _cached(NEW, "v2"))
    assert credential_cache.load(path, SECRET_ID) == _cached(OLD, "v1")
    assert [p.name for p in tmp_path.iterdir()] == ["cache.json"]


def test_a_rewrite_replaces_the_file_and_stays_0600(tmp_path: Path) -> None:
    path = tmp_path / "cache.json"
    credential_cache.save(path, _cached(OLD, "v1"))
    path.chmod(0o644)  # someone loosened it
    credential_cache.save(path, _cached(NEW, "v2"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert credential_cache.load(path, SECRET_ID) == _cached(NEW, "v2")


@pytest.mark.parametrize(
    "content",
    [
        "",
        "{not json",
        "[]",
        json.dumps({"SecretId": SECRET_ID, "AccessKeyId": "AKIA"}),
        json.dumps(
            {"SecretId": SECRET_ID, "AccessKeyId": 7, "SecretAccessKey": "s", "VersionId": "v"}
        ),
    ],
)
def test_a_corrupt_cache_is_unreadable_and_named_by_its_path_only(
    tmp_path: Path, content: str
) -> None:
    path = tmp_path / "cache.json"
    path.write_text(content)
    with pytest.raises(CacheUnreadable) as raised:
        credential_cache.load(path, SECRET_ID)
    assert str(path) in str(raised.value)


def test_another_secrets_cache_is_not_used(tmp_path: Path) -> None:
    path = tmp_path / "cache.json"
    credential_cache.save(path, CachedKey("keyrotate/123456789012/other", OLD, "v1"))
    with pytest.raises(CacheUnreadable, match="other"):
        credential_cache.load(path, SECRET_ID)


def test_no_cache_file_is_no_cache(tmp_path: Path) -> None:
    assert credential_cache.load(tmp_path / "absent.json", SECRET_ID) is None


def test_the_default_path_is_under_the_cache_home_with_a_safe_name() -> None:
    path = credential_cache.default_cache_path(
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:keyrotate/x", {"XDG_CACHE_HOME": "/c"}
    )
    assert path.parent == Path("/c/keyrotate/credentials")
    assert "/" not in path.name
    assert ":" not in path.name


# the decisions -------------------------------------------------------------------------------
class Secret:
    """A user's secret: which key it holds, and which callers may read it."""

    def __init__(self, holds: KeyPair | None, readers: set[str | None]) -> None:
        self.holds = holds
        self.readers = readers  # key ids that authenticate; None: the credential chain
        self.reads: list[str | None] = []

    def read(self, key: KeyPair | None) -> SecretKey:
        caller = None if key is None else key.access_key_id
        self.reads.append(caller)
        if caller not in self.readers:
            raise AwsError("secretsmanager:GetSecretValue", "InvalidClientTokenId", "refused")
        if self.holds is None:
            raise AwsError("secretsmanager:GetSecretValue", "ResourceNotFoundException", "none")
        return SecretKey(self.holds, f"version-of-{self.holds.access_key_id}", "arn:secret")


def _request(tmp_path: Path, initial: KeyPair | None = None) -> credentials.Request:
    return credentials.Request(SECRET_ID, tmp_path / "cache.json", initial_key=initial)


def test_the_cached_key_reads_the_secret_and_a_rotation_replaces_the_cache(
    tmp_path: Path,
) -> None:
    request = _request(tmp_path)
    credential_cache.save(request.cache_path, _cached(OLD, f"version-of-{OLD.access_key_id}"))
    secret = Secret(holds=NEW, readers={OLD.access_key_id})
    result = credentials.fetch(request, secret.read)
    assert result.key == NEW
    assert secret.reads == [OLD.access_key_id]  # never the chain while the cached key works
    cached = credential_cache.load(request.cache_path, SECRET_ID)
    assert cached is not None
    assert cached.key == NEW


def test_a_corrupt_cache_means_reading_the_secret_with_the_chain(tmp_path: Path) -> None:
    request = _request(tmp_path)
    request.cache_path.write_text("{garbage")
    secret = Secret(holds=NEW, readers={None})
    result = credentials.fetch(request, secret.read)
    assert result.key == NEW
    assert secret.reads == [None]
    assert any("not a keyrotate credentials cache" in note for note in result.notes)
    assert credential_cache.load(request.cache_path, SECRET_ID) is not None  # rewritten


def test_a_refused_cached_key_falls_back_to_the_chain(tmp_path: Path) -> None:
    request = _request(tmp_path)
    credential_cache.save(request.cache_path, _cached(OLD))
    secret = Secret(holds=NEW, readers={None})  # OLD was deactivated
    result = credentials.fetch(request, secret.read)
    assert result.key == NEW
    assert secret.reads == [OLD.access_key_id, None]
    assert any("InvalidClientTokenId" in note for note in result.notes)


def test_before_the_first_rotation_the_initial_key_is_handed_out(tmp_path: Path) -> None:
    request = _request(tmp_path, initial=OLD)
    secret = Secret(holds=None, readers={OLD.access_key_id})
    assert credentials.fetch(request, secret.read).key == OLD
    cached = credential_cache.load(request.cache_path, SECRET_ID)
    assert cached is not None
    assert cached.key == OLD


def test_when_nothing_can_read_the_secret_the_error_names_both_and_no_secret(
    tmp_path: Path,
) -> None:
    request = _request(tmp_path)
    credential_cache.save(request.cache_path, _cached(OLD))
    secret = Secret(holds=NEW, readers=set())
    with pytest.raises(credentials.CredentialsUnavailable) as raised:
        credentials.fetch(request, secret.read)
    message = str(raised.value)
    assert OLD.access_key_id in message
    assert "credential chain" in message
    assert "secret-half" not in message


def test_the_output_is_version_1_with_an_expiration_an_hour_ahead() -> None:
    moment = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
    body = json.loads(credentials.process_output(NEW, 60, clock=lambda: moment))
    assert body == {
        "Version": 1,
        "AccessKeyId": NEW.access_key_id,
        "SecretAccessKey": "new-secret-half",
        "Expiration": "2026-05-01T11:00:00Z",
    }
    assert "Expiration" not in json.loads(credentials.process_output(NEW, 0))


@pytest.mark.parametrize("minutes", [-1, 5, 15, 24 * 60 + 1])
def test_an_expiration_the_sdks_would_refresh_at_once_is_refused(minutes: int) -> None:
    with pytest.raises(InputError, match="expiration"):
        credentials.check_expiration(minutes)


def test_half_an_initial_key_is_refused() -> None:
    with pytest.raises(InputError, match="KEYROTATE_INITIAL_SECRET_ACCESS_KEY"):
        credentials.initial_key_from({"KEYROTATE_INITIAL_ACCESS_KEY_ID": "AKIA1"})


def test_the_helper_refuses_to_start_itself_through_its_own_chain(tmp_path: Path) -> None:
    with pytest.raises(credentials.CredentialsUnavailable, match="its own credential chain"):
        credentials.run(_request(tmp_path), env={credentials.ACTIVE_ENV: "1"})


def test_a_cache_that_cannot_be_written_still_hands_out_the_key(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")  # the cache's directory is a file: every write fails
    request = credentials.Request(SECRET_ID, blocked / "cache.json")
    result = credentials.fetch(request, Secret(holds=NEW, readers={None}).read)
    assert result.key == NEW
    assert any("cannot write the cache" in note for note in result.notes)

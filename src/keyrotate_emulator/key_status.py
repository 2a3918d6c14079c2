"""An inactive or deleted IAM access key authenticates nothing, as in AWS; moto accepts both.

moto signs nothing it checks: a request signed with a key it knows is routed to the key's
account whatever the key's status, and a key it does not know (deleted, say) is taken for its
default account. AWS answers ``InvalidClientTokenId`` to both. A consumer that keeps using a
key the tool deactivated must see its calls fail, or tests would hide a broken rotation.

Only keys moto issued to IAM users are judged: STS session credentials and the fixed test
keys ("testing") that stand for the management account pass as before. A key counts as deleted
when the emulator saw it exist (routed a call with it, or issued it) and moto no longer has it.
"""

from __future__ import annotations

import threading
from typing import Any

_USER_KEY_PREFIX = "AKIA"  # IAM user keys; STS session keys start with ASIA


class KeyStatusCheck:
    """Remember which user keys existed; say whether one may sign a request now."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, str] = {}  # access key id -> account id, for keys that existed

    def usable(self, access_key_id: str | None) -> bool:
        if not access_key_id or not access_key_id.startswith(_USER_KEY_PREFIX):
            return True
        with self._lock:
            account = self._seen.get(access_key_id)
        if account is None:
            found = _find_key(access_key_id)
            if found is None:
                return True  # never seen: not a key of this emulator (a fixed test key)
            account, key = found
            with self._lock:
                self._seen[access_key_id] = account
        else:
            key = _key_in(account, access_key_id)
        if key is None:
            return False  # it existed and is gone: deleted
        if getattr(key, "role_arn", None) is not None:
            return True  # moto keeps assumed-role session keys here too
        return str(getattr(key, "status", "Active")) == "Active"

    def saw(self, account_id: str, access_key_id: str) -> None:
        """A key was issued in ``account_id`` (recorded even if deleted before its first use)."""
        with self._lock:
            self._seen[access_key_id] = account_id

    def forget(self) -> None:
        with self._lock:
            self._seen.clear()


def _find_key(access_key_id: str) -> tuple[str, Any] | None:
    from moto.iam.models import iam_backends  # the emulator's own process only

    for account_id, backends in list(iam_backends.items()):
        key = backends["global"].access_keys.get(access_key_id)
        if key is not None:
            return str(account_id), key
    return None


def _key_in(account_id: str, access_key_id: str) -> Any:
    from moto.iam.models import iam_backends

    try:
        return iam_backends[account_id]["global"].access_keys.get(access_key_id)
    except KeyError:
        return None

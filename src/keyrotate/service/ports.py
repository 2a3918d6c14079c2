"""What the service asks of IAM, of the secret store and of STS, as Protocols.

The AWS adapters (:class:`keyrotate.aws.iam.Iam`, :class:`keyrotate.aws.secrets.SecretStore`,
:func:`keyrotate.aws.verify.verify_key`) provide them; so, structurally, do the in-memory
fakes of the unit tests. Reads and writes are apart because the two halves of an account's
run need only one each: the scan reads, the enforce path writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from keyrotate.aws.iam import AuthorizationDetails, IamUser, NewKey, RawCredentialReport
from keyrotate.aws.secrets import SecretInfo
from keyrotate.domain.models import AccessKey, KeyStatus
from keyrotate.domain.results import SecretLocation
from keyrotate.domain.secret import SecretText


class IamReader(Protocol):
    """The reads of one account's scan: the directory, keys, last use, the credential report."""

    def authorization_details(self) -> AuthorizationDetails: ...

    def list_users(self) -> list[IamUser]: ...

    def user_tags(self, user_name: str) -> dict[str, str]: ...

    def group_members(self, group_name: str) -> set[str] | None: ...

    def access_keys(self, user_name: str, *, with_last_used: bool = True) -> list[AccessKey]: ...

    def last_used(self, key_id: str) -> datetime | None: ...

    def credential_report(self) -> RawCredentialReport: ...


class IamWriter(Protocol):
    """Every change the enforce path makes to a user: keys, tags, the read grant."""

    def create_key(self, user_name: str) -> NewKey: ...

    def set_key_status(self, user_name: str, key_id: str, status: KeyStatus) -> None: ...

    def delete_key(self, user_name: str, key_id: str) -> None: ...

    def tag_user(self, user_name: str, tags: Mapping[str, str]) -> None: ...

    def untag_user(self, user_name: str, keys: Iterable[str]) -> None: ...

    def ensure_policy_attached(self, user_name: str, policy_arn: str) -> bool: ...


class SecretLister(Protocol):
    """The scan's one read of the secret store: the tool's state, from tags (no value)."""

    def list_by_prefix(self, prefix: str) -> dict[str, SecretInfo]: ...


class SecretWriter(Protocol):
    """Storing a new key (the value written last) and tagging the state around it."""

    def store(
        self,
        name: str,
        *,
        value: Mapping[str, str],
        secret: SecretText,
        tags: Mapping[str, str],
        readers: Sequence[str],
    ) -> SecretLocation: ...

    def tag(self, name: str, tags: Mapping[str, str]) -> None: ...


class KeyVerifier(Protocol):
    """Proves a new key authenticates: ``None`` when it does, else why not (no secret in it)."""

    def __call__(
        self,
        key_id: str,
        secret: SecretText,
        *,
        region: str,
        expected_arn: str | None = None,
        first_wait: float = 1.0,
    ) -> str | None: ...

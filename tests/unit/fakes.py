"""In-memory stand-ins for the two ports the enforce path writes through: IAM and the secret
store. They keep just enough state to be checked (keys, user tags, attached policies,
secrets with tags and a value) and log every call, so each branch of
:mod:`keyrotate.service.execute` can be unit-tested in milliseconds.

They stand in for keyrotate's own adapters (``keyrotate.aws.iam.Iam``,
``keyrotate.aws.secrets.SecretStore``) and offer, structurally, the write-side ports the enforce
path is typed with (``keyrotate.service.ports.IamWriter``, ``SecretWriter``); never a boto3
client: the adapters themselves,
and everything AWS does on the wire, are tested against the moto server (tests/functional,
tests/faults). A call can be made to fail with :meth:`FakeIam.fail` / :meth:`FakeSecrets.fail`,
raising the same error types the adapters raise.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from keyrotate.aws.iam import NewKey
from keyrotate.domain.errors import AwsError, KeySlotsFull
from keyrotate.domain.models import AccessKey, KeyStatus
from keyrotate.domain.results import SecretLocation
from keyrotate.domain.secret import SecretText

_SERIAL = itertools.count(1)


def new_key_id() -> str:
    return f"AKIAFAKE{next(_SERIAL):012d}"


@dataclass
class _Calls:
    """The log of calls made and the failures armed, shared by both fakes' bookkeeping."""

    log: list[tuple[str, ...]] = field(default_factory=list)
    armed: dict[str, list[AwsError]] = field(default_factory=dict)

    def enter(self, operation: str, *args: str) -> None:
        self.log.append((operation, *args))
        queue = self.armed.get(operation)
        if queue:
            raise queue.pop(0)

    def fail(self, operation: str, error: AwsError, times: int = 1) -> None:
        self.armed.setdefault(operation, []).extend([error] * times)

    def names(self) -> list[str]:
        return [entry[0] for entry in self.log]


class FakeIam:
    """IAM users with keys, tags and attached policies; two keys per user, as IAM allows."""

    def __init__(self, clock: datetime) -> None:
        self.now = clock
        self.keys: dict[str, list[AccessKey]] = {}
        self.tags: dict[str, dict[str, str]] = {}
        self.policies: dict[str, set[str]] = {}
        self.calls = _Calls()

    def add_user(self, name: str, *keys: AccessKey, tags: Mapping[str, str] = {}) -> None:
        self.keys[name] = list(keys)
        self.tags[name] = dict(tags)
        self.policies[name] = set()

    def fail(self, operation: str, error: AwsError, times: int = 1) -> None:
        self.calls.fail(operation, error, times)

    def status(self, user_name: str) -> dict[str, KeyStatus]:
        return {k.key_id: k.status for k in self.keys[user_name]}

    # the write side of keyrotate.aws.iam.Iam, as the enforce path calls it
    def create_key(self, user_name: str) -> NewKey:
        self.calls.enter("CreateAccessKey", user_name)
        if len(self.keys[user_name]) >= 2:
            raise KeySlotsFull("iam:CreateAccessKey", "LimitExceeded", "two keys already")
        key = AccessKey(new_key_id(), KeyStatus.ACTIVE, self.now)
        self.keys[user_name].append(key)
        # a made-up value in the shape of a secret access key; never compared by content
        return NewKey(user_name, key.key_id, SecretText("s" * 40), self.now)

    def set_key_status(self, user_name: str, key_id: str, status: KeyStatus) -> None:
        self.calls.enter("UpdateAccessKey", user_name, key_id, status.value)
        self.keys[user_name] = [
            replace(k, status=status) if k.key_id == key_id else k for k in self.keys[user_name]
        ]

    def delete_key(self, user_name: str, key_id: str) -> None:
        self.calls.enter("DeleteAccessKey", user_name, key_id)
        self.keys[user_name] = [k for k in self.keys[user_name] if k.key_id != key_id]

    def tag_user(self, user_name: str, tags: Mapping[str, str]) -> None:
        self.calls.enter("TagUser", user_name, *sorted(tags))
        self.tags[user_name].update(tags)

    def untag_user(self, user_name: str, keys: Iterable[str]) -> None:
        names = sorted(set(keys))
        self.calls.enter("UntagUser", user_name, *names)
        for name in names:
            self.tags[user_name].pop(name, None)

    def ensure_policy_attached(self, user_name: str, policy_arn: str) -> bool:
        self.calls.enter("AttachUserPolicy", user_name, policy_arn)
        attached = policy_arn not in self.policies[user_name]
        self.policies[user_name].add(policy_arn)
        return attached


@dataclass
class FakeSecret:
    tags: dict[str, str]
    value_key_id: str | None = None  # the AccessKeyId of the value written last


class FakeSecrets:
    """Secrets by name: tags, and which key id the value holds (never the secret itself)."""

    def __init__(self, account_id: str = "111122223333", region: str = "us-east-1") -> None:
        self.account_id = account_id
        self.region = region
        self.secrets: dict[str, FakeSecret] = {}
        self.calls = _Calls()

    def fail(self, operation: str, error: AwsError, times: int = 1) -> None:
        self.calls.fail(operation, error, times)

    def store(
        self,
        name: str,
        *,
        value: Mapping[str, str],
        secret: SecretText,
        tags: Mapping[str, str],
        readers: Sequence[str],
    ) -> SecretLocation:
        self.calls.enter("StoreSecret", name, value["AccessKeyId"])
        assert secret.reveal(), "the value must carry the key's secret"
        entry = self.secrets.setdefault(name, FakeSecret({}))
        entry.tags.update(tags)
        entry.value_key_id = value["AccessKeyId"]
        arn = f"arn:aws:secretsmanager:{self.region}:{self.account_id}:secret:{name}-AbCdEf"
        return SecretLocation(name, arn, self.region, self.account_id)

    def tag(self, name: str, tags: Mapping[str, str]) -> None:
        self.calls.enter("TagResource", name, *sorted(tags))
        self.secrets.setdefault(name, FakeSecret({})).tags.update(tags)


class FakeVerifier:
    """Stands in for the STS check; records what it was asked, answers ``problem``."""

    def __init__(self, problem: str | None = None) -> None:
        self.problem = problem
        self.checked: list[str] = []

    def __call__(
        self,
        key_id: str,
        secret: SecretText,
        *,
        region: str,
        expected_arn: str | None = None,
        first_wait: float = 1.0,
    ) -> str | None:
        self.checked.append(key_id)
        return self.problem


def denied(operation: str) -> AwsError:
    return AwsError(operation, "AccessDenied", "not allowed")

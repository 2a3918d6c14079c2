"""Build emulated AWS state: an organization, member accounts, IAM users, groups and keys.

Everything the API can do goes through the API over HTTP (real boto3 clients against the
emulator), so seeding exercises the same paths as the tool. What no API can do, making a key
look 95 days old or used yesterday, goes through moto's backend objects, which live in the
process that serves the emulator: :func:`age_key` and :func:`seed_users` must run there (in
the child for :class:`~keyrotate_emulator.process.EmulatorProcess`, through ``call``).

Calls into member accounts use ``sts.assume_role`` into ``arn:aws:iam::<member>:role/<name>``
(moto routes the returned credentials to the member's backend, and does not check trust).
``MOTO_ACCOUNT_ID`` is never set: it would override that routing.

This package is the other side of the wire (it plays AWS), so it builds its own boto3 clients
instead of going through ``keyrotate.aws``.
"""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_organizations import OrganizationsClient

MANAGEMENT_ACCOUNT_ID = "123456789012"  # moto's default account: the caller of "testing" keys
REGION = "us-east-1"
_TEST_KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
_CONFIG = Config(retries={"total_max_attempts": 3, "mode": "standard"})

Credentials = Mapping[str, str]
SeedVia = Literal["backend", "api"]


# clients ---------------------------------------------------------------------------------
def management_credentials() -> dict[str, str]:
    """Fake keys that moto maps to its default account, the organization's management."""
    return dict(_TEST_KEYS)


_SESSION_LOCK = threading.Lock()
_SESSION: list[boto3.session.Session] = []


def _client(endpoint: str, service: str, credentials: Credentials | None) -> Any:
    """A client from one shared session: a new session reloads botocore's models (0.2 s)."""
    creds = dict(credentials) if credentials is not None else management_credentials()
    with _SESSION_LOCK:  # creating clients from one session is not thread-safe
        if not _SESSION:
            _SESSION.append(boto3.session.Session())
        return _SESSION[0].client(
            service,  # type: ignore[call-overload]
            endpoint_url=endpoint,
            region_name=REGION,
            config=_CONFIG,
            **creds,
        )


def assume_member_role(endpoint: str, account_id: str, role_name: str) -> dict[str, str]:
    """Credentials for ``account_id`` as the tool would get them; the management's own keys."""
    if account_id == MANAGEMENT_ACCOUNT_ID:
        return management_credentials()
    sts = _client(endpoint, "sts", None)
    response = sts.assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/{role_name}",
        RoleSessionName="keyrotate-emulator-seed",
    )
    creds = response["Credentials"]
    return {
        "aws_access_key_id": creds["AccessKeyId"],
        "aws_secret_access_key": creds["SecretAccessKey"],
        "aws_session_token": creds["SessionToken"],
    }


def iam_client(endpoint: str, account_id: str, role_name: str) -> IAMClient:
    client: IAMClient = _client(
        endpoint, "iam", assume_member_role(endpoint, account_id, role_name)
    )
    return client


# organization ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SeededAccount:
    """An account as seeded: ``ou_path`` like ``/Root/Workloads/Prod`` (the inventory's form)."""

    account_id: str
    name: str
    email: str
    ou_path: str
    status: str = "ACTIVE"


class OrganizationBuilder:
    """Create an organization through the Organizations API, OU paths created on demand."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self._org: OrganizationsClient = _client(endpoint, "organizations", None)
        self._org.create_organization(FeatureSet="ALL")
        root = self._org.list_roots()["Roots"][0]
        self.root_id: str = root["Id"]
        self._root_path = f"/{root.get('Name') or 'Root'}"
        self._ou_ids: dict[str, str] = {self._root_path: self.root_id}
        described = self._org.describe_organization()["Organization"]
        management = self._org.describe_account(AccountId=described["MasterAccountId"])
        self.management = SeededAccount(
            account_id=described["MasterAccountId"],
            name=management["Account"].get("Name", "management"),
            email=management["Account"].get("Email", ""),
            ou_path=self._root_path,
        )

    @property
    def ou_paths(self) -> tuple[str, ...]:
        """Every OU path created so far, the root's included."""
        return tuple(sorted(self._ou_ids))

    def ou(self, path: str) -> str:
        """The id of the OU at ``path`` (``Workloads/Prod`` or ``/Root/Workloads/Prod``)."""
        full = self.full_path(path)
        if full in self._ou_ids:
            return self._ou_ids[full]
        parent_path, _, name = full.rpartition("/")
        parent_id = self.ou(parent_path)
        created = self._org.create_organizational_unit(ParentId=parent_id, Name=name)
        self._ou_ids[full] = created["OrganizationalUnit"]["Id"]
        return self._ou_ids[full]

    def full_path(self, path: str) -> str:
        stripped = path.strip("/")
        root_name = self._root_path.strip("/")
        if not stripped or stripped == root_name:
            return self._root_path
        if stripped.startswith(f"{root_name}/"):
            return f"/{stripped}"
        return f"{self._root_path}/{stripped}"

    def account(self, name: str, email: str, ou_path: str = "/") -> SeededAccount:
        """Create a member account (moto creates it at once) and move it into its OU."""
        status = self._org.create_account(AccountName=name, Email=email)["CreateAccountStatus"]
        account_id = status["AccountId"]
        full = self.full_path(ou_path)
        if full != self._root_path:
            self._org.move_account(
                AccountId=account_id, SourceParentId=self.root_id, DestinationParentId=self.ou(full)
            )
        return SeededAccount(account_id, name, email, full)

    def close(self, account: SeededAccount) -> SeededAccount:
        """Close an account: Organizations then lists it as SUSPENDED."""
        self._org.close_account(AccountId=account.account_id)
        state = self._org.describe_account(AccountId=account.account_id)["Account"]
        status = str(state.get("State") or state.get("Status") or "SUSPENDED")
        return SeededAccount(
            account.account_id, account.name, account.email, account.ou_path, status
        )


# users and keys --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class KeySpec:
    """A key to seed: its age, status and when it was last used (None: never)."""

    age_days: float
    active: bool = True
    used_days_ago: float | None = None


@dataclass(frozen=True, slots=True)
class UserSpec:
    """A user to seed. Keys are created oldest first, as they would have been in real life."""

    name: str
    keys: Sequence[KeySpec] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    groups: Sequence[str] = ()
    path: str = "/"


@dataclass(frozen=True, slots=True)
class SeededKey:
    key_id: str
    created: datetime
    active: bool
    last_used: datetime | None


def _iam_backend(account_id: str) -> Any:
    from moto.iam.models import iam_backends

    return iam_backends[account_id]["global"]


def _naive_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"datetimes must be timezone-aware UTC, got naive {moment!r}")
    return moment.astimezone(UTC).replace(tzinfo=None)


def age_key(
    account_id: str,
    key_id: str,
    created: datetime,
    last_used: datetime | None = None,
    *,
    service: str = "iam",
    region: str = REGION,
) -> None:
    """Make a key look created at ``created`` and last used at ``last_used`` (None: never).

    Runs in the process that serves the emulator. Changes what ListAccessKeys,
    GetAccessKeyLastUsed and the credential report say.
    """
    from moto.iam.models import AccessKeyLastUsed

    backend = _iam_backend(account_id)
    key = _live_key(backend, key_id)
    if key is None:
        raise LookupError(f"no access key {key_id} in account {account_id} of the emulator")
    key.create_date = _naive_utc(created)
    key.last_used = (
        None
        if last_used is None
        else AccessKeyLastUsed(timestamp=_naive_utc(last_used), service=service, region=region)
    )


def _live_key(backend: Any, key_id: str) -> Any:
    """The AccessKey object the user holds (the one every response is built from).

    moto keeps the same object in ``backend.access_keys`` and on the user; look it up there
    first (a scan of every user per key made bulk seeding quadratic).
    """
    key = backend.access_keys.get(key_id)
    holder = backend.users.get(key.user_name) if key is not None else None
    if holder is not None and any(k is key for k in holder.access_keys):
        return key
    for user in list(backend.users.values()):
        for candidate in user.access_keys:
            if candidate.access_key_id == key_id:
                return candidate
    return None


def seed_users(
    endpoint: str,
    account_id: str,
    specs: Iterable[UserSpec],
    now: datetime,
    *,
    via: SeedVia = "backend",
    role_name: str = "keyrotate-member",
) -> dict[str, list[SeededKey]]:
    """Create users, tags, groups and aged keys in ``account_id``; return each user's keys.

    ``via="backend"`` creates them directly in moto's backend: about 1,000 users a second,
    for bulk seeding and benchmarks. ``via="api"`` makes every call over HTTP (through an
    assumed role for a member account), about 250 calls a second. Either way keys are then
    aged in the backend, so both need the emulator in this process.
    """
    specs = list(specs)
    if via == "api":
        created = _create_over_api(iam_client(endpoint, account_id, role_name), specs)
    else:
        created = _create_in_backend(account_id, specs)
    backend = _iam_backend(account_id)
    seeded: dict[str, list[SeededKey]] = {}
    for spec in specs:
        keys: list[SeededKey] = []
        for key_spec, key_id in zip(_oldest_first(spec.keys), created[spec.name], strict=True):
            born = now - timedelta(days=key_spec.age_days)
            used = (
                None
                if key_spec.used_days_ago is None
                else now - timedelta(days=key_spec.used_days_ago)
            )
            age_key(account_id, key_id, born, used)
            keys.append(SeededKey(key_id, born, key_spec.active, used))
        seeded[spec.name] = keys
        oldest = min((k.created for k in keys), default=now - timedelta(days=1))
        # A user exists before its keys: keeps the credential report believable.
        backend.users[spec.name].create_date = _naive_utc(oldest - timedelta(hours=1))
    return seeded


def _oldest_first(keys: Sequence[KeySpec]) -> list[KeySpec]:
    if len(keys) > 2:
        raise ValueError(f"IAM allows two access keys per user, the spec has {len(keys)}")
    return sorted(keys, key=lambda k: -k.age_days)


def _create_in_backend(account_id: str, specs: Sequence[UserSpec]) -> dict[str, list[str]]:
    backend = _iam_backend(account_id)
    created: dict[str, list[str]] = {}
    for spec in specs:
        tags = [{"Key": k, "Value": v} for k, v in spec.tags.items()]
        backend.create_user(REGION, spec.name, path=spec.path, tags=tags)
        for group in spec.groups:
            if group not in backend.groups:
                backend.create_group(group)
            backend.add_user_to_group(group, spec.name)
        created[spec.name] = [
            backend.create_access_key(
                spec.name, status="Active" if k.active else "Inactive"
            ).access_key_id
            for k in _oldest_first(spec.keys)
        ]
    return created


def _create_over_api(iam: IAMClient, specs: Sequence[UserSpec]) -> dict[str, list[str]]:
    existing_groups: set[str] = set()
    created: dict[str, list[str]] = {}
    for spec in specs:
        tags = [{"Key": k, "Value": v} for k, v in spec.tags.items()]
        if tags:
            iam.create_user(UserName=spec.name, Path=spec.path, Tags=tags)  # type: ignore[arg-type]
        else:
            iam.create_user(UserName=spec.name, Path=spec.path)
        for group in spec.groups:
            if group not in existing_groups:
                with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
                    iam.create_group(GroupName=group)
                existing_groups.add(group)
            iam.add_user_to_group(GroupName=group, UserName=spec.name)
        key_ids: list[str] = []
        for key_spec in _oldest_first(spec.keys):
            key_id = iam.create_access_key(UserName=spec.name)["AccessKey"]["AccessKeyId"]
            if not key_spec.active:
                iam.update_access_key(UserName=spec.name, AccessKeyId=key_id, Status="Inactive")
            key_ids.append(key_id)
        created[spec.name] = key_ids
    return created


def create_member_roles(endpoint: str, account_ids: Iterable[str], role_name: str) -> None:
    """Give each account the role the tool assumes, through the API, so an account looks set
    up. moto does not check trust: emulate an account without the role with a fault instead.
    """
    trust = (
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":'
        f'{{"AWS":"arn:aws:iam::{MANAGEMENT_ACCOUNT_ID}:root"}},"Action":"sts:AssumeRole"}}]}}'
    )
    for account_id in account_ids:
        iam_client(endpoint, account_id, role_name).create_role(
            RoleName=role_name,
            AssumeRolePolicyDocument=trust,
            Description="keyrotate member role (emulator)",
        )


# KMS ---------------------------------------------------------------------------------------
def create_multi_region_key(
    account_id: str,
    region: str,
    replica_regions: Sequence[str] = (),
    *,
    description: str = "",
) -> str:
    """A multi-Region KMS key as AWS makes it, with its replicas; returns the primary's ARN.

    AWS writes a multi-Region key id as ``mrk-`` and 32 hex digits; moto as ``mrk-`` and a
    UUID, which keyrotate's settings and the emulator's KMS check (rightly) do not accept. The
    key is made by moto and given an AWS-shaped id before anything refers to it; each replica
    (moto's ReplicateKey: the same id, the ARN with the replica's region) is made after.
    Runs in the process that serves the emulator, like :func:`age_key`.
    """
    from moto.kms.models import kms_backends

    backend = kms_backends[account_id][region]
    key = backend.create_key(
        policy=None,
        key_usage="ENCRYPT_DECRYPT",
        key_spec="SYMMETRIC_DEFAULT",
        description=description,
        tags=None,
        multi_region=True,
    )
    aws_id = f"mrk-{uuid.uuid4().hex}"
    del backend.keys[key.id]
    key.arn = key.arn.replace(key.id, aws_id)
    key.multi_region_configuration["PrimaryKey"]["Arn"] = key.arn
    key.id = aws_id
    backend.keys[aws_id] = key
    for replica_region in replica_regions:
        backend.replicate_key(aws_id, replica_region)
    return str(key.arn)


def read_own_secret_policy(account_id: str) -> str:
    """What member-role.yaml deploys: a user may read exactly its own secret."""
    resource = (
        f"arn:aws:secretsmanager:*:{account_id}:secret:keyrotate/{account_id}/${{aws:username}}-*"
    )
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                    "Resource": resource,
                }
            ],
        }
    )

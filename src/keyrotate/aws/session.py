"""Sessions: the caller's own, and one assumed-role session per member account.

Why it looks like this:

- **Endpoints are never written here.** boto3 reads ``AWS_ENDPOINT_URL`` (and the profile's
  ``endpoint_url``) by itself; that is how tests and the demo reach the moto server.
- **The partition comes from the region** (botocore's endpoint data), so the role ARN is
  ``arn:aws-us-gov:iam::…`` in GovCloud and ``arn:aws-cn:iam::…`` in China.
- **Credentials refresh by themselves.** Each assumed role is wrapped in botocore's
  ``RefreshableCredentials``; botocore assumes the role again shortly before the credentials
  expire, so a run longer than the role's session duration keeps working with no
  bookkeeping here. The first AssumeRole happens in :meth:`AccountSessions.for_account`, so
  an account whose role cannot be assumed fails there, with the account and the role ARN.
- **Thread safety.** Runs fan out over accounts in threads. botocore clients are safe to
  share between threads; sessions are not. So every session and client is created under one
  lock, exactly once per (account, service, region), and handed out to every thread.

Example::

    base = base_session(profile=None, region="eu-west-1")
    sessions = AccountSessions(base, "keyrotate-member", region="eu-west-1",
                               session_name=role_session_name(run_id))
    iam = sessions.client("111122223333", "iam")   # the same object on every call
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, overload

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import CredentialProvider, CredentialResolver, RefreshableCredentials
from botocore.exceptions import BotoCoreError, ClientError

from keyrotate.aws.errors import aws_error, error_message, translate
from keyrotate.aws.regions import partition_for_region
from keyrotate.domain.errors import InputError

if TYPE_CHECKING:
    from botocore.credentials import Credentials
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_organizations import OrganizationsClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_ses import SESClient
    from mypy_boto3_ssm import SSMClient
    from mypy_boto3_sts import STSClient

PERMISSIONS: tuple[str, ...] = ("sts:AssumeRole", "sts:GetCallerIdentity")

DEFAULT_DURATION_SECONDS = 3600
# AssumeRole accepts 15 minutes to 12 hours; above 1 hour the role's MaxSessionDuration must
# allow it, and role chaining (a Lambda role assuming a member role) caps it at 1 hour.
MIN_DURATION_SECONDS = 900
MAX_DURATION_SECONDS = 43200

MAX_POOL_CONNECTIONS = 64

_ACCOUNT_ID = re.compile(r"^\d{12}$")
_ROLE_NAME = re.compile(r"^(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}$")
_SESSION_NAME = re.compile(r"^[\w+=,.@-]{2,64}$")
_SESSION_NAME_INVALID = re.compile(r"[^\w+=,.@-]")
_EXTERNAL_ID = re.compile(r"^[\w+=,.@:/-]{2,1224}$")


def retry_config(max_attempts: int = 10, mode: str = "adaptive") -> Config:
    """botocore's own retries (throttling, 5xx, timeouts) with timeouts that fail a dead link.

    ``adaptive`` adds client-side rate limiting on top of ``standard``: Organizations and IAM
    throttle hard when many accounts run at once.
    """
    if mode not in ("standard", "adaptive"):
        raise InputError("retry mode", mode, 'use "standard" or "adaptive"')
    if max_attempts < 1:
        raise InputError("max_attempts", max_attempts, "use 1 (no retry) or more")
    retry_mode: Literal["standard", "adaptive"] = "standard" if mode == "standard" else "adaptive"
    return Config(
        retries={"total_max_attempts": max_attempts, "mode": retry_mode},
        connect_timeout=10,
        read_timeout=60,
        user_agent_extra="keyrotate",
        # One client serves an account's users at once (UserWorkers, up to 32), and the
        # central store's every account's: past botocore's 10 pooled connections, each call
        # would open a connection and throw it away (with a warning).
        max_pool_connections=MAX_POOL_CONNECTIONS,
    )


def base_session(profile: str | None, region: str | None) -> boto3.Session:
    """The caller's session from the standard credential chain (env, profile, SSO, role)."""
    try:
        return boto3.Session(profile_name=profile, region_name=region)
    except BotoCoreError as exc:  # ProfileNotFound and friends
        raise InputError(
            "profile", profile, f"{exc}; name a profile from ~/.aws/config or unset it"
        ) from exc


_OUTSIDE_RUN = Config(retries={"mode": "standard"}, user_agent_extra="keyrotate")


def service_client(
    service: str, session: boto3.Session | None = None, region: str | None = None
) -> Any:
    """A client outside any account's run (mail, templates, parameters), with retries.

    Callers that retry themselves (the notifier) stay bounded: standard mode, botocore's
    default of 3 attempts unless AWS_MAX_ATTEMPTS says otherwise.
    """
    return (session or boto3.Session()).client(
        service,
        region_name=region or None,
        config=_OUTSIDE_RUN,  # type: ignore[call-overload]
    )


def role_arn(partition: str, account_id: str, role_name: str) -> str:
    return f"arn:{partition}:iam::{account_id}:role/{role_name}"


def role_session_name(run_id: str, prefix: str = "keyrotate") -> str:
    """A RoleSessionName that shows in CloudTrail who acted: ``keyrotate-<run id>``.

    Characters STS refuses become ``-`` and the result is cut to STS's 64-character limit.
    """
    name = _SESSION_NAME_INVALID.sub("-", f"{prefix}-{run_id}" if run_id else prefix)
    return name[:64]


def check_account_id(account_id: str, field: str = "account id") -> str:
    if not _ACCOUNT_ID.match(account_id):
        raise InputError(field, account_id, "an AWS account id is exactly 12 digits")
    return account_id


class _FixedProvider(CredentialProvider):
    """Hands a session its (refreshable) credentials instead of the default chain."""

    METHOD = "keyrotate-assume-role"

    def __init__(self, credentials: Credentials) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> Credentials:
        return self._credentials


class AccountSessions:
    """One session per account (the member role assumed there) and one client per service.

    ``assume_in_own_account``: when False, the caller's own account (GetCallerIdentity) uses
    the caller's credentials directly; the management account often has no member role
    because StackSets do not deploy to it.
    """

    def __init__(
        self,
        base: boto3.Session,
        role_name: str,
        *,
        region: str,
        session_name: str = "keyrotate",
        external_id: str | None = None,
        duration_seconds: int = DEFAULT_DURATION_SECONDS,
        assume_in_own_account: bool = True,
        config: Config | None = None,
    ) -> None:
        _check_role_name(role_name, "IAMRoleName")
        if not _SESSION_NAME.match(session_name):
            raise InputError(
                "session name", session_name, "2-64 characters of letters, digits and +=,.@_-"
            )
        if external_id is not None and not _EXTERNAL_ID.match(external_id):
            raise InputError(
                "external id", "(hidden)", "2-1224 characters of letters, digits and +=,.@:/_-"
            )
        if not MIN_DURATION_SECONDS <= duration_seconds <= MAX_DURATION_SECONDS:
            raise InputError(
                "duration_seconds",
                duration_seconds,
                f"use {MIN_DURATION_SECONDS} to {MAX_DURATION_SECONDS} seconds",
            )
        self.base = base
        self.role_name = role_name
        self.region = region
        self.partition = partition_for_region(region)
        self.session_name = session_name
        self.duration_seconds = duration_seconds
        self.assume_in_own_account = assume_in_own_account
        self.config = config if config is not None else retry_config()
        self._external_id = external_id
        self._lock = threading.RLock()
        self._sts: STSClient | None = None
        self._caller_account: str | None = None
        self._sessions: dict[tuple[str, str], boto3.Session] = {}
        self._assume_locks: dict[tuple[str, str], threading.Lock] = {}
        self._clients: dict[tuple[str, str, str], Any] = {}

    # -- identity ---------------------------------------------------------------------------

    def _sts_client(self) -> STSClient:
        with self._lock:
            if self._sts is None:
                self._sts = self.base.client("sts", region_name=self.region, config=self.config)
            return self._sts

    @property
    def caller_account_id(self) -> str:
        """The account of the caller's own credentials (one GetCallerIdentity per run)."""
        with self._lock:
            if self._caller_account is None:
                with translate("sts:GetCallerIdentity", "check the caller's credentials"):
                    self._caller_account = self._sts_client().get_caller_identity()["Account"]
            return self._caller_account

    def role_arn(self, account_id: str, role_name: str | None = None) -> str:
        return role_arn(self.partition, account_id, role_name or self.role_name)

    # -- sessions ---------------------------------------------------------------------------

    def for_account(self, account_id: str) -> boto3.Session:
        """The session that acts in ``account_id`` through the member role (cached).

        Raises AccessDenied naming the account and the role ARN if it cannot be assumed.
        """
        check_account_id(account_id)
        if not self.assume_in_own_account and account_id == self.caller_account_id:
            return self.base
        return self.assume(account_id, self.role_name)

    def assume(self, account_id: str, role_name: str) -> boto3.Session:
        """A session for ``role_name`` in ``account_id``, assumed once and then cached."""
        check_account_id(account_id)
        _check_role_name(role_name, "role name")
        key = (account_id, role_name)
        with self._lock:
            cached = self._sessions.get(key)
            if cached is not None:
                return cached
            account_lock = self._assume_locks.setdefault(key, threading.Lock())
        # One AssumeRole per account at a time, but accounts do not wait for each other.
        with account_lock:
            cached = self._sessions.get(key)
            if cached is not None:
                return cached
            fetch = self._fetcher(account_id, self.role_arn(account_id, role_name))
            credentials = RefreshableCredentials.create_from_metadata(
                metadata=fetch(), refresh_using=fetch, method=_FixedProvider.METHOD
            )
            with self._lock:
                session = self._session_with(credentials)
                self._sessions[key] = session
            return session

    def _fetcher(self, account_id: str, arn: str) -> Callable[[], dict[str, str]]:
        kwargs: dict[str, Any] = {
            "RoleArn": arn,
            "RoleSessionName": self.session_name,
            "DurationSeconds": self.duration_seconds,
        }
        if self._external_id is not None:
            kwargs["ExternalId"] = self._external_id

        def fetch() -> dict[str, str]:
            try:
                creds = self._sts_client().assume_role(**kwargs)["Credentials"]
            except (ClientError, BotoCoreError) as exc:
                first = aws_error(exc, "sts:AssumeRole")
                message = (
                    f"cannot assume {arn} in account {account_id}: {error_message(exc)}. "
                    f"Fix: deploy the role in account {account_id} and let the caller assume "
                    f"it (trust policy{', external id' if self._external_id else ''}), or "
                    "leave the account out of scope"
                )
                raise type(first)("sts:AssumeRole", first.code, message) from exc
            return {
                "access_key": creds["AccessKeyId"],
                "secret_key": creds["SecretAccessKey"],
                "token": creds["SessionToken"],
                "expiry_time": creds["Expiration"].isoformat(),
            }

        return fetch

    @property
    def profile(self) -> str | None:
        """The run's named profile (``--profile``, AWS_PROFILE), if it names one: whatever
        else calls AWS for the run (the check of a new key) takes its endpoint settings."""
        profile = self.base.profile_name
        return profile if profile in self.base.available_profiles else None

    def _session_with(self, credentials: Credentials) -> boto3.Session:
        base_core = self.base._session
        core = botocore.session.Session(profile=self.profile)
        core.register_component(
            "credential_provider", CredentialResolver([_FixedProvider(credentials)])
        )
        # Parsed service models are immutable data: share them instead of re-reading the
        # JSON for every account.
        core.register_component("data_loader", base_core.get_component("data_loader"))
        return boto3.Session(botocore_session=core, region_name=self.region)

    def release(self, account_id: str) -> None:
        """Forget ``account_id``'s member-role session and clients once its run is over.

        A cached session with its clients holds about 0.7 MiB: kept for every account, an
        organization of thousands would hold gigabytes. Released, memory is bounded by the
        accounts in flight. Threads still holding a client keep using it; a later call for
        the account assumes the role again.
        """
        with self._lock:
            self._sessions.pop((account_id, self.role_name), None)
            self._assume_locks.pop((account_id, self.role_name), None)
            for key in [k for k in self._clients if k[0] == account_id]:
                del self._clients[key]

    # -- clients ----------------------------------------------------------------------------

    @overload
    def client(
        self, account_id: str, service: Literal["iam"], region: str | None = None
    ) -> IAMClient: ...
    @overload
    def client(
        self, account_id: str, service: Literal["sts"], region: str | None = None
    ) -> STSClient: ...
    @overload
    def client(
        self, account_id: str, service: Literal["organizations"], region: str | None = None
    ) -> OrganizationsClient: ...
    @overload
    def client(
        self, account_id: str, service: Literal["secretsmanager"], region: str | None = None
    ) -> SecretsManagerClient: ...
    @overload
    def client(
        self, account_id: str, service: Literal["kms"], region: str | None = None
    ) -> KMSClient: ...
    @overload
    def client(
        self, account_id: str, service: Literal["ses"], region: str | None = None
    ) -> SESClient: ...
    @overload
    def client(
        self, account_id: str, service: Literal["ssm"], region: str | None = None
    ) -> SSMClient: ...
    @overload
    def client(
        self, account_id: str, service: Literal["s3"], region: str | None = None
    ) -> S3Client: ...

    def client(self, account_id: str, service: str, region: str | None = None) -> Any:
        """The client for ``service`` in ``account_id`` (and ``region``), created once."""
        key = (account_id, service, region or self.region)
        with self._lock:
            cached = self._clients.get(key)
        if cached is not None:
            return cached
        session: Any = self.for_account(account_id)
        with self._lock:
            cached = self._clients.get(key)
            if cached is None:
                cached = session.client(service, region_name=key[2], config=self.config)
                self._clients[key] = cached
            return cached


def _check_role_name(role_name: str, field: str) -> None:
    if not _ROLE_NAME.match(role_name):
        raise InputError(
            field, role_name, "a role name: up to 64 letters, digits and +=,.@_- (path allowed)"
        )

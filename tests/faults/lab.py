"""The fault lab: the shared emulator as the fault tests use it, and a small seeded org.

The emulator (tests/conftest.py's, one per test process) fails calls (its fault injector),
and its gate (:mod:`keyrotate_emulator.gate`) holds the Nth call of an operation before or
after moto performs it, so the crash tests know that the CLI is *exactly* at a given call
before they kill it, and records every secret access key CreateAccessKey hands out, so the
leak scan covers keys that were created and deleted again, not only the ones left in secrets.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from keyrotate.aws.organizations import inventory_client, list_accounts
from keyrotate.aws.session import AccountSessions, retry_config
from keyrotate.config import load_settings
from keyrotate.domain.results import Outcome, RunReport
from keyrotate.notify import Notifier
from keyrotate.service.context import RunContext, notify_options_from
from keyrotate.service.options import Clock, RunOptions, utc_now
from keyrotate.service.organization import run_organization
from keyrotate.service.spill import SpilledAccounts
from keyrotate.service.stop import RunStop
from keyrotate_emulator import EmulatorServer
from keyrotate_emulator.faults import Fault, FiredFault
from keyrotate_emulator.seed import (
    MANAGEMENT_ACCOUNT_ID,
    KeySpec,
    OrganizationBuilder,
    UserSpec,
    assume_member_role,
    create_member_roles,
    seed_users,
)
from tests.strict_emulator import LAB_STRICTNESS

REGION = "us-east-1"
REPLICA = "us-west-2"
ROLE = "keyrotate-member"
READ_POLICY = "keyrotate-read-own-secret"
SENDER = "keyrotate@example.com"
ADMIN = "secops@example.com"
OWNER = "team@example.com"
ATTEMPTS = 2  # botocore attempts per call in the in-process runs: one retry, short waits
_READ = Config(retries={"total_max_attempts": 3, "mode": "standard"})


# -- the server -----------------------------------------------------------------------------
class FaultLab:
    """The shared emulator with the lab's strictness (``LAB_STRICTNESS``: new keys refused a
    little longer, tests/strict_emulator.py): a test changes ``lab.server.strictness`` for
    itself; :meth:`reset` puts the lab's default back.
    """

    def __init__(self, server: EmulatorServer) -> None:
        self.server = server
        self.url = server.url
        self.gate = server.gate

    def reset(self) -> None:
        """moto emptied, no faults or holds, the lab's strictness; cached clients forgotten."""
        self.server.reset()
        self.server.strictness = LAB_STRICTNESS
        forget_clients()

    def expire_credential_reports(self) -> int:
        """Make every cached credential report four hours old (see docs/emulator.md)."""
        return self.server.expire_credential_reports()

    def inject(self, fault: Fault) -> None:
        self.server.inject(fault)

    def clear_faults(self) -> None:
        """Disarm the faults and release the holds."""
        self.server.clear_faults()
        self.gate.clear()

    def fired(self) -> list[FiredFault]:
        return self.server.fired()


# -- the seeded organization ------------------------------------------------------------------
@dataclass(frozen=True)
class Org:
    """What was seeded: account ids by name, and each user's key ids (oldest first)."""

    now: datetime
    accounts: dict[str, str]  # name -> account id
    keys: dict[tuple[str, str], tuple[str, ...]]  # (account name, user) -> key ids

    def name_of(self, account_id: str) -> str:
        return next(name for name, aid in self.accounts.items() if aid == account_id)


USED = 1.0
# user -> (keys oldest first, whether a secret already holds the newest key)
WORK_USERS: dict[str, tuple[tuple[KeySpec, ...], bool]] = {
    "rot-new": ((KeySpec(95, True, USED),), False),  # ROTATE, CreateSecret path
    "rot-held": ((KeySpec(95, True, USED),), True),  # ROTATE, PutSecretValue path
    "unused": ((KeySpec(95, True, None),), False),  # DEACTIVATE (never used)
    "lone-old": ((KeySpec(120, False, 40),), False),  # DELETE
    "del-rot": ((KeySpec(130, False, 100), KeySpec(95, True, USED)), False),  # DELETE, ROTATE
    "prev-deact": ((KeySpec(101, True, 12), KeySpec(11, True, USED)), True),  # DEACTIVATE
}
MGMT_USERS: dict[str, tuple[tuple[KeySpec, ...], bool]] = {
    "legacy": ((KeySpec(400, True, USED),), False),  # ROTATE in the management account
}


def _secret_name(account_id: str, user: str) -> str:
    return f"keyrotate/{account_id}/{user}"


def _read_policy_document(account_id: str) -> str:
    resource = f"arn:aws:secretsmanager:*:{account_id}:secret:keyrotate/{account_id}/*"
    statement = {
        "Effect": "Allow",
        "Action": ["secretsmanager:GetSecretValue"],
        "Resource": resource,
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


_CLIENTS: dict[tuple[str, str, str], Any] = {}
_SESSION = boto3.Session()


def client(url: str, account_id: str, service: str) -> Any:
    """A client acting in ``account_id`` (cached per seeded org: ``forget_clients`` on reset)."""
    key = (url, account_id, service)
    if key not in _CLIENTS:
        creds = assume_member_role(url, account_id, ROLE)
        _CLIENTS[key] = _SESSION.client(
            service,  # type: ignore[call-overload]
            endpoint_url=url,
            region_name=REGION,
            config=_READ,
            **creds,
        )
    return _CLIENTS[key]


def forget_clients() -> None:
    _CLIENTS.clear()


def seed_org(
    lab: FaultLab, *, members: int | Iterable[str] = 1, now: datetime | None = None
) -> Org:
    """Management (one old key) + member accounts (a count, or names) with WORK_USERS each."""
    now = now or datetime.now(UTC)
    org = OrganizationBuilder(lab.url)
    accounts = {"management": MANAGEMENT_ACCOUNT_ID}
    names = [f"work-{i}" for i in range(members)] if isinstance(members, int) else members
    for name in names:
        accounts[name] = org.account(name, f"aws+{name}@example.com", "Workloads").account_id
    create_member_roles(lab.url, [a for n, a in accounts.items() if n != "management"], ROLE)
    keys: dict[tuple[str, str], tuple[str, ...]] = {}
    backend_secrets: dict[str, str] = {}
    for name, account_id in accounts.items():
        users = MGMT_USERS if name == "management" else WORK_USERS
        specs = [UserSpec(u, k, tags={"ResourceOwner": OWNER}) for u, (k, _) in users.items()]
        seeded = seed_users(lab.url, account_id, specs, now)
        iam = client(lab.url, account_id, "iam")
        iam.create_policy(PolicyName=READ_POLICY, PolicyDocument=_read_policy_document(account_id))
        sm = client(lab.url, account_id, "secretsmanager")
        for user, (_, held) in users.items():
            keys[(name, user)] = tuple(k.key_id for k in seeded[user])
            # Seeded keys are made in-process, past the gate: record their secrets too, so
            # the leak scan also covers the ones the tool deletes.
            lab.gate.issued_secrets += [_backend_secret(account_id, k.key_id) for k in seeded[user]]
            if held:
                newest = seeded[user][-1]
                secret = _backend_secret(account_id, newest.key_id)
                backend_secrets[newest.key_id] = secret
                value = {
                    "AccessKeyId": newest.key_id,
                    "SecretAccessKey": secret,
                    "UserName": user,
                    "CreateDate": newest.created.isoformat(),
                }
                sm.create_secret(
                    Name=_secret_name(account_id, user),
                    SecretString=json.dumps(value),
                    Tags=[
                        {"Key": "keyrotate:access-key-id", "Value": newest.key_id},
                        {"Key": "keyrotate:rotated-at", "Value": newest.created.isoformat()},
                    ],
                )
    ses = boto3.client(
        "ses", endpoint_url=lab.url, region_name=REGION, config=_READ
    )  # management credentials from the environment
    ses.verify_email_identity(EmailAddress=SENDER)
    return Org(now, accounts, keys)


def _backend_secret(account_id: str, key_id: str) -> str:
    from moto.iam.models import iam_backends

    return str(iam_backends[account_id]["global"].access_keys[key_id].secret_access_key)


# -- reading state ----------------------------------------------------------------------------
@dataclass(frozen=True)
class KeyInfo:
    key_id: str
    active: bool
    created: datetime


@dataclass(frozen=True)
class SecretInfo:
    name: str
    tags: dict[str, str]
    value_key_id: str | None
    has_policy: bool
    replicas: tuple[str, ...]
    secret_access_key: str | None = field(default=None, repr=False)  # never shown


@dataclass(frozen=True)
class UserInfo:
    keys: tuple[KeyInfo, ...]  # oldest first
    tags: dict[str, str]
    policies: tuple[str, ...]
    secret: SecretInfo | None


State = dict[tuple[str, str], UserInfo]  # (account name, user) -> what AWS holds


def read_state(lab: FaultLab, org: Org) -> State:
    """Every seeded user's keys, tags, attached policies and secret, read over the API."""
    state: State = {}
    for name, account_id in org.accounts.items():
        iam = client(lab.url, account_id, "iam")
        sm = client(lab.url, account_id, "secretsmanager")
        users = MGMT_USERS if name == "management" else WORK_USERS
        for user in users:
            keys = sorted(
                (
                    KeyInfo(k["AccessKeyId"], k["Status"] == "Active", k["CreateDate"])
                    for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
                ),
                key=lambda k: (k.created, k.key_id),
            )
            tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=user)["Tags"]}
            attached = iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]
            state[(name, user)] = UserInfo(
                tuple(keys),
                tags,
                tuple(sorted(p["PolicyName"] for p in attached)),
                _read_secret(sm, _secret_name(account_id, user)),
            )
    return state


def _read_secret(sm: Any, name: str) -> SecretInfo | None:
    try:
        described = sm.describe_secret(SecretId=name)
    except sm.exceptions.ResourceNotFoundException:
        return None
    try:  # a secret created empty, whose first value was never written, holds nothing
        value = json.loads(sm.get_secret_value(SecretId=name)["SecretString"])
    except sm.exceptions.ResourceNotFoundException:
        value = {}
    try:
        policy = sm.get_resource_policy(SecretId=name).get("ResourcePolicy")
    except sm.exceptions.ResourceNotFoundException:
        policy = None
    return SecretInfo(
        name=name,
        tags={t["Key"]: t["Value"] for t in described.get("Tags", [])},
        value_key_id=value.get("AccessKeyId"),
        has_policy=bool(policy),
        # A set: moto lists a region twice when a replication whose reply was lost is retried
        # (real Secrets Manager refuses the second one).
        replicas=tuple(sorted({r["Region"] for r in described.get("ReplicationStatus", [])})),
        secret_access_key=value.get("SecretAccessKey"),
    )


# -- invariants -------------------------------------------------------------------------------
ORPHAN_WINDOW = timedelta(minutes=15)


def _orphan(key: KeyInfo, user: UserInfo) -> bool:
    """A key a crashed rotation made: created within 15 min after the marker, held by none.

    Held means by tag *and* value: a crash between writing the secret's tags and its value
    leaves tags naming a key whose secret no one stored.
    """
    marker = user.tags.get("keyrotate:intent")
    if marker is None:
        return False
    at = datetime.fromisoformat(marker)
    return not _held(key.key_id, user) and at <= key.created <= at + ORPHAN_WINDOW


def _tags_name_orphan(user: UserInfo) -> bool:
    """The secret's tags name an orphan: a store interrupted between tags and value."""
    tag = user.secret.tags.get("keyrotate:access-key-id") if user.secret else None
    return any(k.key_id == tag and _orphan(k, user) for k in user.keys)


def _held(key_id: str, user: UserInfo) -> bool:
    secret = user.secret
    return (
        secret is not None
        and secret.tags.get("keyrotate:access-key-id") == key_id
        and secret.value_key_id == key_id
    )


def violations(
    before: State, after: State, created: set[str], *, orphans_allowed: bool = False
) -> list[str]:
    """Every broken promise between two snapshots; ``created``: key ids the run created.

    ``orphans_allowed``: a key created and never stored may remain if the intent marker will
    let the next run remove it (after a crash or a reply lost after the key was made).
    """
    found: list[str] = []
    for where, now in after.items():
        was = before[where]
        if len(now.keys) > 2:
            found.append(f"{where}: {len(now.keys)} keys")
        still = {k.key_id for k in now.keys}
        for key in was.keys:
            if key.key_id not in still and key.active and not _orphan(key, was):
                found.append(f"{where}: active key {key.key_id} was deleted")
        old = {k.key_id for k in was.keys}
        for key in now.keys:
            if key.key_id in old or key.key_id not in created:
                continue
            if not _held(key.key_id, now) and not (orphans_allowed and _orphan(key, now)):
                found.append(f"{where}: created key {key.key_id} is held by no secret")
        secret = now.secret
        names_nothing = secret is not None and not (
            secret.tags.get("keyrotate:access-key-id") or secret.value_key_id
        )
        if (
            secret is not None
            and secret.tags.get("keyrotate:stale") != "true"
            and not names_nothing
            and not (orphans_allowed and _tags_name_orphan(now))
        ):
            held = secret.tags.get("keyrotate:access-key-id")
            if held not in still:
                found.append(f"{where}: secret's tag names missing key {held}")
            if secret.value_key_id not in still:
                found.append(f"{where}: secret's value holds missing key {secret.value_key_id}")
            if held != secret.value_key_id:
                found.append(f"{where}: secret's tag and value disagree")
    return found


def unheld_new_keys(seeded: State, state: State) -> list[str]:
    """Keys that were not seeded and that the user's secret does not hold: orphans left."""
    found: list[str] = []
    for where, user in state.items():
        old = {k.key_id for k in seeded[where].keys}
        found += [
            f"{where}: {k.key_id}"
            for k in user.keys
            if k.key_id not in old and not _held(k.key_id, user)
        ]
    return found


def normalized(state: State) -> dict[tuple[str, str], tuple[object, ...]]:
    """What a run leaves, without random ids or times: comparable between two orgs."""
    result: dict[tuple[str, str], tuple[object, ...]] = {}
    for where, user in state.items():
        ids = [k.key_id for k in user.keys]
        secret = user.secret
        held: object = None
        if secret is not None:
            tag = secret.tags.get("keyrotate:access-key-id")
            held = (
                ids.index(tag) if tag in ids else "missing",
                ids.index(secret.value_key_id) if secret.value_key_id in ids else "missing",
                secret.tags.get("keyrotate:stale", "false"),
                secret.has_policy,
                secret.replicas,
            )
        markers = sorted(
            "deactivated" if t.startswith("keyrotate:deactivated:") else t
            for t in user.tags
            if t.startswith("keyrotate:")
        )
        result[where] = (
            tuple("Active" if k.active else "Inactive" for k in user.keys),
            held,
            tuple(markers),
            user.policies,
        )
    return result


def secret_values(state: State) -> set[str]:
    return {
        u.secret.secret_access_key
        for u in state.values()
        if u.secret and u.secret.secret_access_key
    }


# -- running ----------------------------------------------------------------------------------
def settings_env(**extra: str) -> dict[str, str]:
    env = {
        "IAMRoleName": ROLE,
        "DryRunFlag": "false",
        "AdminEmailAddress": ADMIN,
        "EmailTransport": "ses",
        "EmailSender": SENDER,
        "CredentialReplicationRegions": REPLICA,
        "ReadPolicyName": READ_POLICY,
        "MaxWorkers": "2",
        # Each verification builds a fresh boto3 session (~0.5 s of CPU): the matrix leaves
        # it off, test_verification.py covers it.
        "VerifyNewKeys": "false",
        "AWS_REGION": REGION,
    }
    env.update(extra)
    return env


def enforce_run(
    *,
    attempts: int = ATTEMPTS,
    clock: Clock = utc_now,
    adjust: Callable[[RunOptions], RunOptions] | None = None,
    stop: RunStop | None = None,
    **extra: str,
) -> RunReport:
    """One organization run in this process, as ``keyrotate run`` does it, with
    ``attempts`` botocore attempts per call so that an exhausted fault costs under a second.
    ``adjust`` changes run options no setting reaches (e.g. the verification's first wait);
    ``stop``: the run's deadline and interrupt (tests/faults/test_run_stop.py).
    """
    settings = load_settings(None, settings_env(**extra), {})
    base = boto3.Session(region_name=REGION)
    sessions = AccountSessions(
        base,
        settings.iam_role_name,
        region=REGION,
        session_name="keyrotate-faults",
        assume_in_own_account=False,
        config=retry_config(attempts, "standard"),
    )
    inventory = list_accounts(inventory_client(base, None, None, sessions))
    notifier = Notifier.from_options(notify_options_from(settings), base)
    notifier.backoff_seconds = 0.01
    options = RunOptions.from_settings(settings, REGION)
    if adjust is not None:
        options = adjust(options)
    context = RunContext(
        settings, "faults", sessions, options, clock=clock, notifier=notifier, stop=stop
    )
    return run_organization(context, inventory, SpilledAccounts()).report


def outcomes(report: RunReport, org: Org) -> dict[tuple[str, str], tuple[tuple[str, str], ...]]:
    """(account name, user) -> ((action, outcome), ...) for every action that changes keys."""
    found: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {}
    for account in report.accounts:
        for user in account.users:
            found[(org.name_of(account.account.account_id), user.user_name)] = tuple(
                (r.action.kind.value, r.outcome.value)
                for r in user.results
                if r.action.kind.changes_keys
            )
    return found


def failed(report: RunReport) -> int:
    return sum(
        1
        for account in report.accounts
        for user in account.users
        for r in user.results
        if r.outcome is Outcome.FAILED
    ) + sum(1 for a in report.accounts if a.failed)


def created_keys(before: State, after: State) -> set[str]:
    old = {k.key_id for u in before.values() for k in u.keys}
    return {k.key_id for u in after.values() for k in u.keys} - old


def iter_texts(report: RunReport) -> Iterator[str]:
    from keyrotate.service.report import to_document

    yield json.dumps(to_document(report))
    for account in report.accounts:
        if account.error:
            yield account.error
        for user in account.users:
            for r in user.results:
                if r.error:
                    yield r.error
    for note in report.notifications:
        if note.error:
            yield note.error


# -- the CLI as a process ---------------------------------------------------------------------
KEYROTATE = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "keyrotate"


def start_cli(lab: FaultLab, *args: str, **extra: str) -> subprocess.Popen[str]:
    """``keyrotate run --enforce --output json ARGS`` against the lab, settings from
    :func:`settings_env` (``extra`` overrides them); stdout and stderr piped.
    """
    env = {**os.environ, **settings_env(**extra), "AWS_ENDPOINT_URL": lab.url}
    return subprocess.Popen(
        [str(KEYROTATE), "run", "--enforce", "--output", "json", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def age_markers(lab: FaultLab, org: Org, by: timedelta) -> int:
    """Move every intent marker ``by`` into the past (a run with no clock of its own, such as
    the CLI, then sees it as old). Only where no orphan waits: it would leave the window.
    """
    aged = 0
    for name, account_id in org.accounts.items():
        iam = client(lab.url, account_id, "iam")
        for user in MGMT_USERS if name == "management" else WORK_USERS:
            tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=user)["Tags"]}
            marker = tags.get("keyrotate:intent")
            if marker is None:
                continue
            moment = (datetime.fromisoformat(marker) - by).isoformat()
            iam.tag_user(UserName=user, Tags=[{"Key": "keyrotate:intent", "Value": moment}])
            aged += 1
    return aged

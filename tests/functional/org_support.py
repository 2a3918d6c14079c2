"""Shared helpers for the organization-wide functional tests (CLI against moto over HTTP).

- :func:`seeded_demo_org`: reset moto, seed the demo organization (the manifest is the
  oracle), deploy the read-own-secret policy, point ``AWS_ENDPOINT_URL`` at the server.
  For module-scoped fixtures: moto's state is global to the process, so a module that shares
  one organization across tests must not mix in tests that reset it (``moto_endpoint``)
  until its shared tests are done.
- :func:`run_cli`: ``keyrotate run ... --output json`` through click's CliRunner; returns the
  exit code, the parsed report document and the captured output.
- :func:`org_state`: the full IAM and Secrets Manager state of every account, as the API
  reports it, to compare before and after a run.
- Report helpers: records by user, actions by user.

Secret access keys: tests read a secret's value only to take its ``AccessKeyId`` (and, in the
demo test, to know which strings must never appear anywhere); no helper returns or prints
a secret access key.
"""

from __future__ import annotations

import json
import urllib.request
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import boto3
import pytest
from botocore.config import Config
from click.testing import CliRunner

from keyrotate.cli import main
from keyrotate_emulator.demo import ROLE_NAME, deploy_member_policies
from keyrotate_emulator.demo_org import DemoManifest, seed_demo_organization
from keyrotate_emulator.seed import MANAGEMENT_ACCOUNT_ID, assume_member_role

REGION = "us-east-1"
READ_POLICY_NAME = "keyrotate-read-own-secret"
REPORT_FIELDS = (
    "account_id",
    "user_name",
    "access_key_id",
    "status",
    "created",
    "age_days",
    "last_used",
    "action",
    "reason",
    "due",
    "outcome",
)
CHANGING = frozenset({"ROTATE", "DEACTIVATE", "DELETE"})
_CONFIG = Config(retries={"total_max_attempts": 3, "mode": "standard"})
# IAM state that a run could touch; AWS-managed policies are thousands of static entries.
_DETAIL_FILTER = ["User", "Role", "Group", "LocalManagedPolicy"]
_SESSION = boto3.session.Session()  # one session: a new one reloads botocore's models (0.2 s)
_CREDENTIALS: dict[tuple[str, str], dict[str, str]] = {}


# moto and the organization -----------------------------------------------------------------
def reset_moto(endpoint: str) -> None:
    """Empty moto (every account, every service); cached role credentials die with it."""
    _CREDENTIALS.clear()
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (loopback)
        assert response.status == 200


@contextmanager
def endpoint_env(endpoint: str) -> Iterator[None]:
    """``AWS_ENDPOINT_URL`` for a whole module (``monkeypatch`` is function-scoped)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ENDPOINT_URL", endpoint)
        yield


@contextmanager
def seeded_demo_org(endpoint: str, now: datetime) -> Iterator[DemoManifest]:
    """A freshly reset moto holding the demo organization, what member-role.yaml deploys too."""
    reset_moto(endpoint)
    with endpoint_env(endpoint):
        manifest = seed_demo_organization(endpoint, now, role_name=ROLE_NAME)
        deploy_member_policies(endpoint, manifest)
        yield manifest


def client(endpoint: str, account_id: str, service: str, region: str = REGION) -> Any:
    """A client acting in ``account_id`` (assumed role for a member; moto's keys otherwise).

    Credentials are cached per account: every AssumeRole also stamps the role's last use.
    """
    cache_key = (endpoint, account_id)
    if cache_key not in _CREDENTIALS:
        _CREDENTIALS[cache_key] = assume_member_role(endpoint, account_id, ROLE_NAME)
    return _SESSION.client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint,
        region_name=region,
        config=_CONFIG,
        **_CREDENTIALS[cache_key],
    )


def ou_id(endpoint: str, path: str) -> str:
    """The id of the OU at ``Workloads/Prod``-style ``path`` below the root."""
    org = client(endpoint, MANAGEMENT_ACCOUNT_ID, "organizations")
    parent = org.list_roots()["Roots"][0]["Id"]
    for name in path.strip("/").split("/"):
        children = org.list_organizational_units_for_parent(ParentId=parent)
        parent = next(u["Id"] for u in children["OrganizationalUnits"] if u["Name"] == name)
    return str(parent)


# the CLI -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CliRun:
    exit_code: int
    document: dict[str, Any] | None
    stdout: str
    stderr: str

    @property
    def report(self) -> dict[str, Any]:
        assert self.document is not None, f"no JSON report (exit {self.exit_code}): {self.stderr}"
        return self.document


def run_cli(*args: str, env: Mapping[str, str | None] | None = None) -> CliRun:
    """``keyrotate run <args> --output json`` in this process; stdout parsed when it is JSON."""
    result = CliRunner().invoke(
        main, ["run", *args, "--output", "json"], env=dict(env or {}), catch_exceptions=False
    )
    document = None
    if result.stdout.lstrip().startswith("{"):
        document = json.loads(result.stdout)
    return CliRun(result.exit_code, document, result.stdout, result.stderr)


# AWS state -----------------------------------------------------------------------------------
def account_state(endpoint: str, account_id: str) -> dict[str, Any]:
    """Everything a run could change in one account, as the APIs return it."""
    iam = client(endpoint, account_id, "iam")
    details: dict[str, list[Any]] = defaultdict(list)
    for page in iam.get_paginator("get_account_authorization_details").paginate(
        Filter=_DETAIL_FILTER
    ):
        for part in ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies"):
            details[part].extend(page.get(part, []))
    for role in details["RoleDetailList"]:
        # AWS stamps a role's last use on every AssumeRole, the tool's as much as ours.
        role.pop("RoleLastUsed", None)
    users = sorted(u["UserName"] for u in details["UserDetailList"])

    def keys_of(user: str) -> list[Any]:
        pages = iam.get_paginator("list_access_keys").paginate(UserName=user)
        return [k for page in pages for k in page["AccessKeyMetadata"]]

    def tags_of(user: str) -> list[Any]:
        pages = iam.get_paginator("list_user_tags").paginate(UserName=user)
        return [t for page in pages for t in page["Tags"]]

    with ThreadPoolExecutor(max_workers=4) as pool:  # clients are thread-safe; moto threaded
        keys = dict(zip(users, pool.map(keys_of, users), strict=True))
        tags = dict(zip(users, pool.map(tags_of, users), strict=True))
    sm = client(endpoint, account_id, "secretsmanager")
    pages = sm.get_paginator("list_secrets").paginate()
    secrets = [secret for page in pages for secret in page["SecretList"]]
    return {"iam": dict(details), "keys": keys, "tags": tags, "secrets": secrets}


def org_state(endpoint: str, account_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    return {account_id: account_state(endpoint, account_id) for account_id in account_ids}


def key_statuses(state: Mapping[str, Any], user: str) -> dict[str, str]:
    """``{key id: Active|Inactive}`` of ``user`` in one account's state."""
    return {k["AccessKeyId"]: k["Status"] for k in state["keys"].get(user, [])}


def user_tags(state: Mapping[str, Any], user: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in state["tags"].get(user, [])}


# the report ----------------------------------------------------------------------------------
UserKey = tuple[str, str]  # (account id, user name)


def records_by_user(document: Mapping[str, Any]) -> dict[UserKey, list[dict[str, Any]]]:
    found: dict[UserKey, list[dict[str, Any]]] = defaultdict(list)
    for record in document["keys"]:
        found[(record["account_id"], record["user_name"])].append(record)
    return dict(found)


def actions_by_user(document: Mapping[str, Any]) -> dict[UserKey, list[str]]:
    """Each user's action kinds (one per key that has one), sorted."""
    return {
        user: sorted(r["action"] for r in records if r["action"])
        for user, records in records_by_user(document).items()
    }


def planned(document: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    """(account, user, key, action) of every key with an action, in report order."""
    return [
        (r["account_id"], r["user_name"], r["access_key_id"], r["action"])
        for r in document["keys"]
        if r["action"]
    ]


def changes(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [r for r in document["keys"] if r["action"] in CHANGING]


def account_entries(document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["account_id"]: a for a in document["accounts"]}


def ran_accounts(document: Mapping[str, Any]) -> set[str]:
    return {a["account_id"] for a in document["accounts"] if a["status"] != "skipped"}

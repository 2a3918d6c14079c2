"""The member role's tiers and fences, enforced by IAM in the emulator (moto's auth mode).

Every role here is created from the templates with exactly their resolved policy documents
(tests/functional/iam_auth.py): what IAM allows is what the templates say, not what the tests
would like. The organization:

- management account: org-list-role.yaml's role;
- deployment account: an operator role whose policy is main.yaml's two AssumeRole
  statements (the inventory function's and the rotation function's), the only grants
  ``keyrotate run`` needs in member mode without mail; the CLI runs as that role;
- ``audited``: member-role.yaml with ``MemberRoleTier=audit``;
- ``enforced``: member-role.yaml with ``MemberRoleTier=enforce``;
- ``path-limited``: the enforce tier with ``ManagedUserPath=/managed/``.

``ProtectedUserArns`` is ``arn:aws:iam::*:user/breakglass/*`` everywhere. ``audited`` and
``enforced`` hold the same users: keys due for each kind of change, fresh keys, a break-glass
user under ``/breakglass/`` and a user tagged ``keyrotate:protected``. Both protected users'
keys are due: the code knows the fences too (main.yaml gives the functions the same
``ProtectedUserArns``) and reports them protected; with its copy of the list missing, IAM
still refuses (the code made to try).

What the emulator enforces, and what it cannot (iam_auth.py): actions and resource ARNs,
the path-based fence included, are judged as AWS judges them. Conditions are not: moto reads
each policy in its widest sense (a conditioned Allow grants, a conditioned Deny does not
apply), so every denial shown here is a denial in AWS as well, while the fences that rest on
conditions (the ``keyrotate:protected`` tag, TagUser limited to keyrotate's state tags, the
one attachable policy, non-public secret policies) are checked statically in
tests/unit/test_iam_fences.py. That is why the tagged user is in the runs but is never
shown refused here.

Enforcement is process-global: set-up runs before it is switched on, and each test switches
it on only around its own calls (:func:`iam_auth.enforced` always switches it off again).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from keyrotate.aws import iam, secrets
from keyrotate.aws.iam import Iam
from keyrotate.domain.errors import AccessDenied
from keyrotate.domain.models import KeyStatus
from keyrotate_emulator.seed import (
    MANAGEMENT_ACCOUNT_ID,
    KeySpec,
    OrganizationBuilder,
    UserSpec,
    assume_member_role,
    management_credentials,
    seed_users,
)
from keyrotate_emulator.server import expire_credential_reports

from . import iam_auth
from .org_support import CliRun, endpoint_env, records_by_user, reset_moto, run_cli

REGION = "us-east-1"
ORG_ID = "o-exampleorg1"  # resolved only into conditions (moto does not judge them)
MEMBER_ROLE = "keyrotate-member"
ORG_LIST_ROLE = "keyrotate-org-list"
OPERATOR_ROLE = "keyrotate-operator"
PROTECTED = "arn:aws:iam::*:user/breakglass/*"
READ_POLICY = "keyrotate-read-own-secret"

USERS = (
    UserSpec("app-due", (KeySpec(100, used_days_ago=1),)),  # ROTATE
    UserSpec("app-fresh", (KeySpec(10, used_days_ago=1),)),  # nothing due
    # DEACTIVATE the previous key: used only before its replacement existed
    UserSpec("app-previous", (KeySpec(101, used_days_ago=20), KeySpec(11, used_days_ago=1))),
    UserSpec("app-retired", (KeySpec(120, active=False),)),  # DELETE the lone inactive key
    UserSpec("scratch", (KeySpec(5),)),  # the target of the direct write calls
    UserSpec("breakglass-admin", (KeySpec(100, used_days_ago=1),), path="/breakglass/"),
    UserSpec("tagged-admin", (KeySpec(100, used_days_ago=1),), tags={"keyrotate:protected": "y"}),
)
PROTECTED_USERS = ("breakglass-admin", "tagged-admin")
PATH_LIMITED_USERS = (
    UserSpec("outside", (KeySpec(5),)),
    UserSpec("inside", (KeySpec(5),), path="/managed/"),
)


def _session(creds: dict[str, Any]) -> dict[str, str]:
    return {
        "aws_access_key_id": creds["AccessKeyId"],
        "aws_secret_access_key": creds["SecretAccessKey"],
        "aws_session_token": creds["SessionToken"],
    }


def _refused(exc: ClientError, action: str) -> bool:
    """Whether ``exc`` is IAM refusing ``action``. moto answers a JSON-protocol service's
    denial (Secrets Manager) in IAM's XML shape, which botocore reads as code "403"; AWS
    answers AccessDeniedException. Both are HTTP 403 naming the action."""
    error = exc.response["Error"]
    return (
        exc.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        and error["Code"] in {"AccessDenied", "AccessDeniedException", "403"}
        and f"not authorized to perform: {action}" in str(error.get("Message"))
    )


_BOTO = boto3.session.Session()  # one session: a new one reloads botocore's models


def _client(endpoint: str, service: str, credentials: dict[str, str]) -> Any:
    return _BOTO.client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint,
        region_name=REGION,
        **credentials,
    )


@dataclass(frozen=True)
class Org:
    endpoint: str
    deployment: str
    audited: str
    enforced: str
    path_limited: str
    operator: dict[str, str]  # the operator role's session, taken before enforcement

    def member(self, account_id: str) -> dict[str, str]:
        """The member role's session in ``account_id``, assumed *by the operator* under
        enforcement: the operator's policy must allow it."""
        sts = _client(self.endpoint, "sts", self.operator)
        with iam_auth.enforced(self.endpoint):
            creds = sts.assume_role(
                RoleArn=f"arn:aws:iam::{account_id}:role/{MEMBER_ROLE}",
                RoleSessionName="keyrotate-test",
            )["Credentials"]
        return _session(creds)

    def run(self, *args: str, code_knows_the_list: bool = True) -> CliRun:
        """``keyrotate run`` as the operator, with IAM enforcing every call it makes.

        ``code_knows_the_list``: the code gets ``ProtectedUserArns`` as main.yaml gives it to
        the functions; without it, only IAM stands between the code and those users.
        """
        expire_credential_reports(self.endpoint)  # earlier tests changed keys
        env: dict[str, str | None] = {
            "AWS_ACCESS_KEY_ID": self.operator["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": self.operator["aws_secret_access_key"],
            "AWS_SESSION_TOKEN": self.operator["aws_session_token"],
            "OrgListAccount": MANAGEMENT_ACCOUNT_ID,
            "OrgListRole": ORG_LIST_ROLE,
            "IAMRoleName": MEMBER_ROLE,
            "ProtectedUserArns": PROTECTED if code_knows_the_list else None,
        }
        with iam_auth.enforced(self.endpoint):
            return run_cli(*args, env=env)

    def keys(self, account_id: str) -> dict[str, dict[str, str]]:
        """Every user's ``{key id: status}``, read outside enforcement."""
        client = _client(self.endpoint, "iam", assume_member_role(self.endpoint, account_id, "x"))
        return {
            user["UserName"]: {
                k["AccessKeyId"]: k["Status"]
                for k in client.list_access_keys(UserName=user["UserName"])["AccessKeyMetadata"]
            }
            for user in client.list_users()["Users"]
        }

    def secret_names(self, account_id: str) -> set[str]:
        client = _client(
            self.endpoint, "secretsmanager", assume_member_role(self.endpoint, account_id, "x")
        )
        return {s["Name"] for s in client.list_secrets()["SecretList"]}


def _deploy_member_role(endpoint: str, account_id: str, **parameters: str) -> None:
    context = iam_auth.stack(
        "member-role.yaml",
        account_id,
        {
            "DeploymentAccountId": MANAGEMENT_ACCOUNT_ID,
            "AWSOrgID": ORG_ID,
            "ProtectedUserArns": PROTECTED,
            **parameters,
        },
    )
    setup = _client(endpoint, "iam", assume_member_role(endpoint, account_id, "setup"))
    iam_auth.deploy_iam(context, setup, ["ExemptionGroup", "ReadOwnSecretPolicy", "MemberRole"])


def _deploy_operator(endpoint: str, deployment: str) -> dict[str, str]:
    """A role in the deployment account with main.yaml's AssumeRole statements; its session."""
    main = iam_auth.stack(
        "main.yaml",
        deployment,
        {
            "S3BucketName": "keyrotate-code",
            "OrgListAccount": MANAGEMENT_ACCOUNT_ID,
            "AdminEmailAddress": "security@example.com",
            "AllowedEmailDomains": "example.com",
            "AWSOrgID": ORG_ID,
            "IAMRoleName": MEMBER_ROLE,
            "OrgListRole": ORG_LIST_ROLE,
        },
    )
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            iam_auth.statement(main, "InventoryRole", "AssumeOrgListRole"),
            iam_auth.statement(main, "RotationRole", "AssumeMemberRoleInsideTheOrganization"),
        ],
    }
    setup = assume_member_role(endpoint, deployment, "setup")
    trust = {  # stands in for Lambda's service principal, which moto cannot play
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{deployment}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    iam_setup = _client(endpoint, "iam", setup)
    iam_setup.create_role(RoleName=OPERATOR_ROLE, AssumeRolePolicyDocument=json.dumps(trust))
    iam_setup.put_role_policy(
        RoleName=OPERATOR_ROLE, PolicyName="keyrotate-run", PolicyDocument=json.dumps(policy)
    )
    creds = _client(endpoint, "sts", setup).assume_role(
        RoleArn=f"arn:aws:iam::{deployment}:role/{OPERATOR_ROLE}", RoleSessionName="operator"
    )["Credentials"]
    return _session(creds)


@pytest.fixture(scope="module")
def org(_moto_server: str) -> Iterator[Org]:
    endpoint = _moto_server
    reset_moto(endpoint)
    now = datetime.now(UTC)
    with pytest.MonkeyPatch.context() as patch, endpoint_env(endpoint):
        iam_auth.install(patch)
        builder = OrganizationBuilder(endpoint)
        deployment, audited, enforced, path_limited = (
            builder.account(name, f"{name}@example.com").account_id
            for name in ("deployment", "audited", "enforced", "path-limited")
        )
        org_list = iam_auth.stack(
            "org-list-role.yaml",
            MANAGEMENT_ACCOUNT_ID,
            {"DeploymentAccountId": deployment, "AWSOrgID": ORG_ID},
        )
        management = _client(endpoint, "iam", management_credentials())
        iam_auth.deploy_iam(org_list, management, ["OrgListRoleResource"])
        for account_id, tier in ((audited, "audit"), (enforced, "enforce")):
            _deploy_member_role(endpoint, account_id, MemberRoleTier=tier)
            seed_users(endpoint, account_id, USERS, now)
        _deploy_member_role(
            endpoint, path_limited, MemberRoleTier="enforce", ManagedUserPath="/managed/"
        )
        seed_users(endpoint, path_limited, PATH_LIMITED_USERS, now)
        operator = _deploy_operator(endpoint, deployment)
        yield Org(endpoint, deployment, audited, enforced, path_limited, operator)
    reset_moto(endpoint)  # nothing of this organization leaks into other modules


def _protected(run: CliRun, account_id: str, user: str) -> bool:
    """Whether the report shows ``user`` left alone as protected (and nothing else)."""
    records = records_by_user(run.report)[(account_id, user)]
    return all(r["action"] == "EXEMPT" and "protected" in r["reason"] for r in records)


def _outcomes(run: CliRun, account_id: str) -> dict[str, list[tuple[str, str]]]:
    """Each user's (action, outcome) pairs in ``account_id``, from the JSON report."""
    return {
        user: [(r["action"], r["outcome"]) for r in records if r["action"]]
        for (account, user), records in records_by_user(run.report).items()
        if account == account_id
    }


# ---- runs ------------------------------------------------------------------------------------
def test_an_audit_succeeds_with_either_tier_and_changes_nothing(org: Org) -> None:
    before = {a: org.keys(a) for a in (org.audited, org.enforced)}
    run = org.run("--audit", "--accounts", f"{org.audited},{org.enforced}")
    assert run.exit_code == 0, run.stderr
    for account_id in (org.audited, org.enforced):
        outcomes = _outcomes(run, account_id)
        assert outcomes["app-due"] == [("ROTATE", "planned")]
        assert outcomes["app-retired"] == [("DELETE", "planned")]
        assert ("DEACTIVATE", "planned") in outcomes["app-previous"]
        assert all(_protected(run, account_id, u) for u in PROTECTED_USERS)
    assert {a: org.keys(a) for a in (org.audited, org.enforced)} == before


def test_an_enforce_run_with_the_audit_tier_is_refused_every_change(org: Org) -> None:
    before = org.keys(org.audited)
    run = org.run("--enforce", "--accounts", org.audited)
    assert run.exit_code == 1, run.stderr  # every change failed, the run says so
    records = [
        r
        for (account, _), rs in records_by_user(run.report).items()
        if account == org.audited
        for r in rs
        if r["action"] in {"ROTATE", "DEACTIVATE", "DELETE"}
    ]
    assert len(records) == 3
    assert {r["outcome"] for r in records} == {"failed"}
    assert org.keys(org.audited) == before
    assert org.secret_names(org.audited) == set()


def test_an_enforce_run_with_the_enforce_tier_changes_what_is_due_and_no_protected_user(
    org: Org,
) -> None:
    before = org.keys(org.enforced)
    run = org.run("--enforce", "--accounts", org.enforced)
    assert run.exit_code == 0, run.stderr
    outcomes = _outcomes(run, org.enforced)
    assert outcomes["app-due"] == [("ROTATE", "done")]
    assert outcomes["app-retired"] == [("DELETE", "done")]
    assert ("DEACTIVATE", "done") in outcomes["app-previous"]
    after = org.keys(org.enforced)
    assert len(after["app-due"]) == 2
    assert after["app-retired"] == {}
    assert sorted(after["app-previous"].values()) == ["Active", "Inactive"]
    for user in ("app-fresh", "scratch", *PROTECTED_USERS):
        assert after[user] == before[user], user
    assert all(_protected(run, org.enforced, u) for u in PROTECTED_USERS)
    assert org.secret_names(org.enforced) == {f"keyrotate/{org.enforced}/app-due"}


# ---- the code made to try --------------------------------------------------------------------
def test_a_forced_rotation_of_a_break_glass_user_is_not_even_tried(org: Org) -> None:
    before = org.keys(org.enforced)["breakglass-admin"]
    forced = f"{org.enforced}:breakglass-admin"
    run = org.run("--enforce", "--accounts", org.enforced, "--force-user", forced)
    assert run.exit_code == 0, run.stderr
    assert _protected(run, org.enforced, "breakglass-admin")
    assert org.keys(org.enforced)["breakglass-admin"] == before


def test_without_the_codes_copy_of_the_list_iam_refuses_the_break_glass_user(org: Org) -> None:
    before = org.keys(org.enforced)["breakglass-admin"]
    forced = f"{org.enforced}:breakglass-admin"
    run = org.run(
        "--enforce", "--accounts", org.enforced, "--force-user", forced, code_knows_the_list=False
    )
    assert run.exit_code == 1  # the refused change is a failure the run reports
    (record,) = records_by_user(run.report)[(org.enforced, "breakglass-admin")]
    assert (record["action"], record["outcome"]) == ("ROTATE", "failed")
    assert org.keys(org.enforced)["breakglass-admin"] == before


# What the enforce tier's code could try on a user (user name, key id, account id).
CHANGES: dict[str, Callable[[Iam, str, str, str], object]] = {
    "create": lambda i, u, k, a: i.create_key(u),
    "delete": lambda i, u, k, a: i.delete_key(u, k),
    "deactivate": lambda i, u, k, a: i.set_key_status(u, k, KeyStatus.INACTIVE),
    "tag": lambda i, u, k, a: i.tag_user(u, {"keyrotate:intent": "2026-01-01T00:00:00"}),
    "attach": lambda i, u, k, a: i.ensure_policy_attached(
        u, f"arn:aws:iam::{a}:policy/{READ_POLICY}"
    ),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_the_adapter_cannot_change_a_break_glass_users_key_with_the_enforce_tier(
    org: Org, change: str
) -> None:
    adapter = Iam(_client(org.endpoint, "iam", org.member(org.enforced)))
    (key_id,) = org.keys(org.enforced)["breakglass-admin"]
    with iam_auth.enforced(org.endpoint), pytest.raises(AccessDenied):
        CHANGES[change](adapter, "breakglass-admin", key_id, org.enforced)
    assert org.keys(org.enforced)["breakglass-admin"] == {key_id: "Active"}


def test_the_enforce_tier_changes_only_users_under_the_managed_path(org: Org) -> None:
    adapter = Iam(_client(org.endpoint, "iam", org.member(org.path_limited)))
    with iam_auth.enforced(org.endpoint):
        with pytest.raises(AccessDenied):
            adapter.create_key("outside")
        created = adapter.create_key("inside")
        adapter.delete_key("inside", created.key_id)
    assert len(org.keys(org.path_limited)["outside"]) == 1


# ---- every write, one by one ----------------------------------------------------------------
@dataclass
class Target:
    """What the write calls act on: the scratch user, its key, its secret."""

    iam: Any
    secretsmanager: Any
    account_id: str
    key_id: str

    @property
    def secret(self) -> str:
        return f"keyrotate/{self.account_id}/scratch"


def _secret_policy(target: Target) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{target.account_id}:user/scratch"},
                    "Action": "secretsmanager:GetSecretValue",
                    "Resource": "*",
                }
            ],
        }
    )


def _create_key(t: Target) -> None:
    t.key_id = t.iam.create_access_key(UserName="scratch")["AccessKey"]["AccessKeyId"]


# In the order an enforce run makes them; each as keyrotate makes it (state tag keys, the read
# policy, BlockPublicPolicy), so the conditions the static tests check hold for them too.
WRITES: dict[str, Callable[[Target], object]] = {
    "secretsmanager:CreateSecret": lambda t: t.secretsmanager.create_secret(Name=t.secret),
    "secretsmanager:ReplicateSecretToRegions": lambda t: (
        t.secretsmanager.replicate_secret_to_regions(
            SecretId=t.secret, AddReplicaRegions=[{"Region": "us-west-2"}]
        )
    ),
    "secretsmanager:PutResourcePolicy": lambda t: t.secretsmanager.put_resource_policy(
        SecretId=t.secret, ResourcePolicy=_secret_policy(t), BlockPublicPolicy=True
    ),
    "secretsmanager:TagResource": lambda t: t.secretsmanager.tag_resource(
        SecretId=t.secret, Tags=[{"Key": "keyrotate:stale", "Value": "false"}]
    ),
    "secretsmanager:PutSecretValue": lambda t: t.secretsmanager.put_secret_value(
        SecretId=t.secret, SecretString='{"AccessKeyId": "placeholder"}'
    ),
    "iam:TagUser": lambda t: t.iam.tag_user(
        UserName="scratch", Tags=[{"Key": "keyrotate:intent", "Value": "2026-01-01T00:00:00"}]
    ),
    "iam:CreateAccessKey": _create_key,
    "iam:UpdateAccessKey": lambda t: t.iam.update_access_key(
        UserName="scratch", AccessKeyId=t.key_id, Status="Inactive"
    ),
    "iam:DeleteAccessKey": lambda t: t.iam.delete_access_key(
        UserName="scratch", AccessKeyId=t.key_id
    ),
    "iam:AttachUserPolicy": lambda t: t.iam.attach_user_policy(
        UserName="scratch", PolicyArn=f"arn:aws:iam::{t.account_id}:policy/{READ_POLICY}"
    ),
    "iam:UntagUser": lambda t: t.iam.untag_user(UserName="scratch", TagKeys=["keyrotate:intent"]),
}


def _target(org: Org, account_id: str) -> Target:
    credentials = org.member(account_id)
    (key_id,) = org.keys(account_id)["scratch"]
    return Target(
        _client(org.endpoint, "iam", credentials),
        _client(org.endpoint, "secretsmanager", credentials),
        account_id,
        key_id,
    )


def test_the_write_calls_are_every_write_the_code_declares() -> None:
    assert set(WRITES) == set(iam.WRITE_PERMISSIONS) | set(secrets.WRITE_PERMISSIONS)


@pytest.mark.parametrize("action", list(WRITES))
def test_the_audit_tier_is_refused_every_write(org: Org, action: str) -> None:
    target = _target(org, org.audited)
    with iam_auth.enforced(org.endpoint), pytest.raises(ClientError) as refused:
        WRITES[action](target)
    assert _refused(refused.value, action)


def test_the_enforce_tier_is_allowed_every_write_on_a_managed_user(org: Org) -> None:
    target = _target(org, org.enforced)
    with iam_auth.enforced(org.endpoint):
        for action, write in WRITES.items():
            try:
                write(target)
            except ClientError as exc:  # pragma: no cover - the message names the action
                pytest.fail(f"{action} refused to the enforce tier: {exc}")

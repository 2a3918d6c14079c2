"""moto's IAM enforcement, made to judge keyrotate's policies by resource, and the templates'
IAM resources created in moto exactly as CloudFormation would create them.

moto can refuse every request whose signer's identity policies do not allow it (its auth
mode: ``POST /moto-api/reset-auth`` with ``0`` turns it on, ``inf`` off; process-global, so
:func:`enforced` always turns it off again). As shipped (moto 5.2) it is too coarse for
least-privilege policies, in two ways this module deals with:

1. **Resources.** moto authorizes IAM user, group and Secrets Manager actions against the
   resource ``*``: a statement scoped to ``arn:aws:iam::<account>:user/*`` never matches, so
   such an Allow grants nothing and a Deny on protected users never fires. :func:`install`
   resolves, for the requests keyrotate makes, the ARN AWS authorizes against: the user
   (with its path) named by ``UserName`` or owning ``AccessKeyId``, the group, the secret
   named by ``SecretId``/``Name``. moto then matches the policies' ``Resource`` patterns
   against it (``*`` and ``?`` as wildcards), which is what AWS does.
2. **Conditions.** moto does not evaluate condition keys (an operator it does not know
   counts as satisfied), so a Deny with a condition would deny every request it names.
   :func:`install` takes the *widest reading* of a policy instead: an Allow with a
   condition counts as granted, a Deny with a condition as not applying. AWS grants a
   subset of that reading, so every denial a test sees under it is a denial in AWS too;
   what conditions add (tag keys, resource tags, the attached policy's ARN, public secret
   policies) is checked statically, in tests/unit/test_iam_fences.py.

Trust policies: moto checks them only for a role of the caller's own account; the tests
assume roles across accounts, as the deployment does, so trust is checked statically too
(tests/unit/test_deploy_templates.py).
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import pytest

from .deployed_env import Stack, load_template

PARTITION = "aws"


# -- enforcement on and off -----------------------------------------------------------------
def _reset_auth(endpoint: str, value: str) -> None:
    request = urllib.request.Request(  # noqa: S310 (loopback)
        f"{endpoint}/moto-api/reset-auth",
        data=value.encode(),
        method="POST",
        headers={"Content-Type": "text/plain"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        assert response.status == 200


@contextmanager
def enforced(endpoint: str) -> Iterator[None]:
    """Every request in the block must be signed by a principal whose policies allow it."""
    _reset_auth(endpoint, "0")
    try:
        yield
    finally:
        _reset_auth(endpoint, "inf")


# -- resources as AWS authorizes them -------------------------------------------------------
def _first(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    if isinstance(value, list):
        return str(value[0]) if value else None
    return None if value is None else str(value)


def _iam_resource(response: Any, original: Any) -> str:
    """The ARN an IAM request is authorized against (``*`` for account-wide actions)."""
    from moto.iam.models import iam_backends

    resolved: str = original(response)  # moto's own: a role's ARN, else "*"
    if resolved != "*":
        return resolved
    account = response.current_account
    backend = iam_backends[account][PARTITION]
    data = response.data
    user_name = _first(data, "UserName")
    key_id = _first(data, "AccessKeyId")
    if user_name is None and key_id is not None:  # GetAccessKeyLastUsed names only the key
        user_name = next(
            (
                u.name
                for u in backend.users.values()
                if any(k.access_key_id == key_id for k in u.access_keys)
            ),
            None,
        )
    if user_name is not None:
        user = backend.users.get(user_name)
        if user is not None:
            return str(user.arn)
        return f"arn:{PARTITION}:iam::{account}:user{_first(data, 'Path') or '/'}{user_name}"
    group_name = _first(data, "GroupName")
    if group_name is not None:
        return f"arn:{PARTITION}:iam::{account}:group/{group_name}"
    return "*"


def _secret_resource(response: Any) -> str:
    """The secret's ARN; for CreateSecret the ARN it will get (its random suffix unknown)."""
    secret_id = response._get_param("SecretId") or response._get_param("Name")
    if not secret_id:
        return "*"  # ListSecrets
    secret = response.backend.secrets.get(secret_id)
    if secret is not None:
        return str(secret.arn)
    return (
        f"arn:{PARTITION}:secretsmanager:{response.region}:{response.current_account}"
        f":secret:{secret_id}-XXXXXX"
    )


def install(patch: pytest.MonkeyPatch) -> None:
    """Resolve resources and take the widest reading of conditions (module docstring)."""
    from moto.iam.access_control import IAMPolicyStatement, PermissionResult
    from moto.iam.responses import IamResponse
    from moto.secretsmanager.responses import SecretsManagerResponse

    iam_original = IamResponse._determine_resource
    patch.setattr(
        IamResponse, "_determine_resource", lambda self: _iam_resource(self, iam_original)
    )
    patch.setattr(SecretsManagerResponse, "_determine_resource", _secret_resource, raising=False)
    judge = IAMPolicyStatement.is_action_permitted

    def widest(
        self: Any,
        action: str,
        resource: str = "*",
        principal: str | None = None,
        incoming_condition_values: dict[str, str] | None = None,
    ) -> Any:
        statement = self._statement
        # principal is None: an identity policy (trust policies pass the caller's ARN).
        if principal is None and statement.get("Effect") == "Deny" and "Condition" in statement:
            return PermissionResult.NEUTRAL
        return judge(self, action, resource, principal, incoming_condition_values)

    patch.setattr(IAMPolicyStatement, "is_action_permitted", widest)


# -- the templates' IAM resources, created as CloudFormation would -------------------------
def stack(
    template: str, account_id: str, parameters: Mapping[str, str], region: str = "us-east-1"
) -> Stack:
    """A template's resolution context in ``account_id`` (tests/functional/deployed_env.py)."""
    return Stack(
        load_template(template),
        dict(parameters),
        {
            "AWS::AccountId": account_id,
            "AWS::Partition": PARTITION,
            "AWS::Region": region,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": template.removesuffix(".yaml"),
        },
    )


def deploy_iam(context: Stack, iam: Any, logical_ids: Sequence[str]) -> None:
    """Create the template's ``logical_ids`` (groups, managed policies, roles with inline
    policies) in moto, in order, with exactly the resolved documents; each one's ``Ref`` and
    ``Arn`` become resolvable for the next."""
    for logical_id in logical_ids:
        resource = context.template["Resources"][logical_id]
        properties = context.resolve(resource["Properties"])
        kind = resource["Type"]
        if kind == "AWS::IAM::Group":
            group = iam.create_group(GroupName=properties["GroupName"])["Group"]
            context.resources[logical_id] = {"Ref": group["GroupName"], "Arn": group["Arn"]}
        elif kind == "AWS::IAM::ManagedPolicy":
            policy = iam.create_policy(
                PolicyName=properties["ManagedPolicyName"],
                Description=properties.get("Description", ""),
                PolicyDocument=json.dumps(properties["PolicyDocument"]),
            )["Policy"]
            context.resources[logical_id] = {"Ref": policy["Arn"]}
        elif kind == "AWS::IAM::Role":
            role = iam.create_role(
                RoleName=properties["RoleName"],
                Description=properties.get("Description", ""),
                MaxSessionDuration=int(properties.get("MaxSessionDuration", 3600)),
                AssumeRolePolicyDocument=json.dumps(properties["AssumeRolePolicyDocument"]),
            )["Role"]
            for inline in properties.get("Policies", []):
                iam.put_role_policy(
                    RoleName=role["RoleName"],
                    PolicyName=inline["PolicyName"],
                    PolicyDocument=json.dumps(inline["PolicyDocument"]),
                )
            context.resources[logical_id] = {"Ref": role["RoleName"], "Arn": role["Arn"]}
        else:
            raise NotImplementedError(f"{logical_id}: {kind} is not deployed by this helper")


def statement(context: Stack, role: str, sid: str) -> dict[str, Any]:
    """One statement of a role's inline policy, resolved (its ``Sid`` names it); only that
    one is resolved, so the role's other resources need not exist."""
    for policy in context.template["Resources"][role]["Properties"]["Policies"]:
        for entry in policy["PolicyDocument"]["Statement"]:
            candidate = entry["Fn::If"][1] if "Fn::If" in entry else entry
            if candidate.get("Sid") == sid:
                resolved: dict[str, Any] = context.resolve(entry)
                return resolved
    raise KeyError(f"{role} has no statement {sid}")

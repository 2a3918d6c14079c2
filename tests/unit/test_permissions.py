"""Least privilege, checked: each role in deploy/ grants exactly what the code calls.

The code side is each adapter's ``PERMISSIONS`` tuple, composed per principal in
:mod:`keyrotate.permissions`; the template side is every Allow statement of the role's inline
policies. Enforce tier: both branches of every ``Fn::If``, so the widest grant is what is
compared. Audit tier: the template's parameters fixed to audit (``DryRunFlag`` "True",
``MemberRoleTier`` "audit"), every other ``Fn::If`` still both ways. Deny statements are the
fences (tests/unit/test_iam_fences.py), never a grant.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore import xform_name
from cfnlint.decode import cfn_yaml

from keyrotate.aws import (
    events,
    iam,
    organizations,
    own_secret,
    s3,
    s3_objects,
    secrets,
    securityhub,
    ses,
    session,
    ssm,
)
from keyrotate.config.settings import ENV_VARIABLES
from keyrotate.permissions import AUDIT_ROLES, ROLES, WRITES

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SOURCE = ROOT / "src" / "keyrotate" / "aws"

# adapter module -> the AWS service whose client it calls, and actions it needs without a call
ADAPTERS: dict[str, tuple[Any, str, frozenset[str]]] = {
    "iam": (iam, "iam", frozenset()),
    "secrets": (secrets, "secretsmanager", frozenset()),
    "organizations": (organizations, "organizations", frozenset()),
    "session": (session, "sts", frozenset()),
    "ses": (ses, "ses", frozenset()),
    # a SecureString is decrypted by SSM with the caller's permission on the key
    "ssm": (ssm, "ssm", frozenset({"kms:Decrypt"})),
    "s3": (s3, "s3", frozenset()),
    "s3_objects": (s3_objects, "s3", frozenset()),
    "own_secret": (own_secret, "secretsmanager", frozenset()),  # the consumer's, no role's
    "events": (events, "events", frozenset()),
    "securityhub": (securityhub, "securityhub", frozenset()),
}


def _template(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = cfn_yaml.load(str(DEPLOY / name))
    return loaded


# The parameters that make each template's audit tier.
AUDIT_PARAMETERS: dict[str, dict[str, str]] = {
    "main.yaml": {"DryRunFlag": "True"},
    "member-role.yaml": {"MemberRoleTier": "audit"},
    "org-list-role.yaml": {},
}


def condition_value(
    conditions: dict[str, Any], node: Any, parameters: dict[str, str]
) -> bool | None:
    """A template condition's value with some parameters fixed; ``None`` when it depends on
    one that is not (then a statement under it counts both ways)."""
    if isinstance(node, dict) and len(node) == 1:
        ((key, argument),) = node.items()
        if key == "Condition":
            return condition_value(conditions, conditions[argument], parameters)
        if key == "Fn::Not":
            inner = condition_value(conditions, argument[0], parameters)
            return None if inner is None else not inner
        if key in ("Fn::And", "Fn::Or"):
            values = [condition_value(conditions, a, parameters) for a in argument]
            decisive = key == "Fn::Or"  # a True decides an Or, a False an And
            if decisive in values:
                return decisive
            return None if None in values else not decisive
        if key == "Fn::Equals":
            left, right = argument
            if isinstance(left, dict) and set(left) == {"Ref"} and left["Ref"] in parameters:
                return bool(parameters[left["Ref"]] == right)
    return None


def _statements(
    node: Any, conditions: dict[str, Any], parameters: dict[str, str]
) -> list[dict[str, Any]]:
    """Every statement under ``node``: each Fn::If's chosen branch, or both when undecided."""
    if isinstance(node, list):
        return [s for item in node for s in _statements(item, conditions, parameters)]
    if isinstance(node, dict):
        if "Fn::If" in node:
            name, when_true, when_false = node["Fn::If"]
            value = condition_value(conditions, {"Condition": name}, parameters)
            branches = [
                b for b, v in ((when_true, True), (when_false, False)) if value in (v, None)
            ]
            return [s for b in branches for s in _statements(b, conditions, parameters)]
        if "Effect" in node:
            return [node]
        if node == {"Ref": "AWS::NoValue"}:
            return []
    return []


def statements_of(
    template: str, role: str, parameters: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    loaded = _template(template)
    properties = loaded["Resources"][role]["Properties"]
    conditions = loaded.get("Conditions", {})
    return [
        statement
        for policy in properties.get("Policies", [])
        for statement in _statements(
            policy["PolicyDocument"]["Statement"], conditions, parameters or {}
        )
    ]


def _actions(statement: dict[str, Any]) -> list[str]:
    listed = statement["Action"]
    return [listed] if isinstance(listed, str) else list(listed)


def granted(template: str, role: str, parameters: dict[str, str] | None = None) -> set[str]:
    actions: set[str] = set()
    for statement in statements_of(template, role, parameters):
        assert statement["Effect"] in ("Allow", "Deny"), f"{role}: unexpected {statement}"
        if statement["Effect"] == "Allow":
            actions.update(_actions(statement))
    return actions


@pytest.mark.parametrize(("template", "role"), sorted(ROLES), ids=lambda v: str(v))
def test_each_role_grants_exactly_what_its_code_calls(template: str, role: str) -> None:
    have, need = granted(template, role), set(ROLES[(template, role)])
    assert (sorted(have - need), sorted(need - have)) == ([], []), "(extra, missing)"


@pytest.mark.parametrize(("template", "role"), sorted(AUDIT_ROLES), ids=lambda v: str(v))
def test_each_roles_audit_tier_grants_exactly_what_an_audit_calls(template: str, role: str) -> None:
    have = granted(template, role, AUDIT_PARAMETERS[template])
    need = set(AUDIT_ROLES[(template, role)])
    assert (sorted(have - need), sorted(need - have)) == ([], []), "(extra, missing)"
    assert not have & WRITES


def test_audit_tiers_grant_no_kms_use_of_a_secrets_key() -> None:
    # kms:Decrypt stays in the functions' audit tier for their own data key (environment,
    # logs) and, over SSM, the SMTP password; never on a key that encrypts secrets.
    member = granted("member-role.yaml", "MemberRole", AUDIT_PARAMETERS["member-role.yaml"])
    # kms:DescribeKey (keyrotate doctor) reads the key's metadata: no use of the key
    assert not {a for a in member if a.startswith("kms:") and a != "kms:DescribeKey"}
    rotation = statements_of("main.yaml", "RotationRole", AUDIT_PARAMETERS["main.yaml"])
    assert "SecretsKey" not in str([s["Resource"] for s in rotation if s["Effect"] == "Allow"])


def _called_operations(module_name: str, service: str) -> set[str]:
    """``service:Operation`` for every client method or paginator the module's code names."""
    model = botocore.session.get_session().get_service_model(service)
    by_method = {xform_name(op): op for op in model.operation_names}
    prefix = model.signing_name if service != "secretsmanager" else "secretsmanager"
    tree = ast.parse((SOURCE / f"{module_name}.py").read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in by_method:
            found.add(f"{prefix}:{by_method[node.attr]}")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get_paginator"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            found.add(f"{prefix}:{by_method[str(node.args[0].value)]}")
    return found


@pytest.mark.parametrize("module_name", sorted(ADAPTERS))
def test_each_adapter_declares_exactly_the_actions_it_calls(module_name: str) -> None:
    module, service, implied = ADAPTERS[module_name]
    called = _called_operations(module_name, service) | implied
    if module_name == "s3_objects":  # reads through s3.get_object_text
        called |= {"s3:GetObject"}
    assert set(module.PERMISSIONS) == called


def test_no_role_uses_an_aws_managed_policy() -> None:
    for name in ("main.yaml", "member-role.yaml", "org-list-role.yaml"):
        for logical_id, resource in _template(name)["Resources"].items():
            arns = resource.get("Properties", {}).get("ManagedPolicyArns", [])
            assert ":aws:policy/" not in str(arns), logical_id


def test_every_function_variable_is_a_setting_the_code_reads() -> None:
    known = {name for names in ENV_VARIABLES.values() for name in names}
    resources = _template("main.yaml")["Resources"]
    functions = [r for r in resources.values() if r["Type"] == "AWS::Lambda::Function"]
    assert len(functions) == 3
    for function in functions:
        variables = set(function["Properties"]["Environment"]["Variables"])
        unknown = {v for v in variables - known if not v.startswith("POWERTOOLS_")}
        assert unknown == set(), function["Properties"]["Handler"]

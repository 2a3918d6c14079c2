"""Least privilege, checked: each role in deploy/ grants exactly what the code calls.

The code side is each adapter's ``PERMISSIONS`` tuple, composed per principal in
:mod:`keyrotate.permissions`; the template side is every Allow statement of the role's inline
policies (both branches of every ``Fn::If``, so the widest grant is what is compared).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore import xform_name
from cfnlint.decode import cfn_yaml

from keyrotate.aws import iam, organizations, s3, s3_objects, secrets, ses, session, ssm
from keyrotate.config.settings import ENV_VARIABLES
from keyrotate.permissions import ROLES

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
}


def _template(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = cfn_yaml.load(str(DEPLOY / name))
    return loaded


def _statements(node: Any) -> list[dict[str, Any]]:
    """Every statement under ``node``, taking both branches of each Fn::If."""
    if isinstance(node, list):
        return [s for item in node for s in _statements(item)]
    if isinstance(node, dict):
        if "Fn::If" in node:
            _condition, when_true, when_false = node["Fn::If"]
            return _statements(when_true) + _statements(when_false)
        if "Effect" in node:
            return [node]
        if node == {"Ref": "AWS::NoValue"}:
            return []
    return []


def granted(template: str, role: str) -> set[str]:
    properties = _template(template)["Resources"][role]["Properties"]
    actions: set[str] = set()
    for policy in properties.get("Policies", []):
        for statement in _statements(policy["PolicyDocument"]["Statement"]):
            assert statement["Effect"] == "Allow", f"{role}: unexpected {statement}"
            listed = statement["Action"]
            actions.update([listed] if isinstance(listed, str) else listed)
    return actions


@pytest.mark.parametrize(("template", "role"), sorted(ROLES), ids=lambda v: str(v))
def test_each_role_grants_exactly_what_its_code_calls(template: str, role: str) -> None:
    have, need = granted(template, role), set(ROLES[(template, role)])
    assert (sorted(have - need), sorted(need - have)) == ([], []), "(extra, missing)"


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

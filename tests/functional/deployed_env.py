"""The Lambda functions' environment exactly as ``deploy/main.yaml`` gives it to them.

CloudFormation is not run (moto's skips resource types it does not know and still says
CREATE_COMPLETE, EMULATOR.md), so this module does what it would do for the functions'
``Environment``:

- parameter values: the template's defaults, then what ``deploy/README.md``'s step 1 tells an
  operator to pass (parsed from the README, its placeholders filled in by the test), then the
  test's own choices; each checked against the parameter's AllowedValues, AllowedPattern and
  Min/MaxValue, and the template's ``Rules`` evaluated, as CloudFormation checks them;
- intrinsic functions: ``Ref`` (parameters, pseudo parameters, resources), ``Fn::GetAtt``,
  ``Fn::If`` with the template's ``Conditions``, ``Fn::Sub``, ``Fn::Join``, ``Fn::Split``,
  ``Fn::Equals``/``Not``/``And``/``Or``. Anything else fails loudly, so a template change the
  resolver does not understand cannot pass unnoticed.

Resources are given by the test as ``{logical id: {"Ref": ..., "<attribute>": ...}}`` (for
instance emulator-created KMS keys for ``SecretsKey`` and ``DataKey``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cfnlint.decode import cfn_yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
NO_VALUE = object()
_SUB = re.compile(r"\$\{([^}]+)\}")


def load_template(name: str = "main.yaml") -> dict[str, Any]:
    template: dict[str, Any] = cfn_yaml.load(str(DEPLOY / name))
    return template


def readme_parameters(placeholders: Mapping[str, str]) -> dict[str, str]:
    """The ``--parameter-overrides`` README's step 1 passes to main.yaml, placeholders filled.

    Every value that looks like a placeholder (``$VAR``, ``<...>``, ``xxxx``) must be in
    ``placeholders``: a new one in the README makes the test say so.
    """
    text = (DEPLOY / "README.md").read_text(encoding="utf-8")
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if "--template-file deploy/main.yaml" in line)
    command: list[str] = []
    for line in lines[start:]:
        code = line.split("#", 1)[0].rstrip()
        command.append(code.removesuffix("\\"))
        if not code.endswith("\\"):
            break
    overrides = " ".join(command).split("--parameter-overrides", 1)[1].split(" --", 1)[0]
    values: dict[str, str] = {}
    for name, value in re.findall(r"(\w+)=(<[^>]*>|\S+)", overrides):
        if re.search(r"[$<>]|xxxx", value):
            if value not in placeholders:
                raise KeyError(f"README placeholder {value!r} for {name}: give the test a value")
            value = placeholders[value]
        values[name] = value
    return values


def main_stack(
    *,
    org_id: str,
    root_id: str,
    management_account: str,
    deployment_account: str,
    parameters: Mapping[str, str],
    resources: dict[str, dict[str, str]],
    region: str = "us-east-1",
) -> Stack:
    """main.yaml as the stack ``keyrotate`` with README step 1's parameters (placeholders
    filled with the test's organization), the test's own ``parameters`` on top."""
    given = readme_parameters(
        {
            "$BUCKET": "keyrotate-code-bucket",
            "$ZIP": "keyrotate-lambda-0123456789ab.zip",
            "o-xxxxxxxxxx": org_id,
            "<management account id>": management_account,
            "r-xxxx": root_id,
        }
    )
    return Stack(
        load_template("main.yaml"),
        {**given, **parameters},
        pseudo={
            "AWS::AccountId": deployment_account,
            "AWS::Region": region,
            "AWS::Partition": "aws",
            "AWS::StackName": "keyrotate",
            "AWS::URLSuffix": "amazonaws.com",
        },
        resources=resources,
    )


@dataclass
class Stack:
    """One stack's resolution context."""

    template: dict[str, Any]
    parameters: dict[str, str]  # given values (strings, as the CLI passes them)
    pseudo: dict[str, str]
    resources: dict[str, dict[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        declared = self.template["Parameters"]
        unknown = set(self.parameters) - set(declared)
        if unknown:
            raise KeyError(f"parameters the template does not declare: {sorted(unknown)}")
        values: dict[str, Any] = {}
        for name, spec in declared.items():
            if name in self.parameters:
                raw = self.parameters[name]
            elif "Default" in spec:
                raw = spec["Default"]
            else:
                raise KeyError(f"parameter {name} has no default and was not given")
            values[name] = _checked(name, spec, raw)
        self._values = values
        self._check_rules()

    # parameters and rules -----------------------------------------------------------------
    def _check_rules(self) -> None:
        for name, rule in self.template.get("Rules", {}).items():
            applies = "RuleCondition" not in rule or self.resolve(rule["RuleCondition"])
            for assertion in rule.get("Assertions", []) if applies else []:
                if not self.resolve(assertion["Assert"]):
                    raise ValueError(f"rule {name}: {assertion.get('AssertDescription')}")

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template["Conditions"][name]))

    # intrinsic functions ------------------------------------------------------------------
    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            items = [self.resolve(item) for item in node]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(node, dict):
            return (
                str(node) if isinstance(node, int | float) and not isinstance(node, bool) else node
            )
        if len(node) == 1:
            ((key, argument),) = node.items()
            if key == "Ref" or key.startswith("Fn::") or key == "Condition":
                return self._function(key, argument)
        resolved = {k: self.resolve(v) for k, v in node.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def _function(self, key: str, argument: Any) -> Any:
        if key == "Ref":
            return self._ref(argument)
        if key == "Condition":
            return self.condition(argument)
        if key == "Fn::GetAtt":
            name, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
            return self.resources[name][attribute]
        if key == "Fn::If":
            name, when_true, when_false = argument
            return self.resolve(when_true if self.condition(name) else when_false)
        if key == "Fn::Equals":
            left, right = (self.resolve(a) for a in argument)
            return left == right
        if key == "Fn::Not":
            return not self.resolve(argument[0])
        if key == "Fn::And":
            return all(self.resolve(a) for a in argument)
        if key == "Fn::Or":
            return any(self.resolve(a) for a in argument)
        if key == "Fn::Join":
            separator, items = argument
            return separator.join(self.resolve(items))
        if key == "Fn::Split":
            separator, text = argument
            return self.resolve(text).split(separator)
        if key == "Fn::Sub":
            return self._sub(argument)
        raise NotImplementedError(f"{key} is not resolved by this test helper")

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self._values:
            return self._values[name]
        return self.resources[name]["Ref"]

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument

        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"  # ${!Literal} stays ${Literal}
            if name in variables:
                return str(self.resolve(variables[name]))
            if "." in name:
                resource, attribute = name.split(".", 1)
                return str(self.resources[resource][attribute])
            return str(self._ref(name))

        return _SUB.sub(value, text)

    # the functions ------------------------------------------------------------------------
    def function_environments(self) -> dict[str, dict[str, str]]:
        """Each Lambda function's resolved Environment.Variables, by logical id."""
        found = {}
        for logical_id, resource in self.template["Resources"].items():
            if resource["Type"] != "AWS::Lambda::Function":
                continue
            variables = self.resolve(resource["Properties"]["Environment"]["Variables"])
            for name, value in variables.items():
                if not isinstance(value, str):
                    raise TypeError(f"{logical_id}.{name} resolves to {value!r}, not a string")
            found[logical_id] = variables
        return found


def _checked(name: str, spec: Mapping[str, Any], raw: Any) -> Any:
    """A parameter's value as CloudFormation accepts it, or ValueError."""
    kind = spec["Type"]
    if kind == "CommaDelimitedList":
        items = raw if isinstance(raw, list) else [i for i in str(raw).split(",")]
        return [str(i).strip() for i in items if str(i).strip()]
    text = str(raw)
    if "AllowedValues" in spec and text not in [str(v) for v in spec["AllowedValues"]]:
        raise ValueError(f"{name}={text!r} is not one of {spec['AllowedValues']}")
    if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], text):
        raise ValueError(f"{name}={text!r} does not match {spec['AllowedPattern']}")
    if kind == "Number":
        number = float(text)
        if "MinValue" in spec and number < float(spec["MinValue"]):
            raise ValueError(f"{name}={text} is below MinValue {spec['MinValue']}")
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            raise ValueError(f"{name}={text} is above MaxValue {spec['MaxValue']}")
    return text

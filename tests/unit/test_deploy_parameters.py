"""No value main.yaml accepts is refused by the code at run time.

CloudFormation checks each parameter alone (MinValue/MaxValue, AllowedPattern) and cannot
compare two. The code's policy is a set of linear inequalities over the numbers (all > 0,
warn < rotate < deactivate < delete): its valid region is convex, so if every corner of the
box the template's bounds draw is valid, every point inside is. The walk loads each corner
through the code's own loader, from exactly the environment the functions would get.
"""

from __future__ import annotations

import itertools
import math
import re
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

from keyrotate.config import load_settings
from keyrotate.domain.errors import InputError
from keyrotate.domain.policy import RotationPolicy

MAIN = Path(__file__).resolve().parents[2] / "deploy" / "main.yaml"


def _template() -> dict[str, Any]:
    loaded: dict[str, Any] = cfn_yaml.load(str(MAIN))
    return loaded


def _function_variables(template: dict[str, Any]) -> dict[str, Any]:
    functions = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    variables: dict[str, Any] = functions[0]["Properties"]["Environment"]["Variables"]
    return variables


def numeric_variables() -> dict[str, dict[str, Any]]:
    """Environment variable -> its Number parameter, for every variable passed straight on."""
    template = _template()
    parameters = template["Parameters"]
    found = {}
    for variable, value in _function_variables(template).items():
        if isinstance(value, dict) and set(value) == {"Ref"}:
            parameter = parameters.get(value["Ref"])
            if parameter is not None and parameter["Type"] == "Number":
                found[variable] = parameter
    return found


def test_the_lifecycle_parameters_are_all_walked() -> None:
    walked = set(numeric_variables())
    assert {"RotationPeriod", "InstallWindow", "RecoveryWindow", "WarnPeriod"} <= walked
    # the thresholds CloudFormation cannot keep in order are not passed as such
    assert not {"InactivePeriod", "DeletePeriod"} & set(_function_variables(_template()))


@pytest.mark.parametrize("variable", sorted(numeric_variables()))
def test_each_numeric_parameter_is_bounded_on_both_sides(variable: str) -> None:
    parameter = numeric_variables()[variable]
    low, high = int(parameter["MinValue"]), int(parameter["MaxValue"])
    assert 1 <= low <= int(parameter["Default"]) <= high, variable


def test_every_corner_of_the_accepted_box_is_a_valid_configuration() -> None:
    bounded = numeric_variables()
    choices = {
        name: sorted({int(p["MinValue"]), int(p["Default"]), int(p["MaxValue"])})
        for name, p in bounded.items()
    }
    names = sorted(choices)
    walked = 0
    for values in itertools.product(*(choices[name] for name in names)):
        env = {name: str(value) for name, value in zip(names, values, strict=True)}
        settings = load_settings(None, env, {})  # raises InputError if the code refuses
        assert isinstance(settings.policy(), RotationPolicy)
        walked += 1
    assert walked == math.prod(len(values) for values in choices.values()) >= 2**4


def test_the_template_defaults_are_the_specs_policy() -> None:
    env = {name: str(p["Default"]) for name, p in numeric_variables().items()}
    policy = load_settings(None, env, {}).policy()
    assert policy == RotationPolicy()


@pytest.mark.parametrize(
    ("variable", "outside"),
    [("WarnPeriod", 0), ("RotationPeriod", 14), ("InstallWindow", 0), ("RecoveryWindow", 0)],
)
def test_values_the_code_refuses_are_outside_the_template_bounds(
    variable: str, outside: int
) -> None:
    parameter = numeric_variables()[variable]
    assert outside < int(parameter["MinValue"])
    # The bound is not arbitrary: with the other parameters at their worst, the code refuses.
    worst = {
        "WarnPeriod": "14",
        "RotationPeriod": "15",
        "InstallWindow": "1",
        "RecoveryWindow": "1",
    }
    worst[variable] = str(outside)
    with pytest.raises(InputError):
        load_settings(None, worst, {})


@pytest.mark.parametrize(
    "alias",
    ["", "alias/keyrotate", "alias/team/secrets_2024-a", "alias/" + "a" * 250],
)
def test_every_member_key_alias_the_template_accepts_the_code_accepts(alias: str) -> None:
    pattern = _template()["Parameters"]["MemberSecretsKmsKeyAlias"]["AllowedPattern"]
    assert re.fullmatch(pattern, alias)
    settings = load_settings(None, {"MemberSecretsKmsKeyAlias": alias}, {})
    assert settings.member_secrets_kms_key_alias == (alias or None)


@pytest.mark.parametrize(
    "alias", ["keyrotate", "alias/", "alias/with space", "arn:aws:kms:us-east-1:1:alias/x"]
)
def test_member_key_aliases_the_code_refuses_the_template_refuses(alias: str) -> None:
    pattern = _template()["Parameters"]["MemberSecretsKmsKeyAlias"]["AllowedPattern"]
    assert not re.fullmatch(pattern, alias)
    with pytest.raises(InputError):
        load_settings(None, {"MemberSecretsKmsKeyAlias": alias}, {})

"""The run's state machine (main.yaml RunStateMachine) is valid ASL and wired to the template.

Checked statically: JSON-serialisable, every transition names a state of its own scope, every
state is reachable, every Task invokes a function the template defines, the per-account task
retries Lambda and throttling errors with backoff and jitter and catches everything else into
that account's result, MaxConcurrency comes from the parameter, and both Map modes exist and
are chosen by the MapMode parameter.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

MAIN = Path(__file__).resolve().parents[2] / "deploy" / "main.yaml"
RETRIED = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9]+)\}")


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    loaded: dict[str, Any] = cfn_yaml.load(str(MAIN))
    return loaded


@pytest.fixture(scope="module")
def machine(template: dict[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = template["Resources"]["RunStateMachine"]["Properties"]
    return props


@pytest.fixture(scope="module")
def definition(machine: dict[str, Any]) -> dict[str, Any]:
    # Round-trip through JSON: what CloudFormation sends is JSON, so it must serialise.
    loaded: dict[str, Any] = json.loads(json.dumps(machine["Definition"]))
    return loaded


def scopes(definition: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The top-level state graph and every Map's item processor graph."""
    yield definition
    for state in definition["States"].values():
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            yield from scopes(processor)


def transitions(state: dict[str, Any]) -> list[str]:
    targets = [state[k] for k in ("Next", "Default") if k in state]
    targets += [choice["Next"] for choice in state.get("Choices", [])]
    targets += [catch["Next"] for catch in state.get("Catch", [])]
    return targets


def all_states(definition: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for scope in scopes(definition):
        yield from scope["States"].items()


def rotate_tasks(definition: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        state["ItemProcessor"]["States"][state["ItemProcessor"]["StartAt"]]
        for state in definition["States"].values()
        if state["Type"] == "Map"
    ]


def test_every_scope_starts_at_a_state_and_transitions_only_to_its_own_states(
    definition: dict[str, Any],
) -> None:
    for scope in scopes(definition):
        names = set(scope["States"])
        assert scope["StartAt"] in names
        for name, state in scope["States"].items():
            assert set(transitions(state)) <= names, name
            terminal = state.get("End") is True or state["Type"] in {"Succeed", "Fail", "Choice"}
            assert terminal or "Next" in state, f"{name} neither ends nor goes anywhere"


def test_every_state_is_reachable_from_start(definition: dict[str, Any]) -> None:
    for scope in scopes(definition):
        seen, todo = set(), [scope["StartAt"]]
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo.extend(transitions(scope["States"][name]))
        assert seen == set(scope["States"])


def test_every_task_invokes_a_function_the_template_defines(
    template: dict[str, Any], machine: dict[str, Any], definition: dict[str, Any]
) -> None:
    functions = {
        n for n, r in template["Resources"].items() if r["Type"] == "AWS::Lambda::Function"
    }
    substitutions = machine["DefinitionSubstitutions"]
    invoked = set()
    for name, state in all_states(definition):
        if state["Type"] != "Task":
            continue
        assert state["Resource"] == "arn:aws:states:::lambda:invoke", name
        placeholder = PLACEHOLDER.fullmatch(state["Parameters"]["FunctionName"])
        assert placeholder, name
        target = substitutions[placeholder.group(1)]
        assert target["Fn::GetAtt"][1] == "Arn"
        assert target["Fn::GetAtt"][0] in functions, name
        invoked.add(target["Fn::GetAtt"][0])
    assert invoked == functions


def test_state_machine_role_may_invoke_exactly_those_functions(template: dict[str, Any]) -> None:
    role = template["Resources"]["StateMachineRole"]["Properties"]
    statement = next(
        s
        for s in role["Policies"][0]["PolicyDocument"]["Statement"]
        if s["Action"] == ["lambda:InvokeFunction"]
    )
    named = {r["Fn::GetAtt"][0] for r in statement["Resource"] if "Fn::GetAtt" in r}
    assert named == {"InventoryFunction", "RotateAccountFunction", "DigestFunction"}


def test_placeholders_and_substitutions_match_one_to_one(
    machine: dict[str, Any], definition: dict[str, Any]
) -> None:
    used = set(PLACEHOLDER.findall(json.dumps(definition)))
    assert used == set(machine["DefinitionSubstitutions"])


def test_per_account_task_retries_transient_errors_with_backoff_and_jitter(
    definition: dict[str, Any],
) -> None:
    tasks = rotate_tasks(definition)
    assert len(tasks) == 2
    for task in tasks:
        (retry,) = task["Retry"]
        assert set(retry["ErrorEquals"]) == RETRIED
        assert retry["BackoffRate"] > 1
        assert retry["MaxAttempts"] >= 3
        assert retry["JitterStrategy"] == "FULL"
        assert "States.ALL" not in retry["ErrorEquals"]  # a bad event is not retried


def test_per_account_failure_becomes_that_accounts_result_and_the_run_goes_on(
    definition: dict[str, Any],
) -> None:
    for state in definition["States"].values():
        if state["Type"] != "Map":
            continue
        processor = state["ItemProcessor"]
        task = processor["States"][processor["StartAt"]]
        (catch,) = task["Catch"]
        assert catch["ErrorEquals"] == ["States.ALL"]
        assert catch["ResultPath"] == "$.error"  # the account stays in the state
        recorder = processor["States"][catch["Next"]]
        assert recorder["Type"] == "Pass"
        assert recorder["End"] is True
        assert recorder["Parameters"]["status"] == "failed"
        assert recorder["Parameters"]["account_id.$"] == "$.account.account_id"
        assert recorder["Parameters"]["error.$"] == "$.error.Error"


def test_map_concurrency_comes_from_the_max_concurrency_parameter(
    template: dict[str, Any], machine: dict[str, Any], definition: dict[str, Any]
) -> None:
    assert machine["DefinitionSubstitutions"]["MaxConcurrency"] == {"Ref": "MaxConcurrency"}
    assert template["Parameters"]["MaxConcurrency"]["Type"] == "Number"
    configure = definition["States"][definition["StartAt"]]
    assert configure["Parameters"]["max_concurrency.$"] == (
        "States.StringToJson('${MaxConcurrency}')"
    )
    for state in definition["States"].values():
        if state["Type"] == "Map":
            assert state["MaxConcurrencyPath"] == "$.max_concurrency"
            assert "MaxConcurrency" not in state


def test_both_map_modes_exist_and_the_map_mode_parameter_chooses(
    template: dict[str, Any], machine: dict[str, Any], definition: dict[str, Any]
) -> None:
    assert set(template["Parameters"]["MapMode"]["AllowedValues"]) == {"inline", "distributed"}
    assert machine["DefinitionSubstitutions"]["MapMode"] == {"Ref": "MapMode"}
    assert definition["States"]["Configure"]["Parameters"]["map_mode"] == "${MapMode}"
    maps = {
        n: s["ItemProcessor"]["ProcessorConfig"]
        for n, s in definition["States"].items()
        if s["Type"] == "Map"
    }
    modes = {config["Mode"]: name for name, config in maps.items()}
    assert set(modes) == {"INLINE", "DISTRIBUTED"}
    assert maps[modes["DISTRIBUTED"]]["ExecutionType"] == "STANDARD"
    chooser = definition["States"]["ChooseMapMode"]
    assert chooser["Choices"] == [
        {
            "Variable": "$.map_mode",
            "StringEquals": "distributed",
            "Next": modes["DISTRIBUTED"],
        }
    ]
    assert chooser["Default"] == modes["INLINE"]


def test_distributed_map_reads_items_from_and_writes_results_to_the_report_bucket(
    definition: dict[str, Any],
) -> None:
    distributed = definition["States"]["RotateAccountsDistributed"]
    assert distributed["ItemReader"]["Resource"] == "arn:aws:states:::s3:getObject"
    assert distributed["ItemReader"]["ReaderConfig"] == {"InputType": "JSON"}
    assert distributed["ItemReader"]["Parameters"] == {
        "Bucket.$": "$.inventory.items_bucket",
        "Key.$": "$.inventory.items_key",
    }
    assert distributed["ResultWriter"]["Parameters"]["Bucket"] == "${ReportBucket}"
    digest = definition["States"][distributed["Next"]]
    assert digest["Parameters"]["Payload"]["result_writer.$"] == "$.map.ResultWriterDetails"


def test_items_handed_to_rotate_account_follow_the_event_contract(
    definition: dict[str, Any],
) -> None:
    for state in definition["States"].values():
        if state["Type"] == "Map":
            assert state["ItemSelector"] == {
                "run_id.$": "$.inventory.run_id",
                "mode.$": "$.inventory.mode",
                "account.$": "$$.Map.Item.Value",
            }


def test_a_run_with_a_failed_account_ends_failed_after_the_digest(
    definition: dict[str, Any],
) -> None:
    states = definition["States"]
    for digest in ("DigestInline", "DigestDistributed"):
        assert states[digest]["Next"] == "AnyAccountFailed"
    (choice,) = states["AnyAccountFailed"]["Choices"]
    assert choice["Variable"] == "$.accounts_failed"
    assert states[choice["Next"]]["Type"] == "Fail"
    assert states[states["AnyAccountFailed"]["Default"]]["Type"] == "Succeed"

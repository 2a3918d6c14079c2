"""keyrotate_emulator.lambdas: Lambda's Invoke runs the function's Python handler in-process.

Invoked through the real Lambda API of the emulator, as Step Functions invokes them. Also the
one rewrite keyrotate_emulator.stepfunctions makes to a definition for moto's grammar.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from keyrotate_emulator import EmulatorServer
from keyrotate_emulator.lambdas import InvokeFault, LambdaContext, LambdaRoutes
from keyrotate_emulator.stepfunctions import for_interpreter

HERE = __name__  # this module: its handlers are routed by the prefix below
SEEN: list[tuple[dict[str, Any], LambdaContext]] = []


def echo_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    SEEN.append((event, context))
    return {"echo": event, "remaining_ms": context.get_remaining_time_in_millis()}


def failing_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    raise ValueError("the event says no")


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "")
    return buffer.getvalue()


def create(name: str, handler: str, environment: dict[str, str] | None = None) -> None:
    role = boto3.client("iam").create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument="{}")[
        "Role"
    ]["Arn"]
    boto3.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler=handler,
        Code={"ZipFile": _zip()},
        Timeout=120,
        MemorySize=256,
        Environment={"Variables": environment or {}},
    )


def invoke(name: str, event: dict[str, Any]) -> dict[str, Any]:
    """One attempt, as Step Functions' own client makes it (its Retry does the rest)."""
    client = boto3.client("lambda", config=Config(retries={"total_max_attempts": 1}))
    answer: dict[str, Any] = client.invoke(FunctionName=name, Payload=json.dumps(event).encode())
    raw = answer["Payload"].read()
    answer["Payload"] = json.loads(raw) if raw.startswith(b"{") else raw.decode()
    return answer


@pytest.fixture
def routes(emulator: EmulatorServer) -> Any:
    SEEN.clear()
    routed = LambdaRoutes(prefixes=(f"{HERE}.",))
    with routed.install():
        yield routed


def test_invoke_calls_the_handler_named_by_the_function_with_a_lambda_context(
    routes: LambdaRoutes,
) -> None:
    create("echo", f"{HERE}.echo_handler")
    routes.set_remaining_time(lambda name, event: 5_000 if event.get("short") else None)

    answer = invoke("echo", {"n": 1})
    short = invoke("echo", {"short": True})

    assert "FunctionError" not in answer
    assert answer["Payload"]["echo"] == {"n": 1}
    assert 110_000 < answer["Payload"]["remaining_ms"] <= 120_000  # the function's Timeout
    assert 0 < short["Payload"]["remaining_ms"] <= 5_000
    _, context = SEEN[0]
    assert context.function_name == "echo"
    assert context.invoked_function_arn.endswith(":function:echo")
    assert context.memory_limit_in_mb == 256
    assert [i.outcome for i in routes.invocations("echo")] == ["ok", "ok"]


def test_a_handler_that_raises_is_answered_as_the_runtime_answers_it(routes: LambdaRoutes) -> None:
    create("failing", f"{HERE}.failing_handler")
    answer = invoke("failing", {})
    assert answer["FunctionError"] == "Unhandled"
    assert answer["Payload"]["errorType"] == "ValueError"
    assert answer["Payload"]["errorMessage"] == "the event says no"
    assert answer["Payload"]["stackTrace"]
    (invocation,) = routes.invocations("failing")
    assert (invocation.outcome, invocation.error) == ("function_error", "ValueError")


def test_injected_service_errors_refuse_the_call_and_a_timeout_kills_it(
    routes: LambdaRoutes,
) -> None:
    create("echo", f"{HERE}.echo_handler")
    routes.inject(InvokeFault("echo", "TooManyRequestsException", event_contains='"first"'))
    routes.inject(InvokeFault("echo", "Sandbox.Timedout", nth=2, event_contains='"later"'))

    with pytest.raises(ClientError) as refused:
        invoke("echo", {"first": 1})
    assert refused.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert invoke("echo", {"first": 1})["Payload"]["echo"] == {"first": 1}  # times=1
    assert "FunctionError" not in invoke("echo", {"later": 1})  # nth=2: the first goes through
    killed = invoke("echo", {"later": 2})
    assert killed["FunctionError"] == "Unhandled"
    assert killed["Payload"]["errorType"] == "Sandbox.Timedout"
    assert [e for e, _ in SEEN] == [{"first": 1}, {"later": 1}]  # refused or killed: not run


def test_a_function_whose_environment_the_process_lacks_is_refused(
    routes: LambdaRoutes, monkeypatch: pytest.MonkeyPatch
) -> None:
    create("echo", f"{HERE}.echo_handler", {"Setting": "function value"})
    monkeypatch.setenv("Setting", "process value")
    with pytest.raises(ClientError) as refused:
        invoke("echo", {})
    assert refused.value.response["Error"]["Code"] == "EmulatorEnvironmentMismatch"
    assert "Setting" in refused.value.response["Error"]["Message"]
    assert SEEN == []
    monkeypatch.setenv("Setting", "function value")
    assert invoke("echo", {})["Payload"]["echo"] == {}


def test_an_unknown_function_is_not_found_and_other_handlers_are_left_to_moto(
    routes: LambdaRoutes,
) -> None:
    with pytest.raises(ClientError) as missing:
        invoke("nowhere", {})
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    create("elsewhere", "other_package.handler")
    answer = invoke("elsewhere", {})  # moto's own answer: it tries Docker, which is not here
    assert "docker" in str(answer["Payload"]).lower()
    assert routes.invocations() == []


def test_routes_install_one_at_a_time_and_uninstall(emulator: EmulatorServer) -> None:
    from moto.awslambda.models import LambdaBackend

    original = LambdaBackend.invoke
    with (
        LambdaRoutes().install(),
        pytest.raises(RuntimeError, match="already installed"),
        LambdaRoutes().install(),
    ):
        pass
    assert LambdaBackend.invoke is original


def test_the_interpreter_gets_an_integer_tolerance_as_the_same_decimal() -> None:
    definition = {"States": {"M": {"Type": "Map", "ToleratedFailurePercentage": 100}}}
    rewritten = json.loads(for_interpreter(json.dumps(definition)))
    assert rewritten["States"]["M"]["ToleratedFailurePercentage"] == 100.0
    assert json.dumps(rewritten).count("100.0") == 1

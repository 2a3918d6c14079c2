"""The run's state machine, executed: deploy/main.yaml's definition run by moto's interpreter.

What the template would deploy is created in the emulator from the template itself
(:mod:`tests.functional.deployed_env`): the three functions with their resolved ``Handler``,
``Timeout``, ``MemorySize`` and ``Environment``, and the ``<stack>-run`` state machine with its
``Definition`` after ``DefinitionSubstitutions``. ``StartExecution`` then runs the definition
(:mod:`keyrotate_emulator.stepfunctions`), and its ``lambda:invoke`` tasks reach the real
handlers in-process through the Lambda API (:mod:`keyrotate_emulator.lambdas`). Both map modes
run the same organization:

- ``ok-a``: one due key; the Lambda service refuses its first invocation (``ServiceException``),
  the Retry invokes it again;
- ``ok-b``: one due key;
- ``no-role``: its role cannot be assumed (AccessDenied on AssumeRole): the function returns
  it ``failed``;
- ``crashed``: its function dies (``Sandbox.Timedout``): the Catch records it ``failed``;
- ``big``: three due keys over ``MaxActionsPerAccount`` = 2: one change is deferred;
- ``late``: two due keys, but its invocation starts with 30 s left, under the minute the
  handler keeps to finish safely: the account is deferred whole, and its Map item succeeds;
- the management account (the deployment account here): nothing to do.

Every account's result must reach the digest, the run report must list them all, and the
run must end ``Failed`` with ``AccountsFailed`` (two accounts failed) after the digest. An
audit request (``{"mode": "audit"}``) on the same deployment ends ``Succeeded``.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from keyrotate_emulator import EmulatorServer, Fault, Strictness
from keyrotate_emulator.lambdas import InvokeFault, LambdaRoutes
from keyrotate_emulator.seed import (
    MANAGEMENT_ACCOUNT_ID,
    KeySpec,
    OrganizationBuilder,
    UserSpec,
    create_member_roles,
    iam_client,
    read_own_secret_policy,
    seed_users,
)
from keyrotate_emulator.stepfunctions import Interpreter, executing_state_machines, for_interpreter

from .deployed_env import load_template, main_stack

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

REGION = "us-east-1"
STACK = "keyrotate"
ROLE = "keyrotate-member"  # IAMRoleName's default
READ_POLICY = "keyrotate-read-own-secret"  # ReadSecretPolicyName's default
REPORT_BUCKET = "keyrotate-reportbucket-5e6f7a8b9c0d"
KILL_SWITCH = f"/{STACK}/kill-switch"
DEPLOYMENT = MANAGEMENT_ACCOUNT_ID  # moto's interpreter calls as its default account
DUE = KeySpec(age_days=95, active=True, used_days_ago=1)
ROTATE_FUNCTION = f"{STACK}-rotate-account"
# AWS fails a state whose input or output is over 256 KB (States.DataLimitExceeded); moto does
# not check. The inline Map's output carries every account's item and result: README's "up to a
# few hundred accounts" must hold even when they all fail (a long error each).
STATE_LIMIT = 262_144
INLINE_ACCOUNTS = 200


@dataclass(frozen=True)
class Org:
    org_id: str
    root_id: str
    accounts: dict[str, str]  # name -> id, the management account's included


@dataclass(frozen=True)
class Deployed:
    name: str
    role_arn: str
    machine_type: str
    definition: str
    environment: dict[str, str]
    report_prefix: str

    def create(self) -> str:
        """The state machine (in the interpreter's backend: create it once it is on)."""
        return str(
            boto3.client("stepfunctions").create_state_machine(
                name=self.name,
                definition=for_interpreter(self.definition),
                roleArn=self.role_arn,
                type=self.machine_type,
            )["stateMachineArn"]
        )


def build_org(url: str, now: datetime) -> Org:
    builder = OrganizationBuilder(url)
    accounts = {"management": builder.management.account_id}
    for name in ("ok-a", "ok-b", "no-role", "crashed", "big", "late"):
        accounts[name] = builder.account(name, f"{name}@example.com", "Workloads").account_id
    create_member_roles(url, accounts.values(), ROLE)  # member-role.yaml, everywhere
    for account in accounts.values():
        iam_client(url, account, ROLE).create_policy(
            PolicyName=READ_POLICY, PolicyDocument=read_own_secret_policy(account)
        )
    for name in ("ok-a", "ok-b", "no-role", "crashed"):
        seed_users(url, accounts[name], [UserSpec("svc-app", (DUE,))], now, role_name=ROLE)
    for name, users in (("big", 3), ("late", 2)):
        specs = [UserSpec(f"svc-{i}", (DUE,)) for i in range(users)]
        seed_users(url, accounts[name], specs, now, role_name=ROLE)
    org = boto3.client("organizations").describe_organization()["Organization"]
    return Org(org["Id"], builder.root_id, accounts)


def _role_ids(template: dict[str, Any]) -> set[str]:
    return {
        resource["Properties"]["Role" if "Role" in resource["Properties"] else "RoleArn"][
            "Fn::GetAtt"
        ][0]
        for resource in template["Resources"].values()
        if resource["Type"] in ("AWS::Lambda::Function", "AWS::StepFunctions::StateMachine")
    }


def _zip() -> bytes:
    """Any code: the functions run in-process from their Handler setting."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("keyrotate/__init__.py", "")
    return buffer.getvalue()


def deploy(org: Org, map_mode: str) -> Deployed:
    """What main.yaml's stack creates and the run uses, from the template's own text."""
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=REPORT_BUCKET)
    boto3.client("ses").verify_email_identity(EmailAddress="security@example.com")
    boto3.client("ssm").put_parameter(Name=KILL_SWITCH, Value="off", Type="String")
    data_key = boto3.client("kms").create_key(Description="keyrotate data")["KeyMetadata"]
    template = load_template("main.yaml")
    iam = boto3.client("iam")
    trust = json.dumps({"Version": "2012-10-17", "Statement": []})
    roles = {  # the roles the functions and the state machine run as (Lambda checks they exist)
        logical_id: iam.create_role(
            RoleName=f"{STACK}-{logical_id}", AssumeRolePolicyDocument=trust
        )["Role"]["Arn"]
        for logical_id in _role_ids(template)
    }
    resources: dict[str, dict[str, str]] = {
        "ReportBucket": {"Ref": REPORT_BUCKET, "Arn": f"arn:aws:s3:::{REPORT_BUCKET}"},
        "DataKey": {"Ref": data_key["KeyId"], "Arn": data_key["Arn"]},
        "SecretsKey": {"Ref": "unused", "Arn": "unused"},
        "KillSwitch": {"Ref": KILL_SWITCH},
        **{
            logical_id: {"Ref": arn.rsplit("/", 1)[1], "Arn": arn}
            for logical_id, arn in roles.items()
        },
    }
    stack = main_stack(
        org_id=org.org_id,
        root_id=org.root_id,
        management_account=MANAGEMENT_ACCOUNT_ID,
        deployment_account=DEPLOYMENT,
        parameters={
            "DryRunFlag": "False",
            "MapMode": map_mode,
            "MaxActionsPerAccount": "2",
            "DeployMemberRoleStackSet": "False",
        },
        resources=resources,
        region=REGION,
    )
    lam = boto3.client("lambda")
    environments = stack.function_environments()
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        props = resource["Properties"]
        created = lam.create_function(
            FunctionName=stack.resolve(props["FunctionName"]),
            Runtime=props["Runtime"],
            Role=stack.resolve(props["Role"]),
            Handler=props["Handler"],
            Code={"ZipFile": _zip()},
            Timeout=int(props["Timeout"]),
            MemorySize=int(props["MemorySize"]),
            Environment={"Variables": environments[logical_id]},
        )
        resources[logical_id] = {"Ref": created["FunctionName"], "Arn": created["FunctionArn"]}
    machine = template["Resources"]["RunStateMachine"]["Properties"]
    substitutions = stack.resolve(machine["DefinitionSubstitutions"])
    text = json.dumps(machine["Definition"])
    for name, value in substitutions.items():
        text = text.replace("${" + name + "}", str(value))
    assert "${" not in text, "a substitution the template does not define"
    # One process environment serves the three functions: the union of theirs, which must
    # not give one name two values (LambdaRoutes checks each function's against it).
    union: dict[str, str] = {}
    for environment in environments.values():
        for name, value in environment.items():
            assert union.setdefault(name, value) == value, f"{name} differs between functions"
    return Deployed(
        name=stack.resolve(machine["StateMachineName"]),
        role_arn=stack.resolve(machine["RoleArn"]),
        machine_type=machine["StateMachineType"],
        definition=text,
        environment=union,
        report_prefix=stack.resolve({"Ref": "ReportPrefix"}),
    )


@dataclass(frozen=True)
class Run:
    org: Org
    deployed: Deployed
    execution: dict[str, Any]
    history: list[dict[str, Any]]
    routes: LambdaRoutes
    interpreter: Interpreter

    def report(self) -> dict[str, Any]:
        key = f"{self.deployed.report_prefix}{self.execution['name']}/report.json"
        body = boto3.client("s3").get_object(Bucket=REPORT_BUCKET, Key=key)["Body"].read()
        report: dict[str, Any] = json.loads(body)
        return report

    def map_output(self) -> dict[str, Any]:
        """The state the Map passes on (the inventory, and ``results`` or ``map``)."""
        (exited,) = [
            e["stateExitedEventDetails"] for e in self.history if e["type"] == "MapStateExited"
        ]
        output: dict[str, Any] = json.loads(exited["output"])
        return output

    def largest_state(self) -> int:
        """The largest input or output of a state in the history, in bytes."""
        return max(
            len(details.get("input", details.get("output", "")).encode())
            for event in self.history
            for key, details in event.items()
            if key in ("stateEnteredEventDetails", "stateExitedEventDetails")
        )

    def digest(self) -> dict[str, Any]:
        """The digest function's answer, as the execution history recorded it."""
        state, answers = "", []
        for event in self.history:
            if event["type"] == "TaskStateEntered":
                state = event["stateEnteredEventDetails"]["name"]
            elif event["type"] == "TaskSucceeded" and state.startswith("Digest"):
                answers.append(json.loads(event["taskSucceededEventDetails"]["output"]))
        (answer,) = answers
        digest: dict[str, Any] = answer["Payload"]
        return digest


def compact(value: object) -> str:
    """JSON as Step Functions keeps it in the state."""
    return json.dumps(value, separators=(",", ":"))


def s3_json(key: str) -> Any:
    return json.loads(boto3.client("s3").get_object(Bucket=REPORT_BUCKET, Key=key)["Body"].read())


def wait_for(execution_arn: str, timeout: float = 60.0) -> dict[str, Any]:
    sfn = boto3.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while True:
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return described
        if time.monotonic() > deadline:
            raise AssertionError(f"execution still running after {timeout} s")
        time.sleep(0.05)


@pytest.fixture
def emulator(emulator: EmulatorServer) -> EmulatorServer:
    """New keys usable at once: the verification wait is another test's subject."""
    emulator.strictness = Strictness(key_propagation_seconds=0)
    return emulator


@dataclass(frozen=True)
class Setup:
    org: Org
    deployed: Deployed
    routes: LambdaRoutes


@contextmanager
def deployed(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, map_mode: str
) -> Iterator[Setup]:
    """The organization and the stack's resources, the functions' environment set."""
    now = datetime.now(UTC).replace(microsecond=0)
    org = build_org(emulator.url, now)
    stack = deploy(org, map_mode)
    for name, value in stack.environment.items():
        monkeypatch.setenv(name, value)
    routes = LambdaRoutes()
    with routes.install():
        yield Setup(org, stack, routes)


def execute(setup: Setup, url: str, name: str, request: str = "{}") -> Run:
    """Start an execution of the deployed machine and wait for its end."""
    with executing_state_machines(url) as interpreter:
        sfn = boto3.client("stepfunctions")
        arn = sfn.start_execution(
            stateMachineArn=setup.deployed.create(), name=name, input=request
        )["executionArn"]
        execution = wait_for(arn)
        history = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    return Run(
        setup.org,
        setup.deployed,
        execution,
        history,
        setup.routes,
        interpreter,
    )


def arm_failures(emulator: EmulatorServer, setup: Setup) -> None:
    accounts = setup.org.accounts
    # no-role: the member role cannot be assumed (a missing or untrusting role)
    emulator.inject(
        Fault(
            "sts",
            "AssumeRole",
            kind="access_denied",
            times=None,
            body_contains=f"{accounts['no-role']}%3Arole",
        )
    )
    # ok-a: the Lambda service refuses the first invocation; the Retry must invoke again
    setup.routes.inject(
        InvokeFault(ROTATE_FUNCTION, "ServiceException", event_contains=accounts["ok-a"])
    )
    # crashed: the function dies (killed at its timeout); the Catch must record it failed
    setup.routes.inject(
        InvokeFault(
            ROTATE_FUNCTION, "Sandbox.Timedout", times=9, event_contains=accounts["crashed"]
        )
    )
    # late: its invocation starts with 30 s left, under the 60 s the handler keeps to finish
    late = accounts["late"]
    setup.routes.set_remaining_time(
        lambda name, event: 30_000 if event.get("account", {}).get("account_id") == late else None
    )


@pytest.mark.slow  # 7 to 10 s each on a quiet machine: two runs with a second's verify wait
@pytest.mark.parametrize("map_mode", ["inline", "distributed"])
def test_the_deployed_run_goes_on_past_failed_accounts_and_digests_every_account(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, map_mode: str
) -> None:
    with deployed(emulator, monkeypatch, map_mode) as setup:
        arm_failures(emulator, setup)
        run = execute(setup, emulator.url, f"run-{map_mode}")
    accounts = setup.org.accounts
    by_id = {account_id: name for name, account_id in accounts.items()}

    # After the digest, a run with failed accounts ends Failed, and says why.
    assert run.execution["status"] == "FAILED"
    assert run.execution["error"] == "AccountsFailed"
    states = [
        e["stateEnteredEventDetails"]["name"]
        for e in run.history
        if "stateEnteredEventDetails" in e
    ]
    digest_state = "DigestInline" if map_mode == "inline" else "DigestDistributed"
    assert states[-3:] == [digest_state, "AnyAccountFailed", "AccountsFailed"]

    # The digest got every account's result, the failed ones included.
    digest = run.digest()
    # "late" was not started (no time left): counted skipped, as the report shows it.
    assert (digest["accounts"], digest["accounts_skipped"]) == (len(accounts) - 1, 1)
    assert digest["accounts_failed"] == 2
    failed = {by_id[f["account_id"]]: f["error"] for f in digest["failed_accounts"]}
    assert set(failed) == {"no-role", "crashed"}
    assert "AccessDenied" in failed["no-role"]  # the function's own failed result
    assert failed["crashed"].startswith("Sandbox.Timedout")  # the Catch's RecordAccountFailure
    report = run.report()
    reported = {a["account_id"]: a for a in report["accounts"]}
    assert set(reported) == set(accounts.values())

    if map_mode == "inline":  # the state holds every account's item and result
        assert run.largest_state() < STATE_LIMIT
        per_account = max(len(compact(a)) for a in run.map_output()["inventory"]["accounts"])
        per_account += max(len(compact(r)) for r in run.map_output()["results"])
        assert INLINE_ACCOUNTS * per_account < STATE_LIMIT, per_account

    if map_mode == "distributed":  # items from S3 (ItemReader), results to S3 (ResultWriter)
        items = f"GET /{REPORT_BUCKET}/{run.deployed.report_prefix}run-distributed/accounts.json"
        assert emulator.calls().total("s3", items) == 1  # the counter names S3 calls by path
        manifest_key = run.map_output()["map"]["ResultWriterDetails"]["Key"]
        assert manifest_key.startswith(f"{run.deployed.report_prefix}map-results/")
        manifest = s3_json(manifest_key)
        (written,) = manifest["ResultFiles"]["SUCCEEDED"]
        children = s3_json(written["Key"])
        assert len(children) == len(accounts)
        assert all(c["Status"] == "SUCCEEDED" for c in children)

    # Retried: ok-a's first invocation was refused by the service, the second rotated.
    ok_a = [
        i
        for i in run.routes.invocations(ROTATE_FUNCTION)
        if i.event["account"]["account_id"] == accounts["ok-a"]
    ]
    assert [i.outcome for i in ok_a] == ["service_error", "ok"]
    (wait,) = run.interpreter.retry_waits  # IntervalSeconds 2, full jitter: within [0, 2]
    assert 0 <= wait <= 2
    assert digest["keys_rotated"] == 1 + 1 + 2  # ok-a, ok-b, big (2 of 3: the cap)
    # One invocation per account and the retry; crashed's died, never retried (a function
    # error is not a Lambda service error).
    invoked = [
        by_id[i.event["account"]["account_id"]] for i in run.routes.invocations(ROTATE_FUNCTION)
    ]
    assert sorted(invoked) == sorted([*accounts, "ok-a"])
    assert [len(run.routes.invocations(f"{STACK}-{f}")) for f in ("inventory", "digest")] == [1, 1]

    # Deferred, not failed: big by MaxActionsPerAccount; late by the function's deadline, so
    # close that it did not start (its Map item still succeeded: not among the failed).
    summaries = {by_id[a["account_id"]]: a for a in report["accounts"]}
    assert summaries["big"]["status"] == "ok"
    big_keys = [k for k in report["keys"] if k["account_id"] == accounts["big"]]
    assert sorted(k["outcome"] for k in big_keys) == ["deferred", "done", "done"]
    assert digest["deferred"] == 1
    late = summaries["late"]
    assert (late["status"], late["cut_short"]) == ("skipped", True)
    assert "time was running out" in late["reason"]
    assert "deferred to the next run" in late["reason"]
    assert digest["cut_short_accounts"] == 1
    assert any("cut short" in note for note in digest["notes"]), digest["notes"]


def test_an_audit_request_runs_the_deployed_machine_to_success_and_changes_nothing(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with deployed(emulator, monkeypatch, "inline") as setup:
        emulator.reset_calls()  # count the run's calls only
        run = execute(setup, emulator.url, "audit-once", request='{"mode": "audit"}')
    assert run.execution["status"] == "SUCCEEDED"
    output = json.loads(run.execution["output"])  # the digest's answer
    assert (output["mode"], output["accounts"], output["accounts_failed"]) == ("audit", 7, 0)
    assert output["keys_rotated"] == 0
    assert output["actions"]["ROTATE"] == {"planned": 1 + 1 + 1 + 1 + 3 + 2}
    assert emulator.calls().total("iam", "CreateAccessKey") == 0
    assert [i.outcome for i in run.routes.invocations()] == ["ok"] * (1 + 7 + 1)

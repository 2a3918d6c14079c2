"""The three Lambda handlers called as functions, chained the way the state machine does.

Inventory -> RotateAccount per account (inline map, or distributed map with items and
results in S3) -> Digest, against the emulator (moto over HTTP, with call counting and
fault injection) holding the seeded demo organization.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner

from keyrotate.cli import main as cli_main
from keyrotate.domain.models import ActionKind
from keyrotate.lambda_handlers import (
    RUN_METRICS,
    digest_handler,
    inventory_handler,
    rotate_account_handler,
)
from keyrotate.lambda_handlers import (
    logger as handler_logger,
)
from keyrotate.service.lambda_events import EventError
from keyrotate.service.stop import LAMBDA_MARGIN_SECONDS, lambda_sentence
from keyrotate_emulator.demo import deploy_member_policies
from keyrotate_emulator.demo_org import DemoManifest, seed_demo_organization
from keyrotate_emulator.faults import Fault
from keyrotate_emulator.seed import assume_member_role
from keyrotate_emulator.server import EmulatorServer

# A rejected digest event flushes no metrics; Powertools warns about that, rightly.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

ROLE = "keyrotate-member"
BUCKET = "keyrotate-reports-test"
PREFIX = "keyrotate/reports/"
ADMIN = "secops@example.com"
# What the state machine's Inventory ResultSelector requires.
SELECTED = ("run_id", "mode", "accounts", "skipped", "items_bucket", "items_key")
_KEY_ID = re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{12,}\b")


@dataclass(frozen=True)
class Context:
    """The attributes of a LambdaContext that Powertools' Logger reads."""

    function_name: str = "keyrotate-test"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:keyrotate-test"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"


CONTEXT: Any = Context()


@pytest.fixture
def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def env_values(mail: Path) -> dict[str, str]:
    return {
        "IAMRoleName": ROLE,
        "DryRunFlag": "False",
        "ReportBucket": BUCKET,
        "ReportPrefix": PREFIX,
        "AdminEmailAddress": ADMIN,
        "EmailSender": "keyrotate@example.com",
        "EmailTransport": "file",
        "MailDir": str(mail),
        "POWERTOOLS_SERVICE_NAME": "keyrotate",
        "POWERTOOLS_METRICS_NAMESPACE": "keyrotate",
    }


@pytest.fixture
def function_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The functions' environment, as main.yaml sets it (enforce); returns the mail folder."""
    mail = tmp_path / "mail"
    for name, value in env_values(mail).items():
        monkeypatch.setenv(name, value)
    return mail


def seed(endpoint: str, now: datetime) -> DemoManifest:
    manifest = seed_demo_organization(endpoint, now, role_name=ROLE)
    deploy_member_policies(endpoint, manifest)
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    return manifest


@pytest.fixture
def org(emulator: EmulatorServer, function_env: Path, now: datetime) -> DemoManifest:
    return seed(emulator.url, now)


def s3_json(key: str) -> Any:
    return json.loads(boto3.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read())


def _catch(payload: dict[str, Any], exc: Exception) -> dict[str, Any]:
    """What the Map's Catch + RecordAccountFailure make of a crashed iteration."""
    cause = {"errorMessage": str(exc), "errorType": type(exc).__name__}
    return {
        "account_id": payload["account"]["account_id"],
        "name": payload["account"]["name"],
        "status": "failed",
        "error": type(exc).__name__,
        "cause": json.dumps(cause),
    }


def _iterate(
    selected: dict[str, Any], items: list[dict[str, Any]], context: Any = CONTEXT
) -> list[tuple[dict, dict]]:
    done = []
    for account in items:
        payload = {"run_id": selected["run_id"], "mode": selected["mode"], "account": account}
        try:
            result = rotate_account_handler(payload, context)
        except Exception as exc:  # the Catch covers States.ALL
            result = _catch(payload, exc)
        done.append((payload, json.loads(json.dumps(result))))  # through JSON, as in the state
    return done


def _write_results(run_id: str, done: list[tuple[dict, dict]]) -> dict[str, str]:
    """Write the child executions and manifest.json the way the ResultWriter does."""
    s3 = boto3.client("s3")
    base = f"{PREFIX}map-results/{run_id}-maprun"
    executions = [
        {
            "ExecutionArn": f"arn:aws:states:us-east-1:123456789012:execution:run/{i}",
            "Input": json.dumps(payload),
            "InputDetails": {"Included": True},
            "Name": str(i),
            "Output": json.dumps(result),
            "OutputDetails": {"Included": True},
            "Status": "SUCCEEDED",
        }
        for i, (payload, result) in enumerate(done)
    ]
    s3.put_object(Bucket=BUCKET, Key=f"{base}/SUCCEEDED_0.json", Body=json.dumps(executions))
    manifest = {
        "DestinationBucket": BUCKET,
        "MapRunArn": "arn:aws:states:us-east-1:123456789012:mapRun:run/maprun",
        "ResultFiles": {
            "FAILED": [],
            "PENDING": [],
            "SUCCEEDED": [{"Key": f"{base}/SUCCEEDED_0.json", "Size": 1}],
        },
    }
    s3.put_object(Bucket=BUCKET, Key=f"{base}/manifest.json", Body=json.dumps(manifest))
    return {"Bucket": BUCKET, "Key": f"{base}/manifest.json"}


@dataclass
class Chain:
    inventory: dict[str, Any]
    results: list[dict[str, Any]]
    digest: dict[str, Any]


def run_chain(
    map_mode: str, now: datetime, run_id: str = "run-1", rotate_context: Any = CONTEXT
) -> Chain:
    """Inventory -> RotateAccount per item -> Digest, passing only what the ASL passes
    (``rotate_context``: the LambdaContext each RotateAccount invocation gets)."""
    started = now.isoformat()
    inventory = inventory_handler(
        {"run_id": run_id, "started_at": started, "map_mode": map_mode, "request": {}}, CONTEXT
    )
    selected = {key: inventory[key] for key in SELECTED}  # KeyError = contract broken
    if map_mode == "inline":
        items = selected["accounts"]
    else:
        items = s3_json(selected["items_key"])
        assert selected["items_bucket"] == BUCKET
    done = _iterate(selected, items, rotate_context)
    event: dict[str, Any] = {
        "run_id": selected["run_id"],
        "mode": selected["mode"],
        "started_at": started,
        "skipped": selected["skipped"],
    }
    if map_mode == "inline":
        event["results"] = [result for _, result in done]
    else:
        event["result_writer"] = _write_results(run_id, done)
    digest = digest_handler(json.loads(json.dumps(event)), CONTEXT)
    return Chain(inventory, [r for _, r in done], digest)


# -- the whole organization: the CLI, then the handler chain, on the same seeding ----------


@dataclass
class FullRun:
    manifest: DemoManifest
    cli_state: dict[str, Any]
    cli_report: dict[str, Any]
    lambda_state: dict[str, Any]
    lambda_report: dict[str, Any]
    chain: Chain
    mail: Path
    stdout: str


@pytest.fixture(scope="module")
def full_run(emulator_server: EmulatorServer, tmp_path_factory: pytest.TempPathFactory) -> FullRun:
    """Seed, `keyrotate run --enforce`; reset, seed again with the same now, run the chain."""
    tmp = tmp_path_factory.mktemp("full-run")
    now = datetime.now(UTC).replace(microsecond=0)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ENDPOINT_URL", emulator_server.url)
        for name, value in env_values(tmp / "mail").items():
            patch.setenv(name, value)
        emulator_server.reset()
        manifest = seed(emulator_server.url, now)
        cli_report = tmp / "cli-report.json"
        outcome = CliRunner().invoke(
            cli_main,
            ["run", "--enforce", "--report", str(cli_report)],
            env={"MailDir": str(tmp / "cli-mail")},
            catch_exceptions=False,
        )
        assert outcome.exit_code == 0, outcome.output
        cli_state = normalized_state(emulator_server.url, manifest)

        emulator_server.reset()
        manifest_again = seed(emulator_server.url, now)
        assert [a.name for a in manifest_again.accounts] == [a.name for a in manifest.accounts]
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            chain = run_chain("inline", now)
        return FullRun(
            manifest=manifest_again,
            cli_state=cli_state,
            cli_report=json.loads(cli_report.read_text()),
            lambda_state=normalized_state(emulator_server.url, manifest_again),
            lambda_report=s3_json(chain.digest["report_key"]),
            chain=chain,
            mail=tmp / "mail",
            stdout=out.getvalue(),
        )


def test_handler_chain_reproduces_the_cli_end_state_on_the_same_organization(
    full_run: FullRun,
) -> None:
    assert full_run.lambda_state == full_run.cli_state
    with_secret = [k for k, v in full_run.cli_state.items() if v["secret"]]
    assert with_secret  # the comparison covers real rotations, not two empty runs
    assert all(full_run.cli_state[k]["secret_holds_existing_key"] for k in with_secret)
    assert full_run.lambda_report["summary"] == full_run.cli_report["summary"]


def test_inline_chain_rotates_every_account_writes_the_report_and_mails_the_admin(
    full_run: FullRun,
) -> None:
    org, chain = full_run.manifest, full_run.chain
    active = {a.account_id for a in org.active_accounts}
    assert {a["account_id"] for a in chain.inventory["accounts"]} == active
    assert [s["account_id"] for s in chain.inventory["skipped"]] == [
        a.account_id for a in org.skipped_accounts
    ]
    assert chain.inventory["items_bucket"] is None
    assert all(r["status"] == "ok" for r in chain.results), chain.results

    digest = chain.digest
    assert digest["accounts_failed"] == 0
    assert digest["accounts"] == len(active)
    assert digest["accounts_skipped"] == 1
    assert digest["detail"] == "full"
    expected_rotations = sum(
        u.expected.count(ActionKind.ROTATE) for u in org.users if u.account_id in active
    )
    assert digest["keys_rotated"] == expected_rotations
    expected_holds = sum(
        u.expected.count(ActionKind.HOLD) for u in org.users if u.account_id in active
    )
    assert digest["holds"] == expected_holds == 2  # svc-hold, svc-hold-shared
    assert digest["blocked"] == 1  # svc-blocked

    report = full_run.lambda_report
    assert digest["report_key"] == f"{PREFIX}run-1/report.json"
    assert report["mode"] == "enforce"
    assert report["summary"]["accounts_failed"] == 0
    assert report["summary"]["actions"]["ROTATE"] == expected_rotations
    rotated = [k for k in report["keys"] if k["action"] == "ROTATE"]
    assert len(rotated) == expected_rotations
    assert all(k["outcome"] == "done" and k["new_access_key_id"] for k in rotated)
    assert any(n["role"] == "admin" and n["sent"] for n in report["notifications"])

    (admin_mail,) = full_run.mail.glob("admin-*.eml")
    text = admin_mail.read_text()
    assert ADMIN in text
    assert "svc-hold" in text  # a HOLD needs attention: the digest names the user
    assert list(full_run.mail.glob("account-owner-*.eml"))


def _value(metrics: dict[str, Any], name: str) -> float:
    value = metrics[name]
    return float(value[0] if isinstance(value, list) else value)


def test_digest_emits_the_run_metrics_in_embedded_metric_format(full_run: FullRun) -> None:
    lines = [json.loads(x) for x in full_run.stdout.splitlines() if '"_aws"' in x]
    (metrics,) = lines
    digest = full_run.chain.digest
    assert _value(metrics, "KeysRotated") == digest["keys_rotated"] > 0
    assert _value(metrics, "KeysDeactivated") == digest["keys_deactivated"] > 0
    assert _value(metrics, "KeysDeleted") == digest["keys_deleted"] > 0
    assert _value(metrics, "AccountsFailed") == 0
    assert _value(metrics, "Holds") == 2  # svc-hold, svc-hold-shared
    assert _value(metrics, "Blocked") == 1
    assert _value(metrics, "KeysPastRotation") == digest["keys_past_rotation"] > 0
    directive = metrics["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "keyrotate"
    assert {m["Name"] for m in directive["Metrics"]} == set(RUN_METRICS)
    # exactly the dimensions main.yaml's alarms name (a metric is its name and dimensions)
    assert [set(d) for d in directive["Dimensions"]] == [{"service", "mode"}]
    assert (metrics["service"], metrics["mode"]) == ("keyrotate", "enforce")
    assert _value(metrics, "KillSwitchOpen") == _value(metrics, "ActionsDeferred") == 0


# -- one account, logs -----------------------------------------------------------------------


def test_rotate_account_logs_json_lines_carrying_the_account_id(org: DemoManifest) -> None:
    account = org.account("prod-web")
    event = {
        "run_id": "run-log",
        "mode": "audit",
        "account": {
            "account_id": account.account_id,
            "name": account.name,
            "email": account.email,
            "ou_path": account.ou_path,
        },
    }
    # Powertools' logger is the standard logger "keyrotate" with a JSON formatter: listen
    # to it with that formatter.
    out = io.StringIO()
    listener = logging.StreamHandler(out)
    listener.setFormatter(handler_logger.registered_formatter)
    logging.getLogger("keyrotate").addHandler(listener)
    try:
        summary = rotate_account_handler(event, CONTEXT)
    finally:
        logging.getLogger("keyrotate").removeHandler(listener)
    assert summary["status"] == "ok"
    assert summary["actions"] == {"WARN": {"notice": 1}}
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    done = next(x for x in lines if x.get("message") == "account done")
    assert done["account_id"] == account.account_id
    assert done["run_id"] == "run-log"
    assert done["function_name"] == "keyrotate-test"
    assert done["level"] == "INFO"
    assert all("SecretAccessKey" not in json.dumps(x) for x in lines)


def test_distributed_chain_reads_items_and_results_from_s3(
    org: DemoManifest, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    bulk = org.account("dev-analytics").account_id  # 160 users: kept for the full-run tests
    monkeypatch.setenv("ExcludeAccounts", bulk)
    chain = run_chain("distributed", now, run_id="run-d")
    assert {s["account_id"]: s["reason"] for s in chain.inventory["skipped"]}[bulk] == "excluded"
    assert chain.inventory["accounts"] == []  # the state stays small
    assert chain.inventory["items_key"] == f"{PREFIX}run-d/accounts.json"
    items = s3_json(chain.inventory["items_key"])
    assert {i["account_id"] for i in items} == {a.account_id for a in org.active_accounts} - {bulk}
    # ou_ids: the root's and OUs' ids above the account, what an OU exemption by id matches
    assert set(items[0]) == {"account_id", "name", "email", "ou_path", "ou_ids"}
    assert all(i["ou_ids"][0].startswith("r-") for i in items)
    digest = chain.digest
    assert digest["accounts_failed"] == 0
    assert digest["accounts"] == len(items)
    assert digest["accounts_skipped"] == 2
    assert digest["keys_rotated"] > 0
    assert digest["detail"] == "full"
    report = s3_json(digest["report_key"])
    assert [a["account_id"] for a in report["accounts"][: len(items)]] == sorted(
        i["account_id"] for i in items
    )
    for result in chain.results:
        detail = s3_json(result["report_key"])
        assert detail["account"]["account_id"] == result["account_id"]


def test_distributed_digest_counts_a_failed_child_execution_as_a_failed_account(
    org: DemoManifest, now: datetime
) -> None:
    account = org.account("dev-tools")
    payload = {
        "run_id": "run-f",
        "mode": "enforce",
        "account": {
            "account_id": account.account_id,
            "name": account.name,
            "email": "",
            "ou_path": "/",
        },
    }
    failed_file = f"{PREFIX}map-results/run-f/FAILED_0.json"
    execution = {
        "ExecutionArn": "arn:aws:states:us-east-1:123456789012:execution:run/x",
        "Input": json.dumps(payload),
        "Status": "TIMED_OUT",
        "Error": "States.Timeout",
        "Cause": "the child execution timed out",
    }
    s3 = boto3.client("s3")
    s3.put_object(Bucket=BUCKET, Key=failed_file, Body=json.dumps([execution]))
    manifest = {"ResultFiles": {"FAILED": [{"Key": failed_file, "Size": 1}], "SUCCEEDED": []}}
    s3.put_object(
        Bucket=BUCKET, Key=f"{PREFIX}map-results/run-f/manifest.json", Body=json.dumps(manifest)
    )
    event = {
        "run_id": "run-f",
        "mode": "enforce",
        "started_at": now.isoformat(),
        "skipped": [],
        "result_writer": {"Bucket": BUCKET, "Key": f"{PREFIX}map-results/run-f/manifest.json"},
    }
    digest = digest_handler(event, CONTEXT)
    assert digest["accounts_failed"] == 1
    (failed,) = digest["failed_accounts"]
    assert failed["account_id"] == account.account_id
    assert failed["error"] == "States.Timeout: the child execution timed out"


# -- same end state as the CLI ---------------------------------------------------------------


def _secrets_client(endpoint: str, account_id: str) -> Any:
    return boto3.client(
        "secretsmanager", endpoint_url=endpoint, **assume_member_role(endpoint, account_id, ROLE)
    )


def _iam(endpoint: str, account_id: str) -> Any:
    return boto3.client(
        "iam", endpoint_url=endpoint, **assume_member_role(endpoint, account_id, ROLE)
    )


def _normal(text: str, names: dict[str, str]) -> str:
    """Key ids, member account ids and times differ between two seedings: keep their shape."""
    text = _KEY_ID.sub("<key>", text)
    for account_id, name in names.items():
        text = text.replace(account_id, f"<{name}>")
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return text
    return "<time>"


def normalized_state(endpoint: str, manifest: DemoManifest) -> dict[str, Any]:
    """Per account name and user: keys and statuses, the secret and what it holds, tags."""
    state: dict[str, Any] = {}
    names = {a.account_id: a.name for a in manifest.accounts}
    for account in manifest.accounts:
        iam = _iam(endpoint, account.account_id)
        secrets = _secrets_client(endpoint, account.account_id)
        held: dict[str, str] = {}
        secret_tags: dict[str, list[tuple[str, str]]] = {}
        for page in secrets.get_paginator("list_secrets").paginate():
            for secret in page["SecretList"]:
                value = json.loads(secrets.get_secret_value(SecretId=secret["ARN"])["SecretString"])
                held[value["UserName"]] = value["AccessKeyId"]
                secret_tags[value["UserName"]] = sorted(
                    (_normal(t["Key"], names), _normal(t["Value"], names))
                    for t in secret.get("Tags", [])
                )
        for user in iam.list_users()["Users"]:
            name = user["UserName"]
            keys = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
            tags = iam.list_user_tags(UserName=name)["Tags"]
            state[f"{account.name}/{name}"] = {
                "keys": sorted(k["Status"] for k in keys),
                "secret": name in held,
                "secret_holds_existing_key": held.get(name) in {k["AccessKeyId"] for k in keys},
                "secret_tags": secret_tags.get(name, []),
                "tags": sorted(
                    (_normal(t["Key"], names), _normal(t["Value"], names)) for t in tags
                ),
            }
    return state


# -- a failed account ------------------------------------------------------------------------


def test_an_account_whose_role_cannot_be_assumed_comes_back_failed_and_the_digest_counts_it(
    org: DemoManifest, emulator: EmulatorServer, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = org.account("dev-tools")
    working = org.account("prod-web")
    monkeypatch.setenv("IncludeAccounts", f"{broken.account_id},{working.account_id}")
    emulator.inject(
        Fault(
            service="sts",
            operation="AssumeRole",
            kind="access_denied",
            times=None,
            body_contains=broken.account_id,
        )
    )
    chain = run_chain("inline", now, run_id="run-denied")
    (failed,) = [r for r in chain.results if r["status"] == "failed"]
    assert failed["account_id"] == broken.account_id
    assert "cannot assume" in failed["error"]
    assert failed["account_id"] in failed["error"]
    assert [r["account_id"] for r in chain.results if r is not failed] == [working.account_id]
    assert all(r["status"] == "ok" for r in chain.results if r is not failed)
    assert chain.digest["accounts_failed"] == 1
    assert chain.digest["failed_accounts"][0]["account_id"] == broken.account_id
    report = s3_json(chain.digest["report_key"])
    entry = next(a for a in report["accounts"] if a["account_id"] == broken.account_id)
    assert entry["status"] == "failed"
    assert emulator.injected() >= 1


def test_a_crashed_iteration_recorded_by_the_catch_counts_as_a_failed_account(
    org: DemoManifest, now: datetime
) -> None:
    account = org.account("prod-web")
    crashed = {
        "account_id": account.account_id,
        "name": account.name,
        "status": "failed",
        "error": "Lambda.Unknown",
        "cause": json.dumps({"errorMessage": "Task timed out after 900.00 seconds"}),
    }
    event = {
        "run_id": "run-c",
        "mode": "enforce",
        "started_at": now.isoformat(),
        "skipped": [],
        "results": [crashed],
    }
    digest = digest_handler(event, CONTEXT)
    assert digest["accounts_failed"] == 1
    assert digest["failed_accounts"] == [
        {
            "account_id": account.account_id,
            "name": account.name,
            "error": "Lambda.Unknown: Task timed out after 900.00 seconds",
        }
    ]


def test_an_audit_request_on_an_enforcing_deployment_changes_nothing(
    org: DemoManifest, emulator: EmulatorServer, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ExcludeAccounts", org.account("dev-analytics").account_id)
    before = normalized_state(emulator.url, org)
    inventory = inventory_handler(
        {
            "run_id": "run-a",
            "started_at": now.isoformat(),
            "map_mode": "inline",
            "request": {"mode": "audit"},
        },
        CONTEXT,
    )
    assert inventory["mode"] == "audit"
    results = [r for _, r in _iterate(inventory, inventory["accounts"])]
    assert all(r["status"] == "ok" for r in results)
    planned = sum(r["actions"].get("ROTATE", {}).get("planned", 0) for r in results)
    assert planned > 0
    assert normalized_state(emulator.url, org) == before


# -- guardrails: each account runs in a function of its own ----------------------------------


def test_each_function_holds_its_account_to_the_cap_and_the_digest_says_the_run_went_past(
    org: DemoManifest, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    payments, analytics = org.account("prod-payments"), org.account("dev-analytics")
    monkeypatch.setenv("IncludeAccounts", f"{payments.account_id},{analytics.account_id}")
    monkeypatch.setenv("MaxActionsPerAccount", "3")
    monkeypatch.setenv("MaxActionsPerRun", "4")
    monkeypatch.setenv("VerifyNewKeys", "false")
    chain = run_chain("inline", now, run_id="run-capped")
    for result in chain.results:  # 10 and 8 changes due: 3 each (min of the two caps)
        outcomes = [o for by_outcome in result["actions"].values() for o in by_outcome.items()]
        assert sum(n for outcome, n in outcomes if outcome == "done") == 3, result["account_id"]
    digest = chain.digest
    assert (digest["deferred"], digest["failed_actions"], digest["accounts_failed"]) == (12, 0, 0)
    assert any("12 change(s) were deferred" in note for note in digest["notes"])
    # no function knows the others': the digest, which adds them up, says so
    assert any("attempted 6 changes, more than MaxActionsPerRun (4)" in n for n in digest["notes"])
    report = s3_json(digest["report_key"])
    assert report["summary"]["deferred"] == 12
    assert report["notes"] == digest["notes"]
    deferred = [k for k in report["keys"] if k["outcome"] == "deferred"]
    # whichever cap the first unit that did not fit went past (both hold per function)
    assert {k["note"] for k in deferred} == {
        "MaxActionsPerAccount (3) was reached in this account; the next run carries on",
        "MaxActionsPerRun (4) was reached; the next run carries on",
    }


def test_an_open_kill_switch_audits_the_function_s_account_and_the_digest_says_so(
    org: DemoManifest, emulator: EmulatorServer, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = org.account("sandbox-alice")  # one DEACTIVATE due
    boto3.client("ssm").put_parameter(Name="/keyrotate/kill-switch", Value="on", Type="String")
    monkeypatch.setenv("KillSwitchParameter", "/keyrotate/kill-switch")
    monkeypatch.setenv("IncludeAccounts", alice.account_id)
    user = org.user("alice-experiments")
    chain = run_chain("inline", now, run_id="run-killed")
    (result,) = chain.results
    assert result["actions"] == {"DEACTIVATE": {"planned": 1}}
    assert result["kill_switch_accounts"] == 1
    digest = chain.digest
    assert (digest["mode"], digest["kill_switch_accounts"], digest["kill_switch_open"]) == (
        "enforce",
        1,
        1,
    )
    assert any("kill switch (/keyrotate/kill-switch) was on" in n for n in digest["notes"])
    keys = _iam(emulator.url, alice.account_id).list_access_keys(UserName=user.user_name)
    assert [k["Status"] for k in keys["AccessKeyMetadata"]] == ["Active"]  # not deactivated


@dataclass(frozen=True)
class ShortOnTime(Context):
    """A LambdaContext whose remaining time falls by a second per key change the emulator
    sees: ``seconds`` past the margin rotate_account keeps, the deadline passes."""

    emulator: Any = None
    seconds: float = 0.0

    def get_remaining_time_in_millis(self) -> int:
        changes = sum(
            self.emulator.calls().total("iam", op)
            for op in ("CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey")
        )
        return int((LAMBDA_MARGIN_SECONDS + self.seconds - changes) * 1000)


def test_a_function_short_of_time_defers_the_rest_succeeds_and_the_next_run_finishes(
    org: DemoManifest,
    emulator: EmulatorServer,
    function_env: Path,
    now: datetime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    payments = org.account("prod-payments")  # 10 changes due
    monkeypatch.setenv("IncludeAccounts", payments.account_id)
    monkeypatch.setenv("VerifyNewKeys", "false")  # seconds per new key, beside the point
    monkeypatch.setenv("UserWorkers", "1")  # one user at a time: where time runs out is known
    only = dataclasses.replace(org, accounts=(payments,))  # the state read: this account's
    emulator.reset_calls()
    short = ShortOnTime(emulator=emulator, seconds=2.5)

    chain = run_chain("inline", now, run_id="run-short", rotate_context=short)

    (result,) = chain.results
    assert result["status"] == "ok"  # the Map item succeeded
    assert result["cut_short_accounts"] == 1
    by_outcome: dict[str, int] = {}
    for outcomes in result["actions"].values():
        for outcome, n in outcomes.items():
            by_outcome[outcome] = by_outcome.get(outcome, 0) + n
    assert by_outcome.get("done", 0) >= 3  # the third change's user finished its steps
    deferred = by_outcome.get("deferred", 0)
    assert deferred > 0
    assert "failed" not in by_outcome
    digest = chain.digest
    assert (digest["cut_short_accounts"], digest["deferred"], digest["accounts_failed"]) == (
        1,
        deferred,
        0,
    )
    (note,) = [n for n in digest["notes"] if n.startswith("the run was cut short")]
    assert f"{deferred} change(s) deferred" in note
    report = s3_json(digest["report_key"])
    assert {k["note"] for k in report["keys"] if k["outcome"] == "deferred"} == {
        lambda_sentence(LAMBDA_MARGIN_SECONDS)
    }
    (admin_mail,) = function_env.glob("admin-*.eml")
    assert "the run was cut short" in admin_mail.read_text()
    state = normalized_state(emulator.url, only)
    assert all(v["secret_holds_existing_key"] for v in state.values() if v["secret"])

    again = run_chain("inline", now, run_id="run-after")  # with time enough

    (second,) = again.results
    assert second["cut_short_accounts"] == 0
    assert sum(second["actions"].get(k, {}).get("done", 0) for k in second["actions"]) == deferred
    assert (again.digest["deferred"], again.digest["failed_actions"]) == (0, 0)
    assert not [n for n in again.digest["notes"] if "cut short" in n]
    state = normalized_state(emulator.url, only)
    assert all(v["secret_holds_existing_key"] for v in state.values() if v["secret"])


def test_a_function_with_no_time_left_starts_nothing_and_its_item_still_succeeds(
    org: DemoManifest, emulator: EmulatorServer, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    payments = org.account("prod-payments")
    monkeypatch.setenv("IncludeAccounts", payments.account_id)
    emulator.reset_calls()
    chain = run_chain(
        "inline", now, run_id="run-late", rotate_context=ShortOnTime(emulator=emulator)
    )
    (result,) = chain.results
    assert (result["status"], result["cut_short_accounts"], result["users"]) == ("skipped", 1, 0)
    assert result["skipped"].startswith("not started: the function's time was running out")
    assert emulator.calls().total("iam") == 0  # not even a read of the account
    report = s3_json(chain.digest["report_key"])
    (entry,) = [a for a in report["accounts"] if a["account_id"] == payments.account_id]
    assert entry["status"] == "skipped"
    assert entry["reason"].startswith("not started: the function's time was running out")
    # The digest counts it as the report shows it: skipped, not run, not failed.
    counts = ("accounts", "accounts_skipped", "accounts_failed", "cut_short_accounts")
    assert {c: chain.digest[c] for c in counts} == {c: report["summary"][c] for c in counts}
    statuses = [a["status"] for a in report["accounts"]]
    assert chain.digest["accounts"] == len(statuses) - statuses.count("skipped")
    assert chain.digest["accounts_skipped"] == statuses.count("skipped")
    assert chain.digest["accounts_failed"] == 0


# -- malformed events ------------------------------------------------------------------------

GOOD_ACCOUNT = {"account_id": "111122223333", "name": "a", "email": "a@example.com", "ou_path": "/"}
GOOD_ROTATE = {"run_id": "r1", "mode": "enforce", "account": GOOD_ACCOUNT}
GOOD_INVENTORY = {
    "run_id": "r1",
    "started_at": "2025-01-31T06:00:00Z",
    "map_mode": "inline",
    "request": {},
}
GOOD_DIGEST = {
    "run_id": "r1",
    "mode": "enforce",
    "started_at": "2025-01-31T06:00:00Z",
    "skipped": [],
    "results": [],
}


def _with(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    event = {**base, **changes}
    return {k: v for k, v in event.items() if v is not _DROP}


_DROP = object()

MALFORMED = [
    # (handler, event, field named in the error)
    (inventory_handler, [], "event"),
    (inventory_handler, _with(GOOD_INVENTORY, run_id=_DROP), "run_id"),
    (inventory_handler, _with(GOOD_INVENTORY, map_mode="parallel"), "map_mode"),
    (inventory_handler, _with(GOOD_INVENTORY, started_at="yesterday"), "started_at"),
    (inventory_handler, _with(GOOD_INVENTORY, started_at="2025-01-31T06:00:00"), "started_at"),
    (inventory_handler, _with(GOOD_INVENTORY, run_id="a/../b"), "run_id"),
    (inventory_handler, _with(GOOD_INVENTORY, request={"mode": "enforce"}), "request.mode"),
    (inventory_handler, _with(GOOD_INVENTORY, request={"accounts": ["1"]}), "request.accounts"),
    (rotate_account_handler, _with(GOOD_ROTATE, account=_DROP), "account"),
    (
        rotate_account_handler,
        _with(GOOD_ROTATE, account={**GOOD_ACCOUNT, "account_id": "12345"}),
        "account.account_id",
    ),
    (
        rotate_account_handler,
        _with(GOOD_ROTATE, account={**GOOD_ACCOUNT, "account_id": 111122223333}),
        "account.account_id",
    ),
    (rotate_account_handler, _with(GOOD_ROTATE, mode="yolo"), "mode"),
    (rotate_account_handler, _with(GOOD_ROTATE, account="111122223333"), "account"),
    (rotate_account_handler, _with(GOOD_ROTATE, extra=1), "extra"),
    (rotate_account_handler, None, "event"),
    (digest_handler, _with(GOOD_DIGEST, results=_DROP), "event"),
    (
        digest_handler,
        _with(GOOD_DIGEST, result_writer={"Bucket": BUCKET, "Key": "m.json"}),
        "event",
    ),
    (
        digest_handler,
        _with(
            GOOD_DIGEST, results=[{"account_id": "111122223333", "name": "a", "status": "maybe"}]
        ),
        "results.0.status",
    ),
    (
        digest_handler,
        _with(
            GOOD_DIGEST,
            results=[{"account_id": "111122223333", "name": "a", "status": "ok", "users": -1}],
        ),
        "results.0.users",
    ),
    (
        digest_handler,
        _with(GOOD_DIGEST, skipped=[{"account_id": "111122223333"}]),
        "skipped.0.name",
    ),
    (
        digest_handler,
        _with(GOOD_DIGEST, results=_DROP, result_writer={"Bucket": BUCKET}),
        "result_writer.Key",
    ),
    (digest_handler, _with(GOOD_DIGEST, mode=None), "mode"),
]


@pytest.mark.parametrize(
    ("handler", "event", "field"),
    MALFORMED,
    ids=[f"{h.__name__}-{f}-{i}" for i, (h, _, f) in enumerate(MALFORMED)],
)
def test_a_malformed_event_raises_event_error_naming_the_field_and_touches_nothing(
    emulator: EmulatorServer, function_env: Path, handler: Any, event: Any, field: str
) -> None:
    emulator.reset_calls()
    with pytest.raises(EventError) as raised:
        handler(event, CONTEXT)
    assert raised.value.field == field
    assert raised.value.fix
    assert field in str(raised.value)
    assert emulator.calls().total() == 0  # not one AWS call, not even a read
    assert not function_env.exists()  # no mail


def test_enforce_events_on_an_auditing_deployment_are_refused_before_any_call(
    emulator: EmulatorServer, function_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DryRunFlag", "True")
    for handler, event in ((rotate_account_handler, GOOD_ROTATE), (digest_handler, GOOD_DIGEST)):
        emulator.reset_calls()
        with pytest.raises(EventError, match="audit mode") as raised:
            handler(event, CONTEXT)
        assert raised.value.field == "mode"
        assert emulator.calls().total() == 0


def test_distributed_inventory_without_a_report_bucket_is_refused_before_any_call(
    emulator: EmulatorServer, function_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ReportBucket")
    emulator.reset_calls()
    with pytest.raises(Exception, match="ReportBucket") as raised:
        inventory_handler(_with(GOOD_INVENTORY, map_mode="distributed"), CONTEXT)
    assert getattr(raised.value, "field", None) == "report_bucket"
    assert emulator.calls().total() == 0

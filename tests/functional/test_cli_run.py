"""``keyrotate run`` on the demo organization: scoping, failures, paging, report, exit codes.

One demo organization serves the module. The tests up to the "state-changing" section run
audits only (nothing changes, see test_org_run.py), so they share it; the last ones change
the organization (an enforce run, a new account) and come last. The tests that take
``emulator`` have the shared emulator page IAM at 100 (and count calls, inject faults).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from keyrotate_emulator.demo_org import DemoManifest
from keyrotate_emulator.faults import Fault
from keyrotate_emulator.seed import MANAGEMENT_ACCOUNT_ID, create_member_roles
from keyrotate_emulator.server import EmulatorServer

from .org_support import (
    REPORT_FIELDS,
    ROLE_NAME,
    account_entries,
    account_state,
    client,
    key_statuses,
    ou_id,
    ran_accounts,
    records_by_user,
    run_cli,
    seeded_demo_org,
)

KEYROTATE = Path(sys.executable).with_name("keyrotate")


@pytest.fixture(scope="module")
def org(_moto_server: str) -> Iterator[DemoManifest]:
    with seeded_demo_org(_moto_server, datetime.now(UTC)) as manifest:
        yield manifest


@pytest.fixture
def emulator(emulator_server: EmulatorServer, org: DemoManifest) -> EmulatorServer:
    """The shared emulator paging IAM at 100, as real IAM does; never reset (that would empty
    the module's organization). No faults and no counted calls: conftest sees to that.
    """
    emulator_server.iam_page_size = 100
    return emulator_server


def ids(org: DemoManifest, *names: str) -> set[str]:
    return {org.account(name).account_id for name in names}


# scoping -------------------------------------------------------------------------------------
def test_accounts_flag_runs_only_the_listed_accounts(org: DemoManifest) -> None:
    wanted = ids(org, "prod-web", "dev-tools")
    run = run_cli("--accounts", ",".join(sorted(wanted)))
    assert run.exit_code == 0, run.stderr
    assert ran_accounts(run.report) == wanted
    assert {r["account_id"] for r in run.report["keys"]} == wanted


def test_ou_flag_runs_the_accounts_of_nested_child_ous_too(org: DemoManifest) -> None:
    workloads = ou_id(org_endpoint(), "Workloads")  # holds no account itself: Prod and Dev do
    run = run_cli("--ou", workloads)
    assert run.exit_code == 0, run.stderr
    assert ran_accounts(run.report) == ids(
        org, "prod-payments", "prod-web", "dev-analytics", "dev-tools"
    )
    paths = {a["ou_path"] for a in run.report["accounts"] if a["status"] == "ok"}
    assert paths == {"/Root/Workloads/Prod", "/Root/Workloads/Dev"}


def test_ou_flag_takes_an_ou_path_as_the_report_prints_it(org: DemoManifest) -> None:
    run = run_cli("--ou", "/Root/Workloads/Prod,/Root/Workloads/Dev/")
    assert run.exit_code == 0, run.stderr
    assert ran_accounts(run.report) == ids(
        org, "prod-payments", "prod-web", "dev-analytics", "dev-tools"
    )


def test_exclude_accounts_from_the_environment_leaves_them_out(org: DemoManifest) -> None:
    excluded = ids(org, "dev-analytics", "prod-payments")
    run = run_cli(env={"ExcludeAccounts": ",".join(sorted(excluded))})
    assert run.exit_code == 0, run.stderr
    active = {a.account_id for a in org.active_accounts}
    assert ran_accounts(run.report) == active - excluded
    entries = account_entries(run.report)
    assert {entries[a]["reason"] for a in excluded} == {"excluded"}


def test_a_suspended_account_is_listed_as_skipped_and_not_run(org: DemoManifest) -> None:
    (retired,) = org.skipped_accounts
    run = run_cli("--accounts", f"{retired.account_id},{org.account('dev-tools').account_id}")
    assert run.exit_code == 0, run.stderr
    entry = account_entries(run.report)[retired.account_id]
    assert (entry["status"], entry["reason"]) == ("skipped", "account status is SUSPENDED")
    assert retired.account_id not in {r["account_id"] for r in run.report["keys"]}
    assert run.report["summary"]["accounts_skipped"] == 1


# failures and paging -------------------------------------------------------------------------
def test_an_account_whose_role_cannot_be_assumed_fails_alone_and_the_run_exits_1(
    org: DemoManifest, emulator: EmulatorServer
) -> None:
    denied = org.account("dev-tools").account_id
    others = ids(org, "prod-web", "sandbox-alice")
    emulator.inject(
        Fault("sts", "AssumeRole", kind="access_denied", times=None, body_contains=denied)
    )
    run = run_cli(
        "--accounts", ",".join(sorted({denied, *others})), env={"AWS_ENDPOINT_URL": emulator.url}
    )
    assert emulator.injected() >= 1
    assert run.exit_code == 1
    entries = account_entries(run.report)
    assert entries[denied]["status"] == "failed"
    assert "AccessDenied" in entries[denied]["reason"]
    assert f"{denied}:role/{ROLE_NAME}" in entries[denied]["reason"]
    assert {entries[a]["status"] for a in others} == {"ok"}
    assert {r["account_id"] for r in run.report["keys"]} == others
    assert run.report["summary"]["accounts_failed"] == 1


def test_every_user_of_an_account_over_100_users_is_reported_through_iam_paging(
    org: DemoManifest, emulator: EmulatorServer
) -> None:
    bulk = org.account("dev-analytics").account_id
    seeded = {u.user_name for u in org.users_in(bulk)}
    assert len(seeded) > 100
    run = run_cli("--accounts", bulk, env={"AWS_ENDPOINT_URL": emulator.url})
    assert run.exit_code == 0, run.stderr
    assert {user for _, user in records_by_user(run.report)} == seeded
    # 160 users come in two pages of 100 (the directory of users and tags is read in one
    # paged GetAccountAuthorizationDetails; ListUsers only when that is denied).
    pages = emulator.calls().total("iam", "GetAccountAuthorizationDetails", bulk)
    pages += emulator.calls().total("iam", "ListUsers", bulk)
    assert pages >= 2
    due = {u.user_name for u in org.users_in(bulk) if u.expected}
    rotations = {r["user_name"] for r in run.report["keys"] if r["action"] == "ROTATE"}
    assert rotations == due  # due users sit on both pages


# the report and exit codes -----------------------------------------------------------------
def test_every_key_record_carries_the_documented_fields(org: DemoManifest) -> None:
    run = run_cli("--accounts", org.account("prod-payments").account_id)
    assert run.exit_code == 0, run.stderr
    records = run.report["keys"]
    assert len(records) >= 15
    for record in records:
        assert set(REPORT_FIELDS) <= set(record), sorted(set(REPORT_FIELDS) - set(record))
        assert record["status"] in {"Active", "Inactive"}
        assert datetime.fromisoformat(record["created"]).tzinfo is not None
        assert isinstance(record["age_days"], int | float)
        assert record["outcome"] in {"planned", "notice", "none"}
        if record["action"] is None:
            assert (record["reason"], record["due"], record["outcome"]) == (None, None, "none")
        else:
            assert record["reason"]
    used = [r for r in records if r["last_used"] is not None]
    assert used
    assert all(datetime.fromisoformat(r["last_used"]).tzinfo for r in used)
    assert any(r["last_used"] is None for r in records)  # never-used keys say so
    assert all(datetime.fromisoformat(r["due"]) for r in records if r["action"] == "ROTATE")


def test_json_output_and_the_report_file_are_the_same_document(
    org: DemoManifest, tmp_path: Path
) -> None:
    path = tmp_path / "out" / "report.json"
    run = run_cli("--accounts", org.account("prod-payments").account_id, "--report", str(path))
    assert run.exit_code == 0, run.stderr
    assert json.loads(path.read_text(encoding="utf-8")) == run.report
    assert run.report["schema_version"] == 1
    assert run.report["mode"] == "audit"


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--workers", "0"], "workers"),
        (["--accounts", "not-an-account"], "include_accounts"),
        (["--ou", "Workloads"], "ou"),
    ],
)
def test_bad_input_exits_2_naming_the_setting(
    org: DemoManifest, emulator: EmulatorServer, args: list[str], named: str
) -> None:
    run = run_cli(*args, env={"AWS_ENDPOINT_URL": emulator.url})
    assert run.exit_code == 2, run.stdout + run.stderr
    assert named in run.stderr
    assert run.stderr.startswith("error: ")
    assert run.document is None
    assert "Traceback" not in run.stderr
    assert emulator.calls().total() == 0  # refused before any AWS call


# state-changing: these come last -------------------------------------------------------------
def test_configuration_from_the_environment_alone_enforces_with_no_file(
    org: DemoManifest, tmp_path: Path
) -> None:
    alice = org.user("alice-experiments")
    env = {
        name: value
        for name, value in os.environ.items()
        if name.startswith("AWS_") or name in {"PATH", "HOME", "LANG"}
    }
    assert "OrgListAccount" not in env
    env.update(
        {
            "IAMRoleName": ROLE_NAME,
            "DryRunFlag": "False",
            "IncludeAccounts": alice.account_id,
            "AWS_ENDPOINT_URL": org_endpoint(),
        }
    )
    finished = subprocess.run(
        [str(KEYROTATE), "run", "--output", "json"],
        cwd=tmp_path,  # no keyrotate.yaml anywhere near
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    document = json.loads(finished.stdout)
    assert document["mode"] == "enforce"
    assert ran_accounts(document) == {alice.account_id}
    (record,) = document["keys"]
    assert (record["action"], record["outcome"]) == ("DEACTIVATE", "done")
    state = account_state(org_endpoint(), alice.account_id)
    assert key_statuses(state, alice.user_name) == {alice.key_ids[0]: "Inactive"}


def test_a_new_account_is_run_on_the_next_run_with_no_configuration_change(
    org: DemoManifest,
) -> None:
    sandbox = ou_id(org_endpoint(), "Sandbox")
    before = run_cli("--ou", sandbox)
    assert ran_accounts(before.report) == ids(org, "sandbox-alice")

    organizations = client(org_endpoint(), MANAGEMENT_ACCOUNT_ID, "organizations")
    status = organizations.create_account(AccountName="sandbox-new", Email="new@example.com")
    new_id = status["CreateAccountStatus"]["AccountId"]
    root = organizations.list_roots()["Roots"][0]["Id"]
    organizations.move_account(AccountId=new_id, SourceParentId=root, DestinationParentId=sandbox)
    create_member_roles(org_endpoint(), [new_id], ROLE_NAME)
    client(org_endpoint(), new_id, "iam").create_user(UserName="newcomer")

    after = run_cli("--ou", sandbox)
    assert after.exit_code == 0, after.stderr
    assert ran_accounts(after.report) == {*ids(org, "sandbox-alice"), new_id}
    assert account_entries(after.report)[new_id]["users"] == 1


def org_endpoint() -> str:
    """The moto server the module's organization lives on (AWS_ENDPOINT_URL of the module)."""
    return os.environ["AWS_ENDPOINT_URL"]

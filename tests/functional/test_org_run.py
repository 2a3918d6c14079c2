"""The demo organization through ``keyrotate run``: audit, enforce, enforce again.

One organization is seeded for the whole module and taken through the sequence once (the
runs are the expensive part); each test then checks one behaviour of one step:

    state0 -> run (audit) -> state1 -> run --enforce -> state2 -> run --enforce -> state3

The oracle is the seeding manifest: the action kinds SPEC.md's worked examples prescribe,
written out by hand in ``keyrotate_emulator.demo_org``, not computed by the engine.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from keyrotate_emulator.demo_org import DemoManifest, ManifestUser

from .org_support import (
    CHANGING,
    READ_POLICY_NAME,
    CliRun,
    account_entries,
    actions_by_user,
    changes,
    client,
    key_statuses,
    org_state,
    planned,
    records_by_user,
    run_cli,
    seeded_demo_org,
    user_tags,
)

pytestmark = pytest.mark.slow  # audit, enforce and a second enforce of the demo organization

State = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Rotated:
    """What AWS holds for one user after its rotation (never the secret access key)."""

    secret_key_id: str  # AccessKeyId in the secret's value
    secret_tags: dict[str, str]
    secret_arn: str
    readers: list[str]  # the resource policy's allowed principals
    attached: list[str]  # the user's attached managed policy names


@dataclass(frozen=True)
class RunSequence:
    manifest: DemoManifest
    audit: CliRun
    enforce: CliRun
    again: CliRun
    before_audit: State
    after_audit: State
    after_enforce: State
    after_again: State
    rotated: dict[tuple[str, str], Rotated]


def _rotated_state(endpoint: str, enforce: dict[str, Any]) -> dict[tuple[str, str], Rotated]:
    found: dict[tuple[str, str], Rotated] = {}
    for record in enforce["keys"]:
        if record["action"] != "ROTATE":
            continue
        account, user = record["account_id"], record["user_name"]
        sm = client(endpoint, account, "secretsmanager")
        name = f"keyrotate/{account}/{user}"
        # The value is read here only for its key id; the secret access key goes nowhere.
        value = json.loads(sm.get_secret_value(SecretId=name)["SecretString"])
        described = sm.describe_secret(SecretId=name)
        policy = json.loads(sm.get_resource_policy(SecretId=name)["ResourcePolicy"])
        allow = next(s for s in policy["Statement"] if s["Effect"] == "Allow")
        readers = allow["Principal"]["AWS"]
        attached = client(endpoint, account, "iam").list_attached_user_policies(UserName=user)
        found[(account, user)] = Rotated(
            secret_key_id=value["AccessKeyId"],
            secret_tags={t["Key"]: t["Value"] for t in described.get("Tags", [])},
            secret_arn=described["ARN"],
            readers=[readers] if isinstance(readers, str) else list(readers),
            attached=[p["PolicyName"] for p in attached["AttachedPolicies"]],
        )
    return found


@pytest.fixture(scope="module")
def runs(_moto_server: str) -> Iterator[RunSequence]:
    now = datetime.now(UTC)
    with seeded_demo_org(_moto_server, now) as manifest:
        accounts = [a.account_id for a in manifest.accounts]
        state0 = org_state(_moto_server, accounts)
        audit = run_cli()
        state1 = org_state(_moto_server, accounts)
        enforce = run_cli("--enforce")
        rotated = _rotated_state(_moto_server, enforce.report)
        state2 = org_state(_moto_server, accounts)
        again = run_cli("--enforce")
        state3 = org_state(_moto_server, accounts)
        yield RunSequence(manifest, audit, enforce, again, state0, state1, state2, state3, rotated)


def _expected(user: ManifestUser) -> list[str]:
    return sorted(kind.value for kind in user.expected)


# reports -------------------------------------------------------------------------------------
def test_every_run_of_the_sequence_exits_0(runs: RunSequence) -> None:
    assert (runs.audit.exit_code, runs.enforce.exit_code, runs.again.exit_code) == (0, 0, 0), (
        runs.audit.stderr + runs.enforce.stderr + runs.again.stderr
    )


def test_spec_worked_examples_get_spec_actions_in_the_enforce_report(runs: RunSequence) -> None:
    actions = actions_by_user(runs.enforce.report)
    rows = runs.manifest.spec_rows
    assert len(rows) >= 12
    for user in rows:
        key = (user.account_id, user.user_name)
        assert actions.get(key, []) == _expected(user), f"{user.user_name}: {user.spec_row}"


def test_every_seeded_user_gets_the_manifest_actions(runs: RunSequence) -> None:
    actions = actions_by_user(runs.enforce.report)
    expected = {
        (u.account_id, u.user_name): _expected(u)
        for u in runs.manifest.users
        if u.account_id in {a.account_id for a in runs.manifest.active_accounts}
    }
    assert {user: actions.get(user, []) for user in expected} == expected
    assert set(actions) <= set(expected)


def test_enforce_carries_out_every_changing_action_and_only_notices_the_rest(
    runs: RunSequence,
) -> None:
    outcomes = {(r["action"], r["outcome"]) for r in runs.enforce.report["keys"] if r["action"]}
    assert {o for a, o in outcomes if a in CHANGING} == {"done"}
    assert {o for a, o in outcomes if a not in CHANGING} == {"notice"}


def test_audit_plans_exactly_the_actions_the_enforce_run_then_takes(runs: RunSequence) -> None:
    assert planned(runs.audit.report) == planned(runs.enforce.report)
    assert {r["outcome"] for r in changes(runs.audit.report)} == {"planned"}
    assert runs.audit.report["mode"] == "audit"
    assert runs.enforce.report["mode"] == "enforce"


# AWS state after enforce -------------------------------------------------------------------
def test_rotation_stores_the_new_key_in_the_users_own_secret(runs: RunSequence) -> None:
    rotations = [r for r in runs.enforce.report["keys"] if r["action"] == "ROTATE"]
    assert len(rotations) >= 3
    for record in rotations:
        account, user = record["account_id"], record["user_name"]
        state = runs.after_enforce[account]
        new_key = record["new_access_key_id"]
        old_keys = set(runs.manifest.user(user, account).key_ids)
        assert new_key
        assert new_key not in old_keys
        assert key_statuses(state, user)[new_key] == "Active"
        stored = runs.rotated[(account, user)]
        assert stored.secret_key_id == new_key, user
        assert stored.secret_tags["keyrotate:access-key-id"] == new_key
        assert datetime.fromisoformat(stored.secret_tags["keyrotate:rotated-at"]).tzinfo
        assert stored.secret_arn.startswith(
            f"arn:aws:secretsmanager:us-east-1:{account}:secret:keyrotate/{account}/{user}-"
        )
        assert record["secret_name"] == f"keyrotate/{account}/{user}"


def test_rotated_secret_is_readable_by_its_user_and_the_user_may_read_it(runs: RunSequence) -> None:
    assert runs.rotated
    for (account, user), stored in runs.rotated.items():
        assert stored.readers == [f"arn:aws:iam::{account}:user/{user}"]
        assert READ_POLICY_NAME in stored.attached, user
        assert "keyrotate:intent" not in user_tags(runs.after_enforce[account], user)


def test_deactivation_makes_the_key_inactive_and_records_when_on_the_user(
    runs: RunSequence,
) -> None:
    deactivated = [r for r in runs.enforce.report["keys"] if r["action"] == "DEACTIVATE"]
    assert len(deactivated) >= 4
    for record in deactivated:
        state = runs.after_enforce[record["account_id"]]
        user, key = record["user_name"], record["access_key_id"]
        assert key_statuses(state, user)[key] == "Inactive", user
        stamp = user_tags(state, user)[f"keyrotate:deactivated:{key}"]
        assert datetime.fromisoformat(stamp) >= datetime.fromisoformat(
            runs.enforce.report["started"]
        ).replace(microsecond=0)


def test_deletion_removes_the_key(runs: RunSequence) -> None:
    deleted = [r for r in runs.enforce.report["keys"] if r["action"] == "DELETE"]
    assert len(deleted) >= 3
    for record in deleted:
        before = key_statuses(runs.before_audit[record["account_id"]], record["user_name"])
        after = key_statuses(runs.after_enforce[record["account_id"]], record["user_name"])
        assert record["access_key_id"] in before
        assert record["access_key_id"] not in after


def test_notices_leave_every_key_of_the_user_unchanged(runs: RunSequence) -> None:
    by_user = records_by_user(runs.enforce.report)
    quiet = [
        user
        for user, records in by_user.items()
        if records and not any(r["action"] in CHANGING for r in records)
    ]
    kinds = {r["action"] for user in quiet for r in by_user[user]}
    assert {"HOLD", "WARN", "EXEMPT"} <= kinds
    for account, user in quiet:
        assert key_statuses(runs.after_enforce[account], user) == key_statuses(
            runs.before_audit[account], user
        ), user
    # BLOCKED shares its user with a DEACTIVATE: the blocked key itself stays as it was.
    for record in runs.enforce.report["keys"]:
        if record["action"] == "BLOCKED":
            account, user = record["account_id"], record["user_name"]
            assert (
                key_statuses(runs.after_enforce[account], user)[record["access_key_id"]]
                == (key_statuses(runs.before_audit[account], user)[record["access_key_id"]])
            )


def test_suspended_account_is_skipped_and_its_keys_left_alone(runs: RunSequence) -> None:
    (retired,) = runs.manifest.skipped_accounts
    entry = account_entries(runs.enforce.report)[retired.account_id]
    assert entry["status"] == "skipped"
    assert "SUSPENDED" in entry["reason"]
    assert runs.after_again[retired.account_id] == runs.before_audit[retired.account_id]


# audit and idempotency ---------------------------------------------------------------------
def test_audit_changes_nothing_in_iam_or_secrets_manager_of_any_account(runs: RunSequence) -> None:
    assert runs.after_audit.keys() == runs.before_audit.keys()
    for account, state in runs.before_audit.items():
        assert runs.after_audit[account] == state, account
    # and the comparison is not vacuous: enforce did change the same state
    assert runs.after_enforce != runs.before_audit


def test_a_second_enforce_run_right_after_the_first_changes_nothing(runs: RunSequence) -> None:
    again = runs.again.report
    assert [r for r in again["keys"] if r["action"] in CHANGING] == []
    assert again["summary"]["outcomes"] == {}
    for account, state in runs.after_enforce.items():
        assert runs.after_again[account] == state, account

"""Orphaned secrets through the CLI against the emulator: reported by every run, marked by an
enforce run, deleted by ``keyrotate cleanup --enforce`` only after the grace period, into the
recovery window; a living user's secret holding one of its keys is never touched.

One member account (and, for central mode, the management account holding every secret)::

    alice   deleted; her secret remains                       -> orphan (user gone)
    bob     alive, his secret holds his key                   -> never touched
    carol   alive, her secret holds a key she no longer has   -> orphan (key gone)
    dave    alive, secret tagged as another account's         -> not this account's: ignored

Secrets are written as a rotation writes them (name, tags, value), so no rotation has to run
first; time passing is the ``keyrotate:orphaned-at`` tag moved back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner

from keyrotate.cli import main
from keyrotate.domain.orphans import ORPHANED_AT_TAG
from keyrotate.domain.state_tags import (
    ACCOUNT_TAG,
    HELD_KEY_TAG,
    ROTATED_AT_TAG,
    USER_NAME_TAG,
    stamp,
)
from keyrotate_emulator.faults import Fault
from keyrotate_emulator.seed import (
    MANAGEMENT_ACCOUNT_ID,
    KeySpec,
    OrganizationBuilder,
    UserSpec,
    create_member_roles,
    create_multi_region_key,
    seed_users,
)
from keyrotate_emulator.server import EmulatorServer

from .org_support import ROLE_NAME, client, reset_moto, run_cli

YOUNG = (KeySpec(5, True, 1.0),)  # nothing for a run to rotate: only the secrets matter


@dataclass(frozen=True)
class Setup:
    endpoint: str
    member: str
    store: str  # the account holding the secrets
    env: dict[str, str | None]
    keys: dict[str, str]  # user -> its (one) key id

    def name(self, user: str) -> str:
        return f"keyrotate/{self.member}/{user}"

    def secrets(self) -> Any:
        return client(self.endpoint, self.store, "secretsmanager")

    def tags(self, user: str) -> dict[str, str]:
        described = self.secrets().describe_secret(SecretId=self.name(user))
        return {t["Key"]: t["Value"] for t in described.get("Tags", [])}

    def deleted(self, user: str) -> bool:
        return "DeletedDate" in self.secrets().describe_secret(SecretId=self.name(user))

    def age_mark(self, user: str, days: float) -> None:
        moment = datetime.now(UTC) - timedelta(days=days)
        self.secrets().tag_resource(
            SecretId=self.name(user), Tags=[{"Key": ORPHANED_AT_TAG, "Value": stamp(moment)}]
        )


def _setup(endpoint: str, *, central: bool, replicas: tuple[str, ...] = ()) -> Setup:
    reset_moto(endpoint)
    now = datetime.now(UTC)
    member = OrganizationBuilder(endpoint).account("m", "m@example.com", "Workloads").account_id
    create_member_roles(endpoint, [member], ROLE_NAME)
    seeded = seed_users(
        endpoint,
        member,
        [UserSpec(name, YOUNG) for name in ("alice", "bob", "carol", "dave")],
        now,
        role_name=ROLE_NAME,
    )
    keys = {name: found[0].key_id for name, found in seeded.items()}
    store = MANAGEMENT_ACCOUNT_ID if central else member
    setup = Setup(endpoint, member, store, {"IAMRoleName": ROLE_NAME}, keys)
    held = {**keys, "carol": "AKIAGONEGONEGONE0000"}  # carol's secret: a key she lost
    for user in ("alice", "bob", "carol", "dave"):
        owner = "999988887777" if user == "dave" else member
        replicated = {"AddReplicaRegions": [{"Region": r} for r in replicas]} if replicas else {}
        setup.secrets().create_secret(
            **replicated,
            Name=setup.name(user),
            SecretString=json.dumps({"AccessKeyId": held[user], "UserName": user}),
            Tags=[
                {"Key": HELD_KEY_TAG, "Value": held[user]},
                {"Key": ROTATED_AT_TAG, "Value": stamp(now - timedelta(days=60))},
                {"Key": ACCOUNT_TAG, "Value": owner},
                {"Key": USER_NAME_TAG, "Value": user},
            ],
        )
    iam = client(endpoint, member, "iam")
    iam.delete_access_key(UserName="alice", AccessKeyId=keys["alice"])
    iam.delete_user(UserName="alice")
    if central:
        key = create_multi_region_key(MANAGEMENT_ACCOUNT_ID, "us-east-1", description="secrets")
        setup.env.update(
            {
                "StoreSecretsInCentralAccount": "true",
                "CentralAccount": MANAGEMENT_ACCOUNT_ID,
                "SecretsKmsKeyId": key,
            }
        )
    return setup


@pytest.fixture
def member_mode(moto_endpoint: str) -> Setup:
    return _setup(moto_endpoint, central=False)


def cleanup(setup: Setup, *args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(
        main, ["cleanup", *args, "--output", "json"], env=setup.env, catch_exceptions=False
    )
    assert result.stdout.lstrip().startswith("{"), result.output
    return result.exit_code, json.loads(result.stdout)


def _by_user(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["user_name"]: row for row in document["secrets"]}


def _orphan_note(report: dict[str, Any]) -> str:
    notes = [n for a in report["accounts"] for n in a["notes"] if n.startswith("orphaned")]
    assert len(notes) == 1, notes
    return notes[0]


def test_every_run_reports_orphaned_secrets_and_an_audit_marks_none(member_mode: Setup) -> None:
    run = run_cli(env={**member_mode.env, "ScanMode": "per-user"})
    assert run.exit_code == 0, run.stderr
    note = _orphan_note(run.report)
    assert note.startswith("orphaned secrets (2): ")
    assert f"{member_mode.name('alice')} (user alice: its user no longer exists" in note
    assert "carol: its user no longer has the key it holds, AKIAGONEGONEGONE0000" in note
    assert "not yet marked" in note
    assert "bob" not in note
    assert "dave" not in note
    assert ORPHANED_AT_TAG not in member_mode.tags("alice")  # an audit writes nothing


def test_an_enforce_run_marks_new_orphans_and_nothing_else(member_mode: Setup) -> None:
    run = run_cli("--enforce", env={**member_mode.env, "ScanMode": "per-user"})
    assert run.exit_code == 0, run.stderr
    assert "orphaned since" in _orphan_note(run.report)
    for user in ("alice", "carol"):
        assert ORPHANED_AT_TAG in member_mode.tags(user), user
    for user in ("bob", "dave"):
        assert ORPHANED_AT_TAG not in member_mode.tags(user), user


def test_cleanup_before_the_grace_period_deletes_nothing(member_mode: Setup) -> None:
    code, audit = cleanup(member_mode)
    assert code == 0
    rows = _by_user(audit)
    assert set(rows) == {"alice", "carol"}
    assert {r["action"] for r in rows.values()} == {"mark"}
    assert {r["outcome"] for r in rows.values()} == {"planned"}
    assert ORPHANED_AT_TAG not in member_mode.tags("alice")  # the audit marked nothing

    code, first = cleanup(member_mode, "--enforce")
    assert code == 0
    assert {(r["action"], r["outcome"]) for r in first["secrets"]} == {("mark", "done")}
    member_mode.age_mark("alice", 29)
    code, second = cleanup(member_mode, "--enforce")
    assert code == 0
    assert {(r["action"], r["outcome"]) for r in second["secrets"]} == {("wait", "planned")}
    assert _by_user(second)["alice"]["age_days"] == pytest.approx(29, abs=0.1)
    assert not any(member_mode.deleted(u) for u in ("alice", "bob", "carol", "dave"))


def test_cleanup_after_the_grace_period_schedules_the_deletion_of_orphans_only(
    member_mode: Setup,
) -> None:
    cleanup(member_mode, "--enforce")  # marks alice and carol
    member_mode.age_mark("alice", 31)
    member_mode.age_mark("carol", 31)
    member_mode.age_mark("bob", 400)  # a stray mark on a living user's secret: never enough

    code, audit = cleanup(member_mode)
    assert code == 0
    assert {(u, r["action"], r["outcome"]) for u, r in _by_user(audit).items()} == {
        ("alice", "delete", "planned"),
        ("carol", "delete", "planned"),
    }
    assert not member_mode.deleted("alice")

    code, done = cleanup(member_mode, "--enforce")
    assert code == 0
    assert {(u, r["action"], r["outcome"]) for u, r in _by_user(done).items()} == {
        ("alice", "delete", "done"),
        ("carol", "delete", "done"),
    }
    assert member_mode.deleted("alice")
    assert member_mode.deleted("carol")
    assert not member_mode.deleted("bob")
    assert not member_mode.deleted("dave")
    scheduled = member_mode.secrets().describe_secret(SecretId=member_mode.name("alice"))
    assert scheduled["DeletedDate"] > datetime.now(UTC) + timedelta(days=29)  # the window
    assert (
        json.loads(
            member_mode.secrets().get_secret_value(SecretId=member_mode.name("bob"))["SecretString"]
        )["AccessKeyId"]
        == member_mode.keys["bob"]
    )


def test_a_deletion_refused_is_a_failure_in_the_table_and_exit_1_the_others_go_on(
    member_mode: Setup, emulator: EmulatorServer
) -> None:
    cleanup(member_mode, "--enforce")
    member_mode.age_mark("alice", 31)
    member_mode.age_mark("carol", 31)
    emulator.inject(
        Fault(
            "secretsmanager",
            "DeleteSecret",
            kind="access_denied",
            times=None,
            body_contains=member_mode.name("carol"),
        )
    )
    table = CliRunner().invoke(
        main, ["cleanup", "--enforce"], env=member_mode.env, terminal_width=250
    )
    assert table.exit_code == 1, table.output
    text = " ".join(table.stdout.split())
    assert "scheduled for deletion" in text  # alice
    assert "delete FAILED" in text  # carol, with the reason
    assert member_mode.deleted("alice")
    assert not member_mode.deleted("carol")


def test_a_secret_put_back_to_use_after_its_mark_is_not_deleted(member_mode: Setup) -> None:
    cleanup(member_mode, "--enforce")
    member_mode.age_mark("carol", 31)
    # carol's key comes back into her secret (a rotation would do this): the tags say so
    now = datetime.now(UTC)
    member_mode.secrets().tag_resource(
        SecretId=member_mode.name("carol"),
        Tags=[
            {"Key": HELD_KEY_TAG, "Value": member_mode.keys["carol"]},
            {"Key": ROTATED_AT_TAG, "Value": stamp(now)},
        ],
    )
    code, done = cleanup(member_mode, "--enforce")
    assert code == 0
    assert "carol" not in _by_user(done)
    assert not member_mode.deleted("carol")


def test_central_mode_judges_each_accounts_secrets_in_the_central_account(
    moto_endpoint: str,
) -> None:
    # replicated, as CredentialReplicationRegions makes them: AWS deletes no secret that
    # still has replicas, so they go first
    setup = _setup(moto_endpoint, central=True, replicas=("us-west-2",))
    code, first = cleanup(setup, "--enforce")
    assert code == 0, first
    assert {r["user_name"] for r in first["secrets"]} == {"alice", "carol"}
    assert {r["account_id"] for r in first["secrets"]} == {setup.member}
    setup.age_mark("alice", 31)
    code, done = cleanup(setup, "--enforce")
    assert code == 0
    assert _by_user(done)["alice"]["outcome"] == "done", done
    assert setup.deleted("alice")
    replica = client(setup.endpoint, setup.store, "secretsmanager", region="us-west-2")
    with pytest.raises(replica.exceptions.ResourceNotFoundException):
        replica.describe_secret(SecretId=setup.name("alice"))
    assert setup.secrets().describe_secret(SecretId=setup.name("bob"))["ReplicationStatus"]
    assert not setup.deleted("bob")
    assert not setup.deleted("dave")

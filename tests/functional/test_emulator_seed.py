"""Seeding the emulator: aged keys as every IAM read sees them, users, and the demo org."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from keyrotate.domain.engine import plan
from keyrotate.domain.models import AccessKey, ActionKind, Exemption, KeyStatus, UserKeys
from keyrotate.domain.policy import RotationPolicy
from keyrotate_emulator import EmulatorServer, Strictness
from keyrotate_emulator.demo_org import DemoManifest, seed_demo_organization
from keyrotate_emulator.seed import (
    MANAGEMENT_ACCOUNT_ID,
    KeySpec,
    OrganizationBuilder,
    UserSpec,
    age_key,
    assume_member_role,
    seed_users,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def server(emulator: EmulatorServer) -> EmulatorServer:
    """The shared emulator, empty, paging IAM at 100 and as strict as AWS."""
    emulator.iam_page_size = 100
    emulator.strictness = Strictness()
    return emulator


def iam_of(server: EmulatorServer, account_id: str = MANAGEMENT_ACCOUNT_ID) -> Any:
    return boto3.client(
        "iam",
        endpoint_url=server.url,
        region_name="us-east-1",
        **assume_member_role(server.url, account_id, "keyrotate-member"),
    )


def credential_report(iam: Any) -> dict[str, dict[str, str]]:
    while iam.generate_credential_report()["State"] != "COMPLETE":
        time.sleep(0.05)
    content = iam.get_credential_report()["Content"].decode("utf-8")
    return {row["user"]: row for row in csv.DictReader(io.StringIO(content))}


# age_key ---------------------------------------------------------------------------------
def test_age_key_shows_in_list_access_keys_last_used_and_the_credential_report(
    server: EmulatorServer,
) -> None:
    iam = iam_of(server)
    iam.create_user(UserName="alice")
    key_id = iam.create_access_key(UserName="alice")["AccessKey"]["AccessKeyId"]
    created = NOW - timedelta(days=95)
    used = NOW - timedelta(days=1, hours=3)

    age_key(MANAGEMENT_ACCOUNT_ID, key_id, created, used)

    listed = iam.list_access_keys(UserName="alice")["AccessKeyMetadata"][0]
    last_used = iam.get_access_key_last_used(AccessKeyId=key_id)["AccessKeyLastUsed"]
    row = credential_report(iam)["alice"]
    assert listed["CreateDate"] == created
    assert last_used["LastUsedDate"] == used
    assert row["access_key_1_last_rotated"] == created.isoformat()
    assert row["access_key_1_last_used_date"] == used.isoformat()


def test_a_key_aged_as_never_used_has_no_last_used_date(server: EmulatorServer) -> None:
    iam = iam_of(server)
    iam.create_user(UserName="bob")
    key_id = iam.create_access_key(UserName="bob")["AccessKey"]["AccessKeyId"]
    iam.get_user(UserName="bob", **{})  # nothing marks the key used: calls use "testing"

    age_key(MANAGEMENT_ACCOUNT_ID, key_id, NOW - timedelta(days=10), None)

    last_used = iam.get_access_key_last_used(AccessKeyId=key_id)["AccessKeyLastUsed"]
    assert "LastUsedDate" not in last_used
    assert credential_report(iam)["bob"]["access_key_1_last_used_date"] == "N/A"


def test_age_key_names_the_key_it_cannot_find(server: EmulatorServer) -> None:
    with pytest.raises(LookupError, match="AKIANOTAKEY"):
        age_key(MANAGEMENT_ACCOUNT_ID, "AKIANOTAKEY", NOW)


# seed_users ------------------------------------------------------------------------------
@pytest.mark.parametrize("via", ["api", "backend"])
def test_seed_users_builds_users_tags_groups_and_aged_keys_in_a_member_account(
    server: EmulatorServer, via: Any
) -> None:
    member = OrganizationBuilder(server.url).account("m", "m@example.com").account_id
    spec = UserSpec(
        "svc",
        (KeySpec(3, True, None), KeySpec(101, False, 20.5)),
        tags={"ResourceOwner": "o@example.com"},
        groups=("IAMKeyRotationExemptionGroup",),
    )

    seeded = seed_users(server.url, member, [spec], NOW, via=via)

    iam = iam_of(server, member)
    keys = iam.list_access_keys(UserName="svc")["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["Status"], k["CreateDate"]) for k in keys] == [
        (seeded["svc"][0].key_id, "Inactive", NOW - timedelta(days=101)),
        (seeded["svc"][1].key_id, "Active", NOW - timedelta(days=3)),
    ]
    last_used = iam.get_access_key_last_used(AccessKeyId=seeded["svc"][0].key_id)
    assert last_used["AccessKeyLastUsed"]["LastUsedDate"] == NOW - timedelta(days=20.5)
    assert iam.list_user_tags(UserName="svc")["Tags"] == [
        {"Key": "ResourceOwner", "Value": "o@example.com"}
    ]
    members = iam.get_group(GroupName="IAMKeyRotationExemptionGroup")["Users"]
    assert [u["UserName"] for u in members] == ["svc"]
    assert iam_of(server).list_users()["Users"] == []  # nothing leaked into management


def test_bulk_seeding_in_the_backend_makes_a_thousand_users_in_seconds(
    server: EmulatorServer,
) -> None:
    specs = [UserSpec(f"bulk-{i:04d}", (KeySpec(i % 120, True, 1),)) for i in range(1000)]

    started = time.monotonic()
    seed_users(server.url, MANAGEMENT_ACCOUNT_ID, specs, NOW)
    elapsed = time.monotonic() - started

    server.iam_page_size = None  # one page: 1,000 users cost moto 0.2 s per ListUsers
    assert len(iam_of(server).list_users()["Users"]) == 1000
    assert elapsed < 5.0


# the demo organization ---------------------------------------------------------------------
@pytest.fixture
def demo(server: EmulatorServer) -> DemoManifest:
    return seed_demo_organization(server.url, NOW)


def test_demo_seeding_takes_well_under_twenty_seconds(server: EmulatorServer) -> None:
    started = time.monotonic()
    seed_demo_organization(server.url, NOW)

    assert time.monotonic() - started < 10.0


def test_demo_organization_lists_the_manifests_accounts_in_nested_ous(
    server: EmulatorServer, demo: DemoManifest
) -> None:
    org = boto3.client("organizations", endpoint_url=server.url, region_name="us-east-1")
    listed = {
        a["Id"]: a
        for page in org.get_paginator("list_accounts").paginate()
        for a in page["Accounts"]
    }

    assert len(demo.accounts) >= 7
    assert len(demo.active_accounts) >= 6
    assert {a.account_id: (a.name, a.email, a.status) for a in demo.accounts} == {
        i: (a["Name"], a["Email"], a["Status"]) for i, a in listed.items()
    }
    assert [a.name for a in demo.skipped_accounts] == ["sandbox-retired"]
    assert demo.management_account_id == MANAGEMENT_ACCOUNT_ID
    for account in demo.accounts:
        assert _ou_path_of(org, account.account_id) == account.ou_path
    assert "/Root/Workloads/Prod" in demo.ou_paths
    assert "/Root/Workloads/Dev" in demo.ou_paths


def _ou_path_of(org: Any, child_id: str) -> str:
    names: list[str] = []
    while True:
        parent = org.list_parents(ChildId=child_id)["Parents"][0]
        if parent["Type"] == "ROOT":
            return "/" + "/".join(["Root", *reversed(names)])
        names.append(
            org.describe_organizational_unit(OrganizationalUnitId=parent["Id"])[
                "OrganizationalUnit"
            ]["Name"]
        )
        child_id = parent["Id"]


def test_demo_organization_has_a_big_account_exemptions_and_owner_tags(
    server: EmulatorServer, demo: DemoManifest
) -> None:
    big = demo.account("dev-analytics").account_id
    prod = demo.account("prod-payments").account_id
    big_iam, prod_iam = iam_of(server, big), iam_of(server, prod)

    big_pages = list(big_iam.get_paginator("list_users").paginate())
    group = prod_iam.get_group(GroupName=demo.exemption_group)["Users"]
    tagged = {
        t["Key"]: t["Value"] for t in prod_iam.list_user_tags(UserName="svc-exempt-tag")["Tags"]
    }

    assert sum(len(p["Users"]) for p in big_pages) == len(demo.users_in(big)) >= 150
    assert len(big_pages) >= 2
    assert [u["UserName"] for u in group] == ["svc-exempt-group"]
    assert tagged[demo.exempt_tag].endswith(";reason=vendor appliance")
    owners = [u for u in demo.users if u.owner]
    assert len(owners) >= 5
    for user in owners[:5]:
        tags = iam_of(server, user.account_id).list_user_tags(UserName=user.user_name)["Tags"]
        assert {"Key": demo.owner_tag, "Value": user.owner} in tags


def test_demo_covers_every_worked_example_and_every_action_kind(demo: DemoManifest) -> None:
    rows = [u.spec_row for u in demo.spec_rows]

    # every row of SPEC's table but the one that needs keyrotate's own earlier check of B
    assert len([r for r in rows if r and r.startswith("A(")]) == 14
    assert demo.expected_kinds() == set(ActionKind)


def test_demo_keys_as_iam_reports_them_make_the_engine_plan_the_manifests_actions(
    server: EmulatorServer, demo: DemoManifest
) -> None:
    """The seeded ages reproduce SPEC's table: read back from IAM, planned by the engine."""
    prod = demo.account("prod-payments").account_id
    iam = iam_of(server, prod)
    policy = RotationPolicy()
    for user in demo.users_in(prod):
        keys = tuple(
            AccessKey(
                key_id=k["AccessKeyId"],
                status=KeyStatus(k["Status"]),
                created=k["CreateDate"].astimezone(UTC),
                last_used=_last_used(iam, k["AccessKeyId"]),
            )
            for k in iam.list_access_keys(UserName=user.user_name)["AccessKeyMetadata"]
        )
        exemption = Exemption(user.exempt_by) if user.exempt_by else None
        planned = plan(UserKeys(user.user_name, keys, exemption=exemption), policy, now=NOW)

        assert tuple(a.kind for a in planned.actions) == user.expected, user.spec_row
        assert {k.key_id for k in keys} == set(user.key_ids)


def _last_used(iam: Any, key_id: str) -> datetime | None:
    found = iam.get_access_key_last_used(AccessKeyId=key_id)["AccessKeyLastUsed"]
    when = found.get("LastUsedDate")
    return None if when is None else when.astimezone(UTC)

"""Exemptions by account id and by OU (AccountExemptions) through the CLI, against the emulator.

A small organization, one user with a 95-day-old key in use per account::

    /Root/Vendors/Appliances  vendor    exempt by OU /Root/Vendors (by path) until +30 days
    /Root/Workloads           legacy    exempt by account id, ended yesterday
    /Root/Workloads           plain     not exempt
    /Root/Sandbox             sandbox   exempt by OU id, for good; its user also has an ended tag

The exempt users are EXEMPT with source, scope, reason and end in the report, the table and
the plan; the ended exemption no longer exempts: its user is rotated like ``plain``'s.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner

from keyrotate.cli import main
from keyrotate_emulator.seed import (
    KeySpec,
    OrganizationBuilder,
    UserSpec,
    create_member_roles,
    read_own_secret_policy,
    seed_users,
)

from .org_support import READ_POLICY_NAME, ROLE_NAME, client, reset_moto, run_cli

OLD_KEY = (KeySpec(95, True, 1.0),)


@dataclass(frozen=True)
class ScopeOrg:
    endpoint: str
    ids: dict[str, str]  # account name -> id
    sandbox_ou: str
    env: dict[str, str | None]


@pytest.fixture
def scope_org(moto_endpoint: str) -> ScopeOrg:
    reset_moto(moto_endpoint)
    now = datetime.now(UTC)
    builder = OrganizationBuilder(moto_endpoint)
    accounts = {
        "vendor": builder.account("vendor", "v@example.com", "Vendors/Appliances"),
        "legacy": builder.account("legacy", "l@example.com", "Workloads"),
        "plain": builder.account("plain", "p@example.com", "Workloads"),
        "sandbox": builder.account("sandbox", "s@example.com", "Sandbox"),
    }
    ids = {name: a.account_id for name, a in accounts.items()}
    create_member_roles(moto_endpoint, ids.values(), ROLE_NAME)
    ended_tag = {"keyrotate:exempt": f"until={(now - timedelta(days=3)):%Y-%m-%d};reason=old"}
    for name, account_id in ids.items():
        tags = ended_tag if name == "sandbox" else {}
        seed_users(
            moto_endpoint,
            account_id,
            [UserSpec(f"svc-{name}", OLD_KEY, tags=tags)],
            now,
            role_name=ROLE_NAME,
        )
        client(moto_endpoint, account_id, "iam").create_policy(
            PolicyName=READ_POLICY_NAME, PolicyDocument=read_own_secret_policy(account_id)
        )
    exemptions = [
        {
            "ou": "/Root/Vendors",
            "expires": f"{now + timedelta(days=30):%Y-%m-%d}",
            "reason": "vendor estate",
        },
        {
            "account": ids["legacy"],
            "expires": f"{now - timedelta(days=1):%Y-%m-%d}",
            "reason": "old",
        },
        {"ou": builder.ou("Sandbox"), "reason": "wiped weekly"},
    ]
    env: dict[str, str | None] = {
        "IAMRoleName": ROLE_NAME,
        "AccountExemptions": json.dumps(exemptions),
    }
    return ScopeOrg(moto_endpoint, ids, builder.ou("Sandbox"), env)


def _by_account(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["account_id"]: r for r in report["keys"]}


def _notes(report: dict[str, Any], account_id: str) -> list[str]:
    (entry,) = [a for a in report["accounts"] if a["account_id"] == account_id]
    return list(entry["notes"])


def test_exempt_accounts_users_are_exempt_with_source_reason_and_end(scope_org: ScopeOrg) -> None:
    run = run_cli(env=scope_org.env)
    assert run.exit_code == 0, run.stderr
    records = _by_account(run.report)
    ids = scope_org.ids

    vendor = records[ids["vendor"]]
    assert (vendor["action"], vendor["outcome"]) == ("EXEMPT", "notice")
    assert vendor["reason"] == "the user's account is in an exempt OU (AccountExemptions)"
    exemption = vendor["exemption"]
    assert (exemption["source"], exemption["scope"], exemption["reason"]) == (
        "ou",
        "/Root/Vendors",
        "vendor estate",
    )
    assert exemption["active"] is True
    assert datetime.fromisoformat(exemption["until"]) > datetime.now(UTC)
    assert exemption["text"].startswith("exempt by OU /Root/Vendors until ")

    sandbox = records[ids["sandbox"]]  # by OU id, for good: the ended tag hides nothing
    assert sandbox["action"] == "EXEMPT"
    assert sandbox["exemption"]["scope"] == scope_org.sandbox_ou
    assert sandbox["exemption"]["until"] is None

    assert records[ids["plain"]]["action"] == "ROTATE"
    assert records[ids["plain"]]["exemption"] is None
    assert run.report["summary"]["exempt_users"] == 2


def test_an_ended_account_exemption_no_longer_exempts_and_the_report_says_so(
    scope_org: ScopeOrg,
) -> None:
    legacy = scope_org.ids["legacy"]
    run = run_cli("--enforce", "--accounts", legacy, env=scope_org.env)
    assert run.exit_code == 0, run.stderr
    record = _by_account(run.report)[legacy]
    assert (record["action"], record["outcome"]) == ("ROTATE", "done"), record["error"]
    assert record["exemption"]["active"] is False
    assert record["exemption"]["source"] == "account"
    # (the other note: this organization has no exemption group)
    (note,) = [n for n in _notes(run.report, legacy) if "AccountExemptions" in n]
    assert "ended on" in note
    assert "no longer exempts" in note
    keys = client(scope_org.endpoint, legacy, "iam").list_access_keys(UserName="svc-legacy")
    assert len(keys["AccessKeyMetadata"]) == 2  # the new key beside the old, as for anyone


def test_the_table_and_the_plan_show_the_exemption(scope_org: ScopeOrg) -> None:
    vendor = scope_org.ids["vendor"]
    table = CliRunner().invoke(
        main, ["run", "--accounts", vendor], env=scope_org.env, terminal_width=250
    )
    assert table.exit_code == 0, table.stderr
    assert "exempt by OU /Root/Vendors until" in " ".join(table.stdout.split())
    assert "vendor estate" in table.stdout

    plan = CliRunner().invoke(
        main,
        ["plan", "--accounts", vendor, "--as-of", _days(40), "--output", "json"],
        env=scope_org.env,
    )
    assert plan.exit_code == 0, plan.stderr
    rows = json.loads(plan.stdout)["calendar"]
    assert rows[0]["action"] == "EXEMPT"
    assert "exempt by OU /Root/Vendors until" in rows[0]["reason"]
    # the exemption ends within the calendar: the rotation follows it
    assert [r["action"] for r in rows[1:2]] == ["ROTATE"]
    assert rows[1]["date"] >= rows[0]["date"]


def test_an_exemption_naming_no_ou_of_the_organization_stops_the_run(scope_org: ScopeOrg) -> None:
    env = {**scope_org.env, "AccountExemptions": "/Root/Vendor;reason=typo"}
    run = run_cli(env=env)
    assert run.exit_code == 2, run.stdout
    assert "/Root/Vendor" in run.stderr
    assert "account_exemptions" in run.stderr
    assert run.document is None


def _days(n: int) -> str:
    return f"{datetime.now(UTC) + timedelta(days=n):%Y-%m-%d}"

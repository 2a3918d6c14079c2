"""`keyrotate plan --as-of`: the organization's calendar, from an audit run that changes nothing."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import boto3
from click.testing import CliRunner

from keyrotate.cli import main
from keyrotate_emulator.seed import (
    MANAGEMENT_ACCOUNT_ID,
    KeySpec,
    OrganizationBuilder,
    UserSpec,
    seed_users,
)

ENV = {"IAMRoleName": "keyrotate-member", "EmailTransport": "none"}


def _seed(endpoint: str, now: datetime) -> None:
    OrganizationBuilder(endpoint)  # the organization, with the management account only
    seed_users(
        endpoint,
        MANAGEMENT_ACCOUNT_ID,
        [
            UserSpec("svc-soon", (KeySpec(80, True, 1.0),)),
            UserSpec("svc-young", (KeySpec(10, True, 1.0),)),
        ],
        now,
    )


def _plan(*args: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    result = CliRunner().invoke(main, ["plan", "--output", "json", *args], env=ENV)
    return result.exit_code, json.loads(result.stdout) if result.exit_code == 0 else {}


def test_the_calendar_lists_each_action_on_the_day_it_falls_due(moto_endpoint: str) -> None:
    now = datetime.now(UTC)
    _seed(moto_endpoint, now)
    as_of = (now + timedelta(days=40)).date()
    code, document = _plan("--as-of", as_of.isoformat())
    assert code == 0
    soon = [r for r in document["calendar"] if r["user_name"] == "svc-soon"]
    days = [(r["action"], (date.fromisoformat(r["date"]) - now.date()).days) for r in soon]
    assert days == [("ROTATE", 10), ("DEACTIVATE", 20), ("DELETE", 30)]
    assert not [r for r in document["calendar"] if r["user_name"] == "svc-young"]


def test_planning_changes_nothing_in_aws(moto_endpoint: str) -> None:
    now = datetime.now(UTC)
    _seed(moto_endpoint, now)
    iam = boto3.client("iam")
    before = iam.list_access_keys(UserName="svc-soon")["AccessKeyMetadata"]
    code, _ = _plan("--as-of", (now + timedelta(days=400)).date().isoformat(), "--enforce")
    assert code == 0  # --enforce is ignored: plan is always an audit
    assert iam.list_access_keys(UserName="svc-soon")["AccessKeyMetadata"] == before
    assert boto3.client("secretsmanager").list_secrets()["SecretList"] == []


def test_a_date_in_the_past_or_unreadable_is_bad_input(moto_endpoint: str) -> None:
    for value in ("2001-01-01", "next tuesday"):
        result = CliRunner().invoke(main, ["plan", "--as-of", value], env=ENV)
        assert result.exit_code == 2, result.output
        assert "--as-of" in result.stderr

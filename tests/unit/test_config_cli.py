"""``keyrotate config`` and the common options: only the flags given override env and file."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from keyrotate.cli import CommandInput, main, settings_options
from keyrotate.config import ENV_VARIABLES

CLEAN_ENV: dict[str, str | None] = {
    name: None for names in ENV_VARIABLES.values() for name in names
}


def invoke(args: list[str], env: Mapping[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, args, env={**CLEAN_ENV, **(env or {})})


def resolved(args: list[str], env: Mapping[str, str] | None = None) -> dict[str, dict[str, object]]:
    result = invoke(["config", "--output", "json", *args], env)
    assert result.exit_code == 0, result.stderr
    return {row["field"]: row for row in json.loads(result.stdout)}


def test_config_json_says_where_each_value_came_from(tmp_path: Path) -> None:
    config_path = tmp_path / "k.yaml"
    config_path.write_text("workers: 2\nrotate_after_days: 30\nwarn_before_days: 3\n")
    rows = resolved(["--config", str(config_path), "--workers", "6"], {"RotationPeriod": "45"})
    assert (rows["workers"]["value"], rows["workers"]["source"]) == (6, "flag")
    assert (rows["rotate_after_days"]["value"], rows["rotate_after_days"]["source"]) == (45, "env")
    assert (rows["warn_before_days"]["value"], rows["warn_before_days"]["source"]) == (3, "file")
    assert (rows["delete_after_days"]["value"], rows["delete_after_days"]["source"]) == (
        110,
        "default",
    )
    assert rows["rotate_after_days"]["env_name"] == "RotationPeriod"


def test_config_table_lists_every_setting_with_its_source() -> None:
    result = invoke(["config"], {"MaxWorkers": "12"})
    assert result.exit_code == 0, result.stderr
    assert "audit mode" in result.stdout
    workers_line = next(line for line in result.stdout.splitlines() if " workers " in line)
    assert workers_line.split() == ["workers", "MaxWorkers", "12", "env"]
    for field in ENV_VARIABLES:
        assert field in result.stdout


def test_flags_not_given_do_not_override_the_environment() -> None:
    env = {
        "DryRunFlag": "false",
        "MaxWorkers": "3",
        "IncludeAccounts": "111111111111",
        "AWS_REGION": "eu-west-1",
    }
    rows = resolved([], env)
    assert rows["dry_run"] == {
        "field": "dry_run",
        "env_name": "DryRunFlag",
        "value": False,
        "source": "env",
    }
    assert rows["workers"]["value"] == 3
    assert rows["include_accounts"]["value"] == ["111111111111"]
    assert rows["region"]["value"] == "eu-west-1"


def test_audit_is_the_default_and_enforce_must_be_asked_for() -> None:
    assert resolved([])["dry_run"]["value"] is True
    assert resolved(["--enforce"])["dry_run"]["value"] is False
    assert resolved(["--audit"], {"DryRunFlag": "False"})["dry_run"]["value"] is True


def test_accounts_ou_and_force_user_accept_commas_and_repeats() -> None:
    rows = resolved(
        [
            "--accounts",
            "111111111111,222222222222",
            "--accounts",
            "333333333333",
            "--ou",
            "ou-ab12-cdef3456,r-ab12",
            "--force-user",
            "111111111111:alice",
            "--force-user",
            "222222222222:bob",
        ]
    )
    assert rows["include_accounts"]["value"] == ["111111111111", "222222222222", "333333333333"]
    assert rows["organizational_units"]["value"] == ["ou-ab12-cdef3456", "r-ab12"]
    assert rows["force_users"]["value"] == ["111111111111:alice", "222222222222:bob"]
    assert rows["force_users"]["source"] == "flag"


def test_profile_and_region_flags_override_the_aws_variables() -> None:
    rows = resolved(
        ["--profile", "audit", "--region", "us-west-2"],
        {"AWS_PROFILE": "other", "AWS_REGION": "eu-west-1"},
    )
    assert (rows["profile"]["value"], rows["profile"]["source"]) == ("audit", "flag")
    assert (rows["region"]["value"], rows["region"]["source"]) == ("us-west-2", "flag")


def test_settings_options_hand_a_new_command_its_input_and_own_options(tmp_path: Path) -> None:
    # How later commands (run, plan, demo) plug in: the decorator plus their own options.
    seen: list[tuple[CommandInput, str]] = []

    @click.group()
    def group() -> None:
        pass

    @group.command()
    @settings_options
    @click.option("--since", default="today")
    def probe(cli: CommandInput, since: str) -> None:
        seen.append((cli, since))

    report = tmp_path / "r.json"
    result = CliRunner().invoke(
        group,
        ["probe", "--since", "yesterday", "--enforce", "--report", str(report), "--output", "json"],
        env=CLEAN_ENV,
    )
    assert result.exit_code == 0, result.output
    [(cli, since)] = seen
    assert since == "yesterday"
    assert cli.settings.enforce
    assert cli.report_path == report
    assert cli.output == "json"


@pytest.mark.parametrize("output", ["table", "json"])
def test_config_output_formats(output: str) -> None:
    result = invoke(["config", "--output", output])
    assert result.exit_code == 0
    assert "dry_run" in result.stdout

"""Bad input reaches the user as ``error: <field>: <value> is not valid: <fix>``, exit 2, no trace.

Every case of test_config_errors.BAD_INPUTS goes through the real click command (CliRunner), a
few more through flags only, and a handful through the installed ``keyrotate`` executable in a
subprocess, where a traceback would actually be printed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from keyrotate.cli import main, report_errors
from keyrotate.config import ENV_VARIABLES
from keyrotate.domain.errors import AwsError, InputError
from tests.unit.test_config_errors import BAD_INPUTS, BadInput

# Unset every variable the configuration reads, so the developer's shell cannot leak in.
CLEAN_ENV: dict[str, str | None] = {
    name: None for names in ENV_VARIABLES.values() for name in names
}
KEYROTATE = Path(sys.executable).parent / "keyrotate"


def invoke(args: list[str], env: Mapping[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, args, env={**CLEAN_ENV, **(env or {})})


def assert_clean_input_error(result: Result, *expected: str) -> None:
    assert result.exit_code == 2, result.output
    # A SystemExit is click's clean exit; any other exception would be a crash.
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.stdout == ""
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.output
    assert "pydantic" not in result.stderr
    for text in expected:
        assert text in result.stderr


def args_for(case: BadInput, tmp_path: Path) -> list[str]:
    if case.yaml is None:
        return ["config"]
    config_path = tmp_path / "keyrotate.yaml"
    config_path.write_text(case.yaml, encoding="utf-8")
    return ["config", "--config", str(config_path)]


@pytest.mark.parametrize("case", BAD_INPUTS, ids=[case.id for case in BAD_INPUTS])
def test_bad_setting_exits_2_naming_field_and_value_on_stderr(
    case: BadInput, tmp_path: Path
) -> None:
    result = invoke(args_for(case, tmp_path), case.env)
    assert_clean_input_error(result, case.field, case.value, *case.also)


# fmt: off
FLAG_CASES = [
    pytest.param(["--workers", "0"], ("workers (MaxWorkers)", "'0'", "from a command-line flag"),
                 id="workers-zero"),
    pytest.param(["--workers", "many"], ("workers", "'many'", "whole number"), id="workers-word"),
    pytest.param(["--user-workers", "33"],
                 ("user_workers (UserWorkers)", "'33'", "from a command-line flag", "1 to 32"),
                 id="user-workers-too-many"),
    pytest.param(["--accounts", "123456789012,42"], ("include_accounts", "'42'", "12-digit"),
                 id="accounts-short-id"),
    pytest.param(["--accounts", "123456789012", "--accounts", "x"], ("include_accounts", "'x'"),
                 id="accounts-repeated-bad"),
    pytest.param(["--ou", "ou-bad"], ("organizational_units", "'ou-bad'"), id="ou-bad"),
    pytest.param(["--force-user", "alice"], ("force_users", "'alice'", "ACCOUNTID:USERNAME"),
                 id="force-user-no-account"),
    pytest.param(["--region", "us-esat-1"], ("region", "'us-esat-1'", "did you mean 'us-east-1'"),
                 id="region-typo"),
    pytest.param(["--config", "/nonexistent/keyrotate.yaml"],
                 ("--config", "'/nonexistent/keyrotate.yaml'", "no such file"),
                 id="config-missing"),
]
# fmt: on


@pytest.mark.parametrize(("args", "expected"), FLAG_CASES)
def test_bad_flag_value_exits_2_naming_field_and_value(
    args: list[str], expected: tuple[str, ...]
) -> None:
    assert_clean_input_error(invoke(["config", *args]), *expected)


def test_a_flag_overrides_a_bad_environment_value() -> None:
    result = invoke(["config", "--workers", "4"], {"MaxWorkers": "0"})
    assert result.exit_code == 0, result.stderr


def test_an_unknown_option_is_a_usage_error_with_exit_2() -> None:
    result = invoke(["config", "--enforse"])
    assert result.exit_code == 2
    assert "No such option" in result.stderr


def test_every_problem_gets_its_own_error_line() -> None:
    result = invoke(["config"], {"AWSOrgID": "o-x", "DryRunFlag": "Ture"})
    assert_clean_input_error(result)
    lines = result.stderr.splitlines()
    assert len(lines) == 2
    assert all(line.startswith("error: ") for line in lines)


def test_report_errors_gives_exit_1_for_an_aws_failure_and_2_for_bad_input() -> None:
    # The wrapper other commands rely on, outside the group: exit codes by error kind.
    for error, code in (
        (AwsError("iam:ListUsers", "Throttling", "slow down"), 1),
        (InputError("workers", 0, "use 1 to 64"), 2),
    ):
        with pytest.raises(click.exceptions.Exit) as caught, report_errors():
            raise error
        assert caught.value.exit_code == code


# Through the installed console script: the only way to see a traceback if one were printed.
SUBPROCESS_CASES = ("ture-from-env", "yaml-malformed", "yaml-unknown-key", "warn-equals-rotate")


@pytest.mark.skipif(not KEYROTATE.exists(), reason="console script not installed in this venv")
@pytest.mark.parametrize("case_id", SUBPROCESS_CASES)
def test_installed_command_prints_one_error_and_no_traceback(case_id: str, tmp_path: Path) -> None:
    case = next(case for case in BAD_INPUTS if case.id == case_id)
    env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV} | dict(case.env)
    completed = subprocess.run(
        [str(KEYROTATE), *args_for(case, tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 2
    assert completed.stdout == ""
    assert "Traceback" not in completed.stderr
    assert completed.stderr.startswith("error: ")
    assert case.field in completed.stderr
    assert case.value in completed.stderr

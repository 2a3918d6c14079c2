"""Issue 15's acceptance: a consumer using ``keyrotate credentials`` follows two rotations.

The consumer is boto3 with a profile whose ``credential_process`` runs the helper (a real
subprocess, through a temporary ``AWS_CONFIG_FILE``), against the emulator with its IAM key
checks on (an inactive or deleted key authenticates nothing). Rotations are ``keyrotate run
--enforce`` through the CLI; time passes by moving every recorded moment back
(clock_support). The engine must never HOLD the user: the helper switches the consumer to the
new key within one call of the rotation.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from click.testing import CliRunner

from keyrotate.cli import main
from keyrotate_emulator.demo import READ_POLICY_NAME, ROLE_NAME
from keyrotate_emulator.seed import (
    MANAGEMENT_ACCOUNT_ID,
    KeySpec,
    OrganizationBuilder,
    UserSpec,
    create_member_roles,
    read_own_secret_policy,
    seed_users,
)

from .clock_support import backend_key, pass_days
from .org_support import records_by_user, run_cli

ACCOUNT = MANAGEMENT_ACCOUNT_ID
USER = "svc-app"
SECRET = f"keyrotate/{ACCOUNT}/{USER}"
KEYROTATE = Path(sys.executable).with_name("keyrotate")
USER_ARN = f"arn:aws:iam::{ACCOUNT}:user/{USER}"


@dataclass(frozen=True)
class Consumer:
    cache: Path
    config: Path

    def call(self) -> str:
        """One consumer start: a fresh session on the profile, one STS call; its key id."""
        session = boto3.Session(profile_name="app")
        identity = session.client("sts").get_caller_identity()
        assert identity["Arn"] == USER_ARN
        credentials = session.get_credentials()
        assert credentials is not None
        return str(credentials.access_key)

    def cached_key_id(self) -> str:
        return str(json.loads(self.cache.read_text())["AccessKeyId"])


def _helper_command(cache: Path) -> str:
    return f"{KEYROTATE} credentials --secret {SECRET} --cache {cache}"


@pytest.fixture
def consumer(moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Consumer:
    """The user with one 95-day-old key in use, and a consumer given that key once."""
    OrganizationBuilder(moto_endpoint)
    create_member_roles(moto_endpoint, [ACCOUNT], ROLE_NAME)
    boto3.client("iam").create_policy(
        PolicyName=READ_POLICY_NAME, PolicyDocument=read_own_secret_policy(ACCOUNT)
    )
    seeded = seed_users(
        moto_endpoint,
        ACCOUNT,
        [UserSpec(USER, (KeySpec(95, used_days_ago=0.1),))],
        datetime.now(UTC),
    )
    first = seeded[USER][0].key_id
    cache = tmp_path / "helper" / "cache.json"
    config = tmp_path / "aws-config"
    config.write_text(
        f"[profile app]\nregion = us-east-1\ncredential_process = {_helper_command(cache)}\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    # The consumer's key as it was handed over before the helper: given once, in its env.
    monkeypatch.setenv("KEYROTATE_INITIAL_ACCESS_KEY_ID", first)
    monkeypatch.setenv(
        "KEYROTATE_INITIAL_SECRET_ACCESS_KEY", backend_key(ACCOUNT, first).secret_access_key
    )
    return Consumer(cache, config)


def _enforce() -> list[dict[str, Any]]:
    run = run_cli("--enforce", env={"IAMRoleName": ROLE_NAME})
    assert run.exit_code == 0, run.stderr
    records = records_by_user(run.report)[(ACCOUNT, USER)]
    assert all(r["action"] != "HOLD" for r in records), records
    return records


def _done(records: list[dict[str, Any]], action: str, key_id: str) -> dict[str, Any]:
    (record,) = [r for r in records if r["access_key_id"] == key_id and r["action"] == action]
    assert record["outcome"] == "done", record
    return record


def _refused(key_id: str) -> bool:
    secret = backend_key(ACCOUNT, key_id).secret_access_key if _exists(key_id) else "x" * 40
    sts = boto3.client(
        "sts", aws_access_key_id=key_id, aws_secret_access_key=secret, aws_session_token=None
    )
    try:
        sts.get_caller_identity()
    except ClientError as exc:
        return exc.response["Error"]["Code"] == "InvalidClientTokenId"
    return False


def _exists(key_id: str) -> bool:
    from moto.iam.models import iam_backends

    return key_id in iam_backends[ACCOUNT]["global"].access_keys


@pytest.mark.slow
def test_a_consumer_on_the_helper_follows_two_rotations_and_is_never_held(
    consumer: Consumer,
) -> None:
    first = consumer.call()  # no secret yet: the helper hands out the key it was given
    assert consumer.cached_key_id() == first

    records = _enforce()
    second = _done(records, "ROTATE", first)["new_access_key_id"]
    assert consumer.call() == second  # the helper read the secret with the old key
    assert consumer.cached_key_id() == second

    pass_days(ACCOUNT, [USER], 10)  # the install window is over
    _done(_enforce(), "DEACTIVATE", first)  # not HOLD: the consumer switched at once
    assert _refused(first)
    assert consumer.call() == second

    pass_days(ACCOUNT, [USER], 81)  # the second key is due
    assert consumer.call() == second
    records = _enforce()
    _done(records, "DELETE", first)
    third = _done(records, "ROTATE", second)["new_access_key_id"]
    assert consumer.call() == third

    pass_days(ACCOUNT, [USER], 10)
    _done(_enforce(), "DEACTIVATE", second)
    assert _refused(second)
    assert consumer.call() == third


def test_a_refused_cached_key_falls_back_to_the_credential_chain(
    consumer: Consumer, monkeypatch: pytest.MonkeyPatch
) -> None:
    consumer.call()
    _enforce()
    first = consumer.cached_key_id()  # the helper has not run since the rotation
    boto3.client("iam").update_access_key(UserName=USER, AccessKeyId=first, Status="Inactive")
    # Deactivated early by hand: the cached key is refused, the chain (here the test's
    # management keys; in life --profile or the instance role) reads the secret instead.
    monkeypatch.delenv("KEYROTATE_INITIAL_ACCESS_KEY_ID")
    monkeypatch.delenv("KEYROTATE_INITIAL_SECRET_ACCESS_KEY")
    result = _helper(consumer)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["AccessKeyId"] != first
    assert "using the credential chain" in result.stderr
    leaked = json.loads(result.stdout)["SecretAccessKey"] in result.stderr
    assert not leaked  # a bool: a failure must not print the key


def test_the_helper_fails_clearly_when_nothing_can_read_the_secret(
    consumer: Consumer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KEYROTATE_INITIAL_ACCESS_KEY_ID")
    monkeypatch.delenv("KEYROTATE_INITIAL_SECRET_ACCESS_KEY")
    result = _helper(consumer)  # no cache, no initial key, and the secret does not exist
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: cannot read {SECRET}")
    assert "ResourceNotFoundException" in result.stderr


def test_the_cache_file_is_private_and_the_output_is_the_credential_process_contract(
    consumer: Consumer,
) -> None:
    result = _helper(consumer)
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert set(body) == {"Version", "AccessKeyId", "SecretAccessKey", "Expiration"}
    assert body["Version"] == 1
    assert body["Expiration"].endswith("Z")
    assert stat.S_IMODE(consumer.cache.stat().st_mode) == 0o600
    assert stat.S_IMODE(consumer.cache.parent.stat().st_mode) == 0o700


def _helper(consumer: Consumer) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(KEYROTATE), "credentials", "--secret", SECRET, "--cache", str(consumer.cache)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_account_and_user_name_the_secret_by_the_secret_name_format(consumer: Consumer) -> None:
    run_cli("--enforce", env={"IAMRoleName": ROLE_NAME})  # the secret exists now
    by_name = _helper(consumer)
    consumer.cache.unlink()
    by_user = CliRunner().invoke(
        main,
        ["credentials", "--account", ACCOUNT, "--user", USER, "--cache", str(consumer.cache)],
        catch_exceptions=False,
    )
    assert by_user.exit_code == 0, by_user.stderr
    assert json.loads(by_user.stdout)["AccessKeyId"] == json.loads(by_name.stdout)["AccessKeyId"]


@pytest.mark.parametrize(
    "args",
    [
        ["--secret", SECRET, "--user", USER],
        ["--account", ACCOUNT],
        [],
        ["--secret", SECRET, "--expiration-minutes", "5"],
    ],
)
def test_bad_input_exits_2_and_prints_nothing_on_stdout(
    consumer: Consumer, args: list[str]
) -> None:
    result = CliRunner().invoke(main, ["credentials", *args, "--cache", str(consumer.cache)])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("error: ")
    assert not consumer.cache.exists()


def test_at_debug_level_the_key_is_on_stdout_once_and_nowhere_else(
    consumer: Consumer, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_cli("--enforce", env={"IAMRoleName": ROLE_NAME})
    monkeypatch.setenv("KEYROTATE_LOG_LEVEL", "DEBUG")  # every AWS call logged
    result = _helper(consumer)  # reads the secret with the initial key: the new key comes back
    assert result.returncode == 0, result.stderr
    secret = json.loads(result.stdout)["SecretAccessKey"]
    assert "GetSecretValue" in result.stderr or "secretsmanager" in result.stderr.lower()
    leaked, printed = secret in result.stderr, result.stdout.count(secret)
    assert (leaked, printed) == (False, 1)  # never the key itself in a failure message

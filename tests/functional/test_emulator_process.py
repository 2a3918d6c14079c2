"""The emulator in a child process: it serves, seeds inside the child, reports over HTTP."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from keyrotate_emulator import Fault
from keyrotate_emulator.demo_org import DemoManifest
from keyrotate_emulator.process import EmulatorProcess, EmulatorProcessError
from keyrotate_emulator.seed import MANAGEMENT_ACCOUNT_ID

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def test_child_process_seeds_serves_counts_and_faults_over_http() -> None:
    with EmulatorProcess(
        iam_page_size=100,
        seed="keyrotate_emulator.demo_org:seed_demo_organization",
        seed_kwargs={"now": NOW},
    ) as emulator:
        manifest = emulator.seed_result
        assert isinstance(manifest, DemoManifest)
        assert emulator.pid is not None
        assert emulator.pid != os.getpid()
        emulator.reset_calls()
        org = boto3.client("organizations", endpoint_url=emulator.url, region_name="us-east-1")
        iam = boto3.client(
            "iam",
            endpoint_url=emulator.url,
            region_name="us-east-1",
            config=Config(retries={"total_max_attempts": 1}),
        )

        accounts = [a for p in org.get_paginator("list_accounts").paginate() for a in p["Accounts"]]
        emulator.inject(Fault("iam", "ListUsers", kind="access_denied"))
        with pytest.raises(ClientError, match="AccessDenied"):
            iam.list_users()
        iam.list_users()
        calls = emulator.calls()

        assert {a["Id"] for a in accounts} == {a.account_id for a in manifest.accounts}
        assert calls.by_account[(MANAGEMENT_ACCOUNT_ID, "iam", "ListUsers")] == 2
        assert calls.total("organizations", "ListAccounts") == 1
        assert emulator.injected() == 1


def test_a_function_run_in_the_child_that_fails_reports_its_traceback() -> None:
    with EmulatorProcess() as emulator:
        with pytest.raises(EmulatorProcessError, match="AKIANOSUCHKEY"):
            emulator.call(
                "keyrotate_emulator.seed:age_key", MANAGEMENT_ACCOUNT_ID, "AKIANOSUCHKEY", NOW
            )
        emulator.reset()  # still serving after the failure

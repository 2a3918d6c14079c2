"""The product against AWS's propagation delay at full length: a rotation still verifies.

The other functional tests run with a short delay (tests/strict_emulator.py) to keep CI fast;
this one gives new keys the demo's few seconds, as AWS does, and runs one account's enforce
pass with verification on, at the product's own first wait (1 s, doubling).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import boto3
import pytest

from keyrotate.aws.session import AccountSessions
from keyrotate.domain.models import Account, ActionKind
from keyrotate.domain.results import Outcome
from keyrotate.service.account import run_account
from keyrotate_emulator.seed import MANAGEMENT_ACCOUNT_ID, KeySpec, UserSpec, seed_users
from keyrotate_emulator.server import update_strictness
from keyrotate_emulator.strict import DEFAULT_KEY_PROPAGATION_SECONDS
from tests.run_options import run_options


@pytest.fixture
def aws_delay(moto_endpoint: str) -> str:
    """The shared emulator with the demo's (AWS-like) delay (conftest puts the tests' back)."""
    update_strictness(moto_endpoint, key_propagation_seconds=DEFAULT_KEY_PROPAGATION_SECONDS)
    return moto_endpoint


def test_a_rotation_verifies_its_new_key_through_a_delay_of_a_few_seconds(
    aws_delay: str,
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    seed_users(aws_delay, MANAGEMENT_ACCOUNT_ID, [UserSpec("svc", (KeySpec(95, True, 1),))], now)
    sessions = AccountSessions(
        boto3.Session(), "keyrotate-member", region="us-east-1", assume_in_own_account=False
    )

    started = time.monotonic()
    result = run_account(
        Account(MANAGEMENT_ACCOUNT_ID, "management", "owner@example.com"),
        sessions,
        run_options(dry_run=False, read_policy_name=None, verify_new_keys=True),
        now=now,
        clock=lambda: now,
    )
    elapsed = time.monotonic() - started

    (user,) = result.users
    (rotation,) = user.results
    assert rotation.action.kind is ActionKind.ROTATE
    assert rotation.outcome is Outcome.DONE, rotation.error
    assert rotation.verified is True, rotation.error
    assert rotation.error is None
    # The key was refused first: the run waited for it instead of giving up or skipping.
    assert elapsed >= DEFAULT_KEY_PROPAGATION_SECONDS

"""Users of one account rotated several at once, against the emulator (keyrotate.service.guarded).

The waits for STS to accept new keys must overlap, and beyond the users calling AWS at once
(UserWorkers): the emulator's gate holds the first checks of new keys until as many of them
as asked for are in flight together, which cannot happen if one check waits for another. The
guardrails' exactness under concurrency is pinned on fakes (tests/unit/test_guarded.py); the
crash-safety of concurrent users, through the CLI, in tests/faults.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from datetime import UTC, datetime

import boto3
import pytest

from keyrotate.aws.session import AccountSessions
from keyrotate.domain.models import Account, ActionKind
from keyrotate.domain.results import AccountResult, Outcome
from keyrotate.service.account import run_account
from keyrotate_emulator import EmulatorServer
from keyrotate_emulator.seed import (
    KeySpec,
    OrganizationBuilder,
    UserSpec,
    create_member_roles,
    iam_client,
    seed_users,
)
from tests.run_options import run_options

ROLE = "keyrotate-member"
USERS = [f"svc-{i}" for i in range(6)]
HELD = 4  # checks held at once; more than the two places users call AWS from


@pytest.fixture
def member(emulator: EmulatorServer) -> str:
    """A member account with six users whose only key is overdue and in use."""
    now = datetime.now(UTC)
    account = OrganizationBuilder(emulator.url).account("work", "work@example.com", "Workloads")
    create_member_roles(emulator.url, [account.account_id], ROLE)
    specs = [UserSpec(name, [KeySpec(age_days=100, used_days_ago=1)]) for name in USERS]
    seed_users(emulator.url, account.account_id, specs, now)
    return account.account_id


def _enforce(account_id: str, result: Future[AccountResult]) -> None:
    sessions = AccountSessions(boto3.Session(), ROLE, region="us-east-1")
    options = run_options(dry_run=False, read_policy_name=None, user_workers=2)
    try:
        outcome = run_account(
            Account(account_id, "work", "work@example.com"),
            sessions,
            options,
            now=datetime.now(UTC),
            clock=lambda: datetime.now(UTC),
        )
    except BaseException as exc:  # handed to the test, which fails on it
        result.set_exception(exc)
    else:
        result.set_result(outcome)


def test_new_keys_are_checked_together_beyond_the_users_calling_aws(
    emulator: EmulatorServer, member: str
) -> None:
    # Each hold keeps one check of a new key (after the emulator answered it) until released;
    # with one check at a time, the second hold would never be reached.
    holds = [
        emulator.gate.hold("sts", "GetCallerIdentity", n, after=True, account_id=member)
        for n in range(1, HELD + 1)
    ]
    result: Future[AccountResult] = Future()
    run = threading.Thread(target=_enforce, args=(member, result), daemon=True)
    run.start()
    try:
        reached = [hold.arrived.wait(8) for hold in holds]
    finally:
        emulator.gate.clear()  # releases every hold
    run.join(60)
    assert reached == [True] * HELD, "the checks of new keys did not overlap"
    account = result.result(timeout=0)
    assert account.error is None, account.error
    for user in account.users:
        (rotated,) = user.results
        assert (rotated.action.kind, rotated.outcome) == (ActionKind.ROTATE, Outcome.DONE)
        assert rotated.verified is True, rotated.error
    # every user's marker was cleared once its sequence was done
    iam = iam_client(emulator.url, member, ROLE)
    for name in USERS:
        tags = {t["Key"] for t in iam.list_user_tags(UserName=name)["Tags"]}
        assert "keyrotate:intent" not in tags

"""One account's enforce pass within the guardrails (keyrotate.service.guarded), on fakes.

Each user has one change (a lone inactive key past deletion, or with ``rotate=True`` an
overdue active key); the fakes log every call, so what was held back is seen to be untouched.
Users run several at once (UserWorkers): the guardrails must still decide as one user at a
time would. Through the CLI: tests/functional/test_guardrails; against the emulator:
tests/functional/test_user_concurrency.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from keyrotate.aws.iam import IamUser
from keyrotate.domain import state_tags as tags
from keyrotate.domain.engine import plan
from keyrotate.domain.guardrails import Tally
from keyrotate.domain.models import AccessKey, ActionKind, KeyStatus, Plan, UserKeys
from keyrotate.domain.results import Outcome
from keyrotate.domain.secret import SecretText
from keyrotate.service.account_context import AccountContext
from keyrotate.service.guarded import Guarded, enforce_guarded
from keyrotate.service.guardrails import RunGuard
from keyrotate.service.scan import ScannedUser
from tests.run_options import run_options
from tests.unit.fakes import FakeIam, FakeSecrets, FakeVerifier, denied

NOW = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
ACCOUNT = "111122223333"


class Account:
    """Users with one inactive 120-day-old key each (one DELETE each), in fake IAM; with
    ``rotate``, one active 100-day-old key in use each (one ROTATE each)."""

    def __init__(self, *names: str, rotate: bool = False, **settings: object) -> None:
        self.iam = FakeIam(NOW)
        self.users: list[ScannedUser] = []
        status = KeyStatus.ACTIVE if rotate else KeyStatus.INACTIVE
        age, used = (timedelta(100), NOW - timedelta(1)) if rotate else (timedelta(120), None)
        for name in names:
            key = AccessKey(f"AKIA{name.upper():0>16}", status, NOW - age, used)
            self.iam.add_user(name, key)
            inputs = UserKeys(name, (key,), tags.key_state({}, None))
            arn = f"arn:aws:iam::{ACCOUNT}:user/{name}"
            self.users.append(ScannedUser(IamUser(name, arn), inputs, {}, f"s/{name}", None))
        self.options = run_options(dry_run=False, **settings)
        self.context = AccountContext(
            ACCOUNT, "aws", self.iam, FakeSecrets(ACCOUNT), self.options, lambda: NOW
        )
        self.plans: dict[str, Plan] = {
            u.name: plan(u.inputs, self.options.policy, now=NOW) for u in self.users
        }

    def enforce(self, guard: RunGuard | None = None) -> Guarded:
        guard = guard or RunGuard.for_run(self.options)
        with guard.budget.turn(ACCOUNT) as turn:
            return enforce_guarded(self.users, self.plans, self.context, guard, turn)

    def deleted(self) -> list[str]:
        return [entry[1] for entry in self.iam.calls.log if entry[0] == "DeleteAccessKey"]


def outcomes(guarded: Guarded) -> dict[str, Outcome]:
    return {name: results[0].outcome for name, results in guarded.results.items()}


def test_the_first_users_by_name_get_the_account_cap_the_rest_are_deferred() -> None:
    account = Account("carol", "alice", "dave", "bob", max_actions_per_account=2)
    guarded = account.enforce()
    assert account.deleted() == ["alice", "bob"]
    assert outcomes(guarded) == {
        "alice": Outcome.DONE,
        "bob": Outcome.DONE,
        "carol": Outcome.DEFERRED,
        "dave": Outcome.DEFERRED,
    }
    (carol,) = guarded.results["carol"]
    assert carol.note == (
        "MaxActionsPerAccount (2) was reached in this account; the next run carries on"
    )
    assert carol.error is None
    assert guarded.notes == (f"2 change(s) deferred: {carol.note}",)
    assert not guarded.breaker_tripped


def test_the_accounts_breaker_stops_changes_once_too_many_failed() -> None:
    account = Account("u1", "u2", "u3", "u4", "u5", "u6", "u7")
    account.iam.fail("DeleteAccessKey", denied("iam:DeleteAccessKey"), times=3)
    guarded = account.enforce()
    # 3 of the first 5 failed (60% > 50%, at the minimum of 5 attempts): u6 and u7 wait
    assert account.deleted() == ["u1", "u2", "u3", "u4", "u5"]
    assert [outcomes(guarded)[u] for u in ("u5", "u6", "u7")] == [
        Outcome.DONE,
        Outcome.DEFERRED,
        Outcome.DEFERRED,
    ]
    why = "the failure breaker tripped: 3 of 5 changes failed in this account"
    assert (guarded.results["u6"][0].note or "").startswith(why)
    assert guarded.breaker_tripped
    (note,) = guarded.notes
    assert note.startswith(why)
    assert note.endswith(
        "no further change was made in this account, 2 change(s) deferred to the next run"
    )


def test_failures_below_the_minimum_never_trip_the_breaker() -> None:
    account = Account("u1", "u2", "u3", "u4", failure_breaker_min_actions=5)
    account.iam.fail("DeleteAccessKey", denied("iam:DeleteAccessKey"), times=4)
    guarded = account.enforce()
    assert set(outcomes(guarded).values()) == {Outcome.FAILED}
    assert not guarded.breaker_tripped


def test_a_tripped_run_breaker_stops_the_account_before_any_write() -> None:
    account = Account("u1", "u2")
    guard = RunGuard.for_run(account.options)
    guard.breaker.add(Tally(attempted=5, failed=5))  # another account's failures
    guarded = account.enforce(guard)
    assert account.iam.calls.log == []
    assert set(outcomes(guarded).values()) == {Outcome.DEFERRED}
    assert "in this run" in (guarded.results["u1"][0].note or "")
    assert guarded.breaker_tripped


def test_an_accounts_changes_feed_the_run_breaker() -> None:
    account = Account("u1", "u2", "u3")
    account.iam.fail("DeleteAccessKey", denied("iam:DeleteAccessKey"), times=3)
    guard = RunGuard.for_run(account.options)
    account.enforce(guard)
    guard.breaker.add(Tally(attempted=2, failed=1))  # the next account's: 4 of 5 failed
    assert guard.breaker.tripped is not None


# -- several users at once ----------------------------------------------------------------------
class Inside:
    """Wraps a fake call: counts the users inside it at once, fails it for chosen users."""

    def __init__(self, call: Callable[..., None], failing: frozenset[str] = frozenset()) -> None:
        self._call = call
        self._failing = failing
        self._lock = threading.Lock()
        self._now = 0
        self.most = 0

    def __call__(self, user_name: str, *args: object) -> None:
        with self._lock:
            self._now += 1
            self.most = max(self.most, self._now)
        try:
            time.sleep(0.002)  # long enough for the other users' threads to come in
            if user_name in self._failing:
                raise denied("iam:DeleteAccessKey")
            self._call(user_name, *args)
        finally:
            with self._lock:
                self._now -= 1


def serial_outcomes(
    names: list[str], failing: frozenset[str], percent: int, least: int
) -> dict[str, Outcome]:
    """What one user at a time gives: each user's outcome until the breaker trips."""
    own = Tally()
    found: dict[str, Outcome] = {}
    for name in names:
        if own.trips(percent, least):
            found[name] = Outcome.DEFERRED
            continue
        failed = name in failing
        found[name] = Outcome.FAILED if failed else Outcome.DONE
        own += Tally(1, int(failed))
    return found


@settings(max_examples=30, deadline=None)
@given(
    failing=st.sets(st.integers(0, 11)).map(lambda s: frozenset(f"u{i:02d}" for i in s)),
    workers=st.integers(1, 8),
    percent=st.sampled_from([20, 50, 80]),
    least=st.integers(1, 6),
)
def test_users_at_once_do_and_defer_exactly_what_one_user_at_a_time_would(
    failing: frozenset[str], workers: int, percent: int, least: int
) -> None:
    names = [f"u{i:02d}" for i in range(12)]
    account = Account(
        *names,
        user_workers=workers,
        failure_breaker_percent=percent,
        failure_breaker_min_actions=least,
    )
    account.iam.delete_key = Inside(account.iam.delete_key, failing)  # type: ignore[method-assign]
    guarded = account.enforce()
    assert outcomes(guarded) == serial_outcomes(names, failing, percent, least)
    assert list(guarded.results) == names  # the scan's order, whatever order users finished in


def test_no_more_users_than_user_workers_call_aws_at_once() -> None:
    names = [f"u{i:02d}" for i in range(12)]
    account = Account(*names, user_workers=3)
    inside = Inside(account.iam.delete_key)
    account.iam.delete_key = inside  # type: ignore[method-assign]
    guarded = account.enforce()
    assert set(outcomes(guarded).values()) == {Outcome.DONE}
    assert 1 < inside.most <= 3


class MeetingVerifier(FakeVerifier):
    """The STS check, answering only once ``together`` new keys are being checked at once
    (a barrier): a run that verified one key after another would time out on it."""

    def __init__(self, together: int) -> None:
        super().__init__()
        self.barrier = threading.Barrier(together, timeout=10)

    def __call__(
        self,
        key_id: str,
        secret: SecretText,
        *,
        region: str,
        expected_arn: str | None = None,
        first_wait: float = 1.0,
    ) -> str | None:
        self.barrier.wait()  # BrokenBarrierError if the checks did not overlap
        return super().__call__(key_id, secret, region=region, expected_arn=expected_arn)


def test_new_keys_wait_for_sts_together_beyond_the_users_calling_aws() -> None:
    names = [f"u{i:02d}" for i in range(6)]
    account = Account(*names, rotate=True, user_workers=2)
    verifier = MeetingVerifier(together=6)
    account.context = replace(account.context, verifier=verifier)
    guarded = account.enforce()
    # six keys were checked at once with two places to call AWS from: a user waiting for STS
    # gave its place to the next user, and came back for the rest of its sequence
    assert len(verifier.checked) == 6
    for name in names:
        (rotated,) = guarded.results[name]
        assert (rotated.action.kind, rotated.outcome, rotated.verified) == (
            ActionKind.ROTATE,
            Outcome.DONE,
            True,
        )
        assert account.iam.policies[name], "the read grant follows the check"
        assert tags.USER_INTENT not in account.iam.tags[name], "the marker is cleared last"

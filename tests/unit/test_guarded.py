"""One account's enforce pass within the guardrails (keyrotate.service.guarded), on fakes.

Each user has one change (a lone inactive key past deletion); the fakes log every call, so
what was held back is seen to be untouched. Through the CLI: tests/functional/test_guardrails.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from keyrotate.aws.iam import IamUser
from keyrotate.domain import state_tags as tags
from keyrotate.domain.engine import plan
from keyrotate.domain.guardrails import Tally
from keyrotate.domain.models import AccessKey, KeyStatus, Plan, UserKeys
from keyrotate.domain.results import Outcome
from keyrotate.service.account_context import AccountContext
from keyrotate.service.guarded import Guarded, enforce_guarded
from keyrotate.service.guardrails import RunGuard
from keyrotate.service.scan import ScannedUser
from tests.run_options import run_options
from tests.unit.fakes import FakeIam, FakeSecrets, denied

NOW = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
ACCOUNT = "111122223333"


class Account:
    """Users with one inactive 120-day-old key each (one DELETE each), in fake IAM."""

    def __init__(self, *names: str, **settings: object) -> None:
        self.iam = FakeIam(NOW)
        self.users: list[ScannedUser] = []
        for name in names:
            key = AccessKey(f"AKIA{name.upper():0>16}", KeyStatus.INACTIVE, NOW - timedelta(120))
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

"""RunSummary: a run is counted once, and its counts add up.

Properties over generated accounts (a few users, keys, actions of every kind and outcome,
ok, failed or skipped): addition has a zero and is associative, and the accounts' summaries
add up to the run's, also when they travel as the Lambda steps' AccountSummaryItem.
"""

from __future__ import annotations

import json
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keyrotate.domain.models import Account, ActionKind
from keyrotate.domain.policy import RotationPolicy
from keyrotate.domain.results import (
    AccountResult,
    NotificationResult,
    Outcome,
    RunReport,
    RunStatus,
)
from keyrotate.domain.summary import (
    ActionCounts,
    RunSummary,
    past_rotation_cutoff,
    summarize_account,
    summarize_notifications,
    summarize_run,
    total,
)
from keyrotate.service.lambda_events import AccountSummaryItem, parse_event
from keyrotate.service.report import account_entry, exit_code
from tests.unit.notify_support import NOW, key, org_report, result, user

SMALL = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
OUTCOMES = [o for o in Outcome if o is not Outcome.NONE]  # no action ends with NONE


@st.composite
def account_results(draw: st.DrawFn) -> AccountResult:
    n = draw(st.integers(100_000_000_000, 999_999_999_999))
    account = Account(str(n), f"acct-{n}", f"o{n}@example.com")
    status = draw(st.sampled_from(RunStatus))
    if status is RunStatus.FAILED:
        return AccountResult(account, error="AccessDenied")
    if status is RunStatus.SKIPPED:
        return AccountResult(account, skipped="account status is SUSPENDED")
    users = []
    for u in range(draw(st.integers(0, 3))):
        name = f"user-{u}"
        results = [
            result(kind, outcome, name, 2 * u, account=account, overdue=overdue)
            for kind, outcome, overdue in draw(
                st.lists(
                    st.tuples(
                        st.sampled_from(ActionKind), st.sampled_from(OUTCOMES), st.booleans()
                    ),
                    max_size=3,
                )
            )
        ]
        ages = draw(st.lists(st.floats(0, 400), max_size=2))
        users.append(user(name, results, keys=[key(2 * u + i, age) for i, age in enumerate(ages)]))
    return AccountResult(account, tuple(users))


summaries = st.builds(summarize_account, account_results(), st.sampled_from([None, NOW]))
notifications = st.lists(
    st.builds(
        NotificationResult, st.just("a@example.com"), st.just("admin"), st.none(), st.booleans()
    )
)


@SMALL
@given(summaries)
def test_zero_adds_nothing(summary: RunSummary) -> None:
    assert RunSummary() + summary == summary == summary + RunSummary()
    assert total([]) == RunSummary()


@SMALL
@given(summaries, summaries, summaries)
def test_addition_is_associative(a: RunSummary, b: RunSummary, c: RunSummary) -> None:
    assert (a + b) + c == a + (b + c)
    assert a + b == b + a


@SMALL
@given(
    st.lists(account_results(), max_size=4), st.lists(account_results(), max_size=4), notifications
)
def test_the_accounts_summaries_add_up_to_the_whole_runs(
    first: list[AccountResult], second: list[AccountResult], sent: list[NotificationResult]
) -> None:
    cutoff = past_rotation_cutoff(RotationPolicy(), NOW)
    whole = summarize_run(RunReport("audit", NOW, NOW, (*first, *second), tuple(sent)), cutoff)
    halves = summarize_run(RunReport("audit", NOW, NOW, tuple(first)), cutoff) + summarize_run(
        RunReport("audit", NOW, NOW, tuple(second), tuple(sent)), cutoff
    )
    assert whole == halves
    assert whole.accounts + whole.accounts_skipped == len(first) + len(second)
    assert whole.notifications_sent + whole.notifications_failed == len(sent)


@SMALL
@given(st.lists(account_results(), max_size=4))
def test_the_lambda_items_carry_each_accounts_summary_whole(accounts: list[AccountResult]) -> None:
    """rotate_account returns the item through JSON; the digest adds up what it parses."""
    run = [a for a in accounts if a.status is not RunStatus.SKIPPED]
    counted = [summarize_account(a, NOW) for a in run]
    items = [
        parse_event(AccountSummaryItem, json.loads(AccountSummaryItem.of(a, s).model_dump_json()))
        for a, s in zip(run, counted, strict=True)
    ]
    assert [i.summary() for i in items] == counted
    assert total(i.summary() for i in items) == summarize_run(
        RunReport("enforce", NOW, NOW, run), NOW
    )


def test_an_organizations_counts() -> None:
    enforce = org_report("enforce")
    summary = summarize_run(enforce, past_rotation_cutoff(RotationPolicy(), NOW))
    assert (summary.accounts, summary.accounts_failed, summary.accounts_skipped) == (3, 1, 1)
    assert (summary.users, summary.keys, summary.exempt_users) == (8, 10, 1)
    assert (summary.holds, summary.blocked, summary.failed_actions) == (1, 1, 1)
    assert summary.overdue_holds == 1
    assert summary.keys_past_rotation == 7  # prod 6 (alice 2, carol, dave, erin, gina), dev 1
    assert summary.actions.count(ActionKind.ROTATE, Outcome.DONE) == 2
    assert summary.change_outcomes() == {Outcome.DONE: 3, Outcome.FAILED: 1}
    assert exit_code(summary) == 1
    assert exit_code(summarize_run(org_report("audit"))) == 1  # the broken account
    assert summarize_run(org_report("audit")).keys_past_rotation == 0  # not counted: no cutoff


def test_keys_past_rotation_is_inclusive_at_the_cutoff() -> None:
    cutoff = past_rotation_cutoff(RotationPolicy(rotate_after_days=90), NOW)
    exactly, just_under = key(1, 90), key(2, 90 - 1 / 86400)
    account = AccountResult(
        Account("111111111111", "a", ""), (user("u", keys=[exactly, just_under]),)
    )
    assert summarize_account(account, cutoff).keys_past_rotation == 1
    assert summarize_account(account, cutoff - timedelta(microseconds=1)).keys_past_rotation == 0


def test_action_counts_are_canonical_however_they_were_added() -> None:
    rotate = ActionCounts.of({(ActionKind.ROTATE, Outcome.DONE): 1})
    warn = ActionCounts.of(
        {(ActionKind.WARN, Outcome.NOTICE): 2, (ActionKind.HOLD, Outcome.NOTICE): 0}
    )
    assert rotate + warn == warn + rotate
    assert (warn + rotate).entries == (
        (ActionKind.ROTATE, Outcome.DONE, 1),
        (ActionKind.WARN, Outcome.NOTICE, 2),
    )
    assert (rotate + warn).nested() == {"ROTATE": {"done": 1}, "WARN": {"notice": 2}}


def test_a_failure_wins_over_a_skip_wherever_the_account_is_shown() -> None:
    both = AccountResult(Account("111111111111", "a", ""), error="AccessDenied", skipped="excluded")
    assert both.status is RunStatus.FAILED
    assert both.reason == "AccessDenied"
    assert account_entry(both)["status"] == "failed"
    summary = summarize_account(both)
    assert (summary.accounts, summary.accounts_failed, summary.accounts_skipped) == (1, 1, 0)
    assert summarize_notifications([]) == RunSummary()

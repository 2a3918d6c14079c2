"""Honest outcomes: a change made whose later step failed is ``partial``, counted, shown and
exit 1; the same problem of many users is one line with a count and a few examples."""

from __future__ import annotations

from dataclasses import replace
from io import StringIO

from rich.console import Console

from keyrotate.console import actions_table, summary_table
from keyrotate.domain.models import Account, ActionKind
from keyrotate.domain.policy import RotationPolicy
from keyrotate.domain.problems import problem_lines
from keyrotate.domain.results import AccountResult, Outcome, UserResult
from keyrotate.domain.summary import summarize_run
from keyrotate.notify.content import digest
from keyrotate.service.lambda_events import AccountSummaryItem
from keyrotate.service.report import exit_code, summary_record
from keyrotate.service.report_io import account_document, account_result_from_document
from tests.unit.notify_support import NOW, report, result, user

ACCOUNT = Account("111111111111", "prod", "prod@example.com")
OTHER = Account("222222222222", "dev", "dev@example.com")


def _grant_failure(name: str) -> str:
    return (
        "the new key is stored, but granting the user read access failed: AccessDenied: "
        f"not authorized to perform iam:AttachUserPolicy on arn:aws:iam::111111111111:user/{name}"
    )


def _partial(name: str, n: int, account: Account = ACCOUNT) -> UserResult:
    rotated = result(
        ActionKind.ROTATE, Outcome.PARTIAL, name, n, account=account, error=_grant_failure(name)
    )
    return user(name, [rotated])


def test_a_partial_rotation_is_counted_and_exits_1_though_nothing_failed() -> None:
    run = report("enforce", [AccountResult(ACCOUNT, (_partial("alice", 1),))])
    summary = summarize_run(run)
    assert summary.failed_actions == 0
    assert summary.partial_actions == 1
    assert exit_code(summary) == 1
    assert summary_record(summary)["partial_actions"] == 1
    assert summary_record(summary)["outcomes"] == {"partial": 1}


def test_the_table_shows_a_partial_rotation_and_its_count() -> None:
    run = report("enforce", [AccountResult(ACCOUNT, (_partial("alice", 1),))])
    out = StringIO()
    console = Console(file=out, width=300)
    console.print(actions_table(run))
    console.print(summary_table("enforce", summarize_run(run)))
    text = out.getvalue()
    assert "partial" in text
    assert "granting the user read access failed" in text
    assert any(
        line.split()[-1] == "1" for line in text.splitlines() if "partial actions" in line
    ), text


def test_the_lambda_summary_item_carries_the_partial_count() -> None:
    account = AccountResult(ACCOUNT, (_partial("alice", 1),))
    summary = summarize_run(report("enforce", [account]))
    item = AccountSummaryItem.of(account, summary)
    assert item.partial_actions == 1
    assert item.summary().partial_actions == 1
    assert item.summary().failed


def test_the_same_failure_of_forty_users_is_one_line_with_a_count_and_examples() -> None:
    users = tuple(_partial(f"svc-{i:02d}", i) for i in range(40))
    failed = result(ActionKind.DELETE, Outcome.FAILED, "bob", 99, account=OTHER)
    run = report(
        "enforce",
        [AccountResult(ACCOUNT, users), AccountResult(OTHER, (user("bob", [failed]),))],
    )
    lines = problem_lines(run.accounts)
    assert len(lines) == 2
    first, second = lines
    assert first.startswith("ROTATE partial for 40 users (111111111111:svc-00, ")
    assert "... and 37 more" in first
    assert "user/<user>" in first
    assert second.startswith("DELETE failed for 1 user (222222222222:bob): AccessDenied")


def test_a_user_name_inside_another_word_is_left_alone() -> None:
    name = "ci"
    text = f"decision on arn:aws:iam::111111111111:user/{name} denied"
    rotated = result(ActionKind.ROTATE, Outcome.PARTIAL, name, 1, error=text)
    run = report("enforce", [AccountResult(ACCOUNT, (user(name, [rotated]),))])
    (line,) = problem_lines(run.accounts)
    assert line.endswith("decision on arn:aws:iam::111111111111:user/<user> denied")


def test_a_grant_owed_and_failed_again_is_partial_grouped_and_survives_the_lambda_split() -> None:
    owed = f"{_grant_failure('carol')}; owed since an earlier run: every run retries it"
    carol = replace(user("carol", []), owed=owed)
    account = AccountResult(ACCOUNT, (carol,))
    summary = summarize_run(report("enforce", [account]))
    assert (summary.partial_actions, summary.owed_grants, summary.failed_actions) == (1, 1, 0)
    assert exit_code(summary) == 1
    (line,) = problem_lines([account])
    assert line.startswith("ROTATE partial for 1 user (111111111111:carol): ")
    assert "<user>" in line  # the name is taken out, so many users' same denial is one line
    item = AccountSummaryItem.of(account, summary)
    assert item.summary().partial_actions == 1
    document = account_document(account, run_id="r", mode="enforce", started=NOW)
    assert account_result_from_document(document).users[0].owed == owed
    (attention,) = digest(report("enforce", [account]), RotationPolicy()).attention
    assert (attention.user_name, attention.item.kind, attention.item.outcome) == (
        "carol",
        "ROTATE",
        "partial",
    )
    assert attention.item.error == owed  # the admin digest says what is owed, and why

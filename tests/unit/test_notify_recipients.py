"""Who hears what: one mail per address per run, nothing for those with nothing to hear."""

from __future__ import annotations

import pytest

from keyrotate.domain.errors import InputError
from keyrotate.domain.models import ActionKind
from keyrotate.domain.policy import RotationPolicy
from keyrotate.domain.results import AccountResult, NotificationResult, Outcome
from keyrotate.notify import NoneTransport, Notifier, NotifyOptions, Templates
from keyrotate.notify.content import digest, owner_audiences
from tests.unit.notify_support import (
    DEV,
    HOSTILE,
    PROD,
    key,
    org_report,
    parts,
    report,
    result,
    user,
)


def users_by_recipient(mode: str = "enforce") -> dict[str, set[str]]:
    audiences, _ = owner_audiences(org_report(mode).accounts)
    return {
        a.recipient.lower(): {u.user_name for acc in a.accounts for u in acc.users}
        for a in audiences
    }


def test_each_owner_address_gets_exactly_one_audience_across_accounts() -> None:
    audiences, invalid = owner_audiences(org_report("enforce").accounts)
    addresses = [a.recipient.lower() for a in audiences]
    assert sorted(addresses) == sorted(
        {
            "prod-owner@example.com",
            "dev-owner@example.com",
            "team-a@example.com",
            "team-b@example.com",
        }
    )
    assert len(addresses) == len(set(addresses))
    assert invalid == ()


def test_account_owner_hears_every_user_with_news_but_not_exempt_or_idle_users() -> None:
    assert users_by_recipient()["prod-owner@example.com"] == {
        "alice",
        "bob",
        "carol",
        "dave",
        "gina",
    }
    assert users_by_recipient()["dev-owner@example.com"] == {"hank"}


def test_resource_owner_hears_only_their_users_in_every_account_case_insensitively() -> None:
    audiences, _ = owner_audiences(org_report("enforce").accounts)
    team_a = next(a for a in audiences if a.recipient.lower() == "team-a@example.com")
    assert team_a.role == "resource-owner"
    assert [(s.account_id, [u.user_name for u in s.users]) for s in team_a.accounts] == [
        (PROD.account_id, ["alice"]),
        (DEV.account_id, ["hank"]),
    ]
    assert team_a.account_id is None
    assert users_by_recipient()["team-b@example.com"] == {"carol"}


def test_owner_of_only_exempt_or_idle_users_gets_nothing() -> None:
    recipients = users_by_recipient()
    assert "exempt-owner@example.com" not in recipients
    assert "quiet-owner@example.com" not in recipients
    quiet = report(
        "enforce",
        [
            AccountResult(
                PROD,
                (
                    user("erin", [result(ActionKind.EXEMPT, Outcome.NOTICE, "erin", None)]),
                    user("frank", [], owner="x@example.com", keys=[key(1, 10)]),
                    user("ivan", [result(ActionKind.ROTATE, Outcome.NONE, "ivan", 2)]),
                ),
            )
        ],
    )
    assert owner_audiences(quiet.accounts) == ((), ())


def test_address_that_is_account_and_resource_owner_gets_one_mail_as_account_owner() -> None:
    account = AccountResult(
        PROD,
        (
            user(
                "alice",
                [result(ActionKind.WARN, Outcome.NOTICE, "alice", 1)],
                owner=PROD.email.upper(),
            ),
        ),
    )
    audiences, _ = owner_audiences([account])
    assert len(audiences) == 1
    assert audiences[0].role == "account-owner"
    assert [u.user_name for u in audiences[0].accounts[0].users] == ["alice"]


def test_owner_tag_that_is_not_an_address_is_reported_not_mailed() -> None:
    account = AccountResult(
        PROD,
        (
            user(
                "alice",
                [result(ActionKind.WARN, Outcome.NOTICE, "alice", 1)],
                owner="bob@example.com\nBcc: evil@example.com",
            ),
            user("bob", [result(ActionKind.WARN, Outcome.NOTICE, "bob", 2)], owner=HOSTILE),
        ),
    )
    audiences, invalid = owner_audiences([account])
    assert [a.recipient for a in audiences] == [PROD.email]
    assert {n.recipient for n in invalid} == {"bob@example.com\nBcc: evil@example.com", HOSTILE}
    assert all(not n.sent and n.role == "resource-owner" for n in invalid)
    assert all("owner tag" in (n.error or "") for n in invalid)


def test_digest_counts_actions_by_kind_and_outcome() -> None:
    counts = {
        (c.kind, c.outcome): c.count for c in digest(org_report("enforce"), RotationPolicy()).counts
    }
    assert counts == {
        ("ROTATE", "done"): 2,
        ("DEACTIVATE", "done"): 1,
        ("DELETE", "failed"): 1,
        ("WARN", "notice"): 1,
        ("HOLD", "notice"): 1,
        ("BLOCKED", "notice"): 1,
        ("EXEMPT", "notice"): 1,
    }


def test_digest_lists_holds_blocked_failures_failed_accounts_and_notifications() -> None:
    failed_mail = NotificationResult("team-b@example.com", "resource-owner", "1", False, "boom")
    sent_mail = NotificationResult("ok@example.com", "account-owner", "1", True)
    summary = digest(org_report("enforce"), RotationPolicy(), [failed_mail, sent_mail])
    assert [(a.user_name, a.item.kind, a.item.overdue) for a in summary.attention] == [
        ("carol", "HOLD", True),
        ("dave", "BLOCKED", False),
        ("gina", "DELETE", False),
    ]
    assert summary.overdue_holds == 1
    assert [s.account_name for s in summary.failed_accounts] == ["broken"]
    assert summary.failed_accounts[0].reason == "AccessDenied: cannot assume role KeyRotationRole"
    assert [s.account_name for s in summary.skipped_accounts] == ["old"]
    assert summary.failed_notifications == (failed_mail,)


def test_keys_past_rotation_counted_per_account_at_run_start_boundary_inclusive() -> None:
    policy = RotationPolicy()
    exactly = key(1, 90)
    just_under = key(2, 90 - 1 / 86400)
    account = AccountResult(PROD, (user("alice", [], keys=[exactly, just_under]),))
    summary = digest(report("audit", [account]), policy)
    assert summary.accounts[0].keys_past_rotation == 1
    assert summary.keys_past_rotation == 1
    org = digest(org_report("audit"), policy)
    assert {s.account_name: s.keys_past_rotation for s in org.accounts} == {
        "prod": 6,
        "dev": 1,
        "broken": 0,
        "old": 0,
    }


def test_digest_is_sent_even_for_a_quiet_run_and_skipped_without_admin_address() -> None:
    quiet = report("audit", [AccountResult(PROD)])
    with_admin = Notifier(
        NotifyOptions(admin_email_address="admin@example.com"), Templates(), NoneTransport()
    )
    message = with_admin.digest_message(quiet, RotationPolicy())
    assert message is not None
    text, _ = parts(message.email)
    assert "No action was planned or taken." in text
    without = Notifier(NotifyOptions(), Templates(), NoneTransport())
    assert without.digest_message(quiet, RotationPolicy()) is None


# AllowedEmailDomains (keyrotate.domain.mail_domains): the code's half of the SES fence ----------
def test_an_owner_outside_the_allowed_domains_is_reported_with_the_reason_not_mailed() -> None:
    account = AccountResult(
        PROD,
        (
            user(
                "alice", [result(ActionKind.WARN, Outcome.NOTICE, "alice", 1)], owner="a@evil.test"
            ),
            user("bob", [result(ActionKind.WARN, Outcome.NOTICE, "bob", 2)], owner="b@Example.COM"),
        ),
    )
    audiences, invalid = owner_audiences([account], ("example.com",))
    assert {a.recipient for a in audiences} == {PROD.email, "b@example.com"}  # domain lowered
    (refused,) = invalid
    assert (refused.recipient, refused.role, refused.sent) == (
        "a@evil.test",
        "resource-owner",
        False,
    )
    assert "outside AllowedEmailDomains (example.com): not mailed" in (refused.error or "")


def test_an_account_email_outside_the_allowed_domains_is_not_mailed_either() -> None:
    account = AccountResult(
        PROD, (user("alice", [result(ActionKind.WARN, Outcome.NOTICE, "alice", 1)]),)
    )
    audiences, invalid = owner_audiences([account], ("example.org",))
    assert audiences == ()
    assert [(n.recipient, n.role) for n in invalid] == [(PROD.email, "account-owner")]


def test_the_refused_owner_reaches_the_digest_through_the_notifier() -> None:
    options = NotifyOptions(
        admin_email_address="sec@example.com", allowed_email_domains=("example.com",)
    )
    notifier = Notifier(options, Templates.load(options), NoneTransport())
    account = AccountResult(
        PROD,
        (
            user(
                "alice", [result(ActionKind.WARN, Outcome.NOTICE, "alice", 1)], owner="a@evil.test"
            ),
        ),
    )
    run = report("audit", [account])
    _, invalid = notifier.owner_messages([account], mode="audit", started=run.started)
    assert [n.recipient for n in invalid] == ["a@evil.test"]
    shown = digest(run, RotationPolicy(), invalid)
    assert [n.recipient for n in shown.failed_notifications] == ["a@evil.test"]


def test_an_admin_address_outside_the_allowed_domains_is_refused_at_start() -> None:
    from keyrotate.config import Settings

    with pytest.raises(InputError, match="admin_email_address"):
        Settings(admin_email_address="sec@Example.com", allowed_email_domains=("example.com",))


def test_the_allowed_domains_setting_reaches_the_notifier() -> None:
    from keyrotate.config import Settings
    from keyrotate.service.context import notify_options_from

    settings = Settings(allowed_email_domains="Example.com", admin_email_address="sec@example.com")
    assert notify_options_from(settings).allowed_email_domains == ("example.com",)

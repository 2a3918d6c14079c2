"""Every branch of the enforce path (keyrotate.service.execute), on in-memory ports.

The engine plans a user; :func:`enforce` carries the plan out through fakes of the IAM and
secret-store adapters (tests/unit/fakes.py), some armed to fail. What is pinned here is the
order of the steps and what each failure leaves behind; the same paths against a real moto
server, with crashes and faults on the wire, are in tests/faults.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from keyrotate.aws.iam import IamUser
from keyrotate.aws.secrets import SecretInfo
from keyrotate.domain import state_tags as tags
from keyrotate.domain.engine import plan
from keyrotate.domain.errors import KeySlotsFull
from keyrotate.domain.models import AccessKey, ActionKind, KeyStatus, UserKeys
from keyrotate.domain.results import ActionResult, Outcome
from keyrotate.service.account_context import AccountContext
from keyrotate.service.execute import enforce
from keyrotate.service.scan import ScannedUser
from tests.run_options import run_options
from tests.unit.fakes import FakeIam, FakeSecrets, denied
from tests.unit.fakes import FakeVerifier as Verifier

NOW = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
DAY = timedelta(days=1)
ACCOUNT = "111122223333"
USER = "svc-app"
SECRET = f"keyrotate/{ACCOUNT}/{USER}"
READ_POLICY = f"arn:aws:iam::{ACCOUNT}:policy/keyrotate-read-own-secret"
CHECKED_AT = NOW + timedelta(seconds=9)


def key(key_id: str, age_days: float, *, active: bool = True, used: float | None = 1) -> AccessKey:
    status = KeyStatus.ACTIVE if active else KeyStatus.INACTIVE
    last_used = None if used is None else NOW - used * DAY
    return AccessKey(key_id, status, NOW - age_days * DAY, last_used)


class World:
    """One user in fake IAM and a fake secret store, and the account to enforce its plan in."""

    def __init__(
        self,
        *keys: AccessKey,
        user_tags: dict[str, str] | None = None,
        secret_tags: dict[str, str] | None = None,
        verify: bool = True,
        verifier: Verifier | None = None,
    ) -> None:
        self.iam = FakeIam(NOW)
        self.iam.add_user(USER, *keys, tags=user_tags or {})
        self.secrets = FakeSecrets(ACCOUNT)
        self.secret_info: SecretInfo | None = None
        if secret_tags is not None:
            self.secrets.tag(SECRET, secret_tags)
            self.secrets.calls.log.clear()
            self.secret_info = SecretInfo(SECRET, f"arn:secret:{SECRET}", secret_tags)
        self.verifier = verifier or Verifier()
        self.clock = iter([NOW, CHECKED_AT, CHECKED_AT, CHECKED_AT])
        self.account = AccountContext(
            account_id=ACCOUNT,
            partition="aws",
            iam=self.iam,
            secrets=self.secrets,
            options=run_options(dry_run=False, verify_new_keys=verify),
            clock=lambda: next(self.clock),
            verifier=self.verifier,
        )

    def scanned(self) -> ScannedUser:
        user_tags = self.iam.tags[USER]
        secret_tags = self.secret_info.tags if self.secret_info else None
        keys = UserKeys(USER, tuple(self.iam.keys[USER]), tags.key_state(user_tags, secret_tags))
        arn = f"arn:aws:iam::{ACCOUNT}:user/{USER}"
        return ScannedUser(IamUser(USER, arn), keys, dict(user_tags), SECRET, self.secret_info)

    def enforce(self) -> tuple[ActionResult, ...]:
        user = self.scanned()
        done = enforce(plan(user.inputs, self.account.options.policy, now=NOW), user, self.account)
        return done.results

    def calls(self) -> list[str]:
        return self.iam.calls.names() + self.secrets.calls.names()


def outcomes(results: tuple[ActionResult, ...]) -> list[tuple[ActionKind, Outcome]]:
    return [(r.action.kind, r.outcome) for r in results]


# -- a rotation ---------------------------------------------------------------------------------


def test_a_rotation_marks_creates_stores_verifies_records_its_own_use_grants_and_clears() -> None:
    world = World(key("AKIAOLD", 95))
    (result,) = world.enforce()
    assert (result.outcome, result.verified, result.error) == (Outcome.DONE, True, None)
    new = result.new_key_id
    assert new is not None
    assert world.verifier.checked == [new]
    assert world.iam.calls.names() == [
        "TagUser",  # the intent marker, before the key exists
        "CreateAccessKey",
        "AttachUserPolicy",
        "UntagUser",  # the marker, once the rotation is complete
    ]
    assert world.secrets.calls.names() == ["StoreSecret", "TagResource"]
    stored = world.secrets.secrets[SECRET]
    assert stored.value_key_id == new
    assert stored.tags[tags.HELD_KEY_TAG] == new
    assert stored.tags[tags.SELF_USED_TAG] == tags.stamp(CHECKED_AT)
    assert tags.USER_INTENT not in world.iam.tags[USER]
    assert world.iam.policies[USER] == {READ_POLICY}


def test_without_verification_no_own_use_is_recorded_and_the_key_is_reported_unchecked() -> None:
    world = World(key("AKIAOLD", 95), verify=False)
    (result,) = world.enforce()
    assert (result.outcome, result.verified) == (Outcome.DONE, None)
    assert world.verifier.checked == []
    assert world.secrets.secrets[SECRET].tags[tags.SELF_USED_TAG] == ""
    assert "TagResource" not in world.secrets.calls.names()


def test_a_key_sts_refuses_stays_stored_and_is_reported_unverified_with_the_reason() -> None:
    world = World(key("AKIAOLD", 95), verifier=Verifier("InvalidClientTokenId"))
    (result,) = world.enforce()
    assert (result.outcome, result.verified) == (Outcome.DONE, False)
    assert result.error == "verification failed: InvalidClientTokenId"
    assert world.secrets.secrets[SECRET].value_key_id == result.new_key_id
    # the check was still a use of the key by keyrotate, and IAM records it as such
    assert world.secrets.secrets[SECRET].tags[tags.SELF_USED_TAG] == tags.stamp(CHECKED_AT)


def test_recording_the_own_use_failing_leaves_the_rotation_done() -> None:
    """The engine then counts from rotated-at, which the check followed within seconds."""
    world = World(key("AKIAOLD", 95))
    world.secrets.fail("TagResource", denied("secretsmanager:TagResource"))
    (result,) = world.enforce()
    assert (result.outcome, result.verified, result.error) == (Outcome.DONE, True, None)
    assert world.secrets.secrets[SECRET].tags[tags.SELF_USED_TAG] == ""


def test_a_store_that_fails_deletes_the_new_key_again_and_clears_the_marker() -> None:
    world = World(key("AKIAOLD", 95))
    world.secrets.fail("StoreSecret", denied("secretsmanager:PutSecretValue"))
    (result,) = world.enforce()
    assert result.outcome is Outcome.FAILED
    assert result.error is not None
    assert "the new key was deleted again" in result.error
    assert world.iam.status(USER) == {"AKIAOLD": KeyStatus.ACTIVE}
    assert world.iam.calls.names() == ["TagUser", "CreateAccessKey", "DeleteAccessKey", "UntagUser"]
    assert tags.USER_INTENT not in world.iam.tags[USER]
    assert world.verifier.checked == []


def test_a_store_and_its_undo_both_failing_leave_the_marker_for_the_next_run() -> None:
    world = World(key("AKIAOLD", 95))
    world.secrets.fail("StoreSecret", denied("secretsmanager:PutSecretValue"))
    world.iam.fail("DeleteAccessKey", denied("iam:DeleteAccessKey"))
    (result,) = world.enforce()
    assert result.outcome is Outcome.FAILED
    assert result.error is not None
    assert "the next run removes it" in result.error
    assert len(world.iam.keys[USER]) == 2  # the orphan, held by no secret
    assert tags.USER_INTENT in world.iam.tags[USER]


def test_a_third_key_refused_is_reported_as_another_run_rotating() -> None:
    world = World(key("AKIAOLD", 95))
    world.iam.fail("CreateAccessKey", KeySlotsFull("iam:CreateAccessKey", "LimitExceeded", "2"))
    (result,) = world.enforce()
    assert result.outcome is Outcome.FAILED
    assert result.error is not None
    assert result.error.startswith("another run is rotating")
    assert "StoreSecret" not in world.calls()


def test_a_failed_read_grant_keeps_the_rotation_and_is_owed_through_a_user_tag() -> None:
    world = World(key("AKIAOLD", 95))
    world.iam.fail("AttachUserPolicy", denied("iam:AttachUserPolicy"))
    (result,) = world.enforce()
    assert result.outcome is Outcome.PARTIAL  # the key stands; the grant is owed (exit 1)
    assert result.new_key_id is not None
    assert result.error is not None
    assert "granting the user read access failed" in result.error
    assert world.iam.tags[USER][tags.USER_GRANT_PENDING] == "true"
    assert tags.USER_INTENT not in world.iam.tags[USER]


def test_a_grant_still_owed_is_retried_by_a_run_with_nothing_else_to_do() -> None:
    held = {tags.HELD_KEY_TAG: "AKIANEW", tags.ROTATED_AT_TAG: tags.stamp(NOW - 2 * DAY)}
    world = World(
        key("AKIAOLD", 92),
        key("AKIANEW", 2),
        user_tags={tags.USER_GRANT_PENDING: "true"},
        secret_tags=held,
    )
    assert world.enforce() == ()
    assert world.iam.policies[USER] == {READ_POLICY}
    assert tags.USER_GRANT_PENDING not in world.iam.tags[USER]


# -- retiring keys ------------------------------------------------------------------------------


def test_a_deactivation_is_recorded_on_the_user_first_then_on_the_secret() -> None:
    held = {tags.HELD_KEY_TAG: "AKIANEW", tags.ROTATED_AT_TAG: tags.stamp(NOW - 11 * DAY)}
    world = World(key("AKIAOLD", 101, used=12), key("AKIANEW", 11), secret_tags=held)
    (result,) = world.enforce()
    assert (result.action.kind, result.outcome) == (ActionKind.DEACTIVATE, Outcome.DONE)
    assert world.iam.calls.names() == ["TagUser", "UpdateAccessKey"]
    assert world.iam.tags[USER][tags.USER_DEACTIVATED + "AKIAOLD"] == tags.stamp(NOW)
    assert world.iam.status(USER)["AKIAOLD"] is KeyStatus.INACTIVE
    secret_tags = world.secrets.secrets[SECRET].tags
    assert secret_tags[tags.PREDECESSOR_TAG] == "AKIAOLD"
    assert secret_tags[tags.PREDECESSOR_DEACTIVATED_TAG] == tags.stamp(NOW)


def test_a_failed_step_skips_the_rest_of_the_users_steps_and_keeps_its_marker_state() -> None:
    """DELETE A then ROTATE B: A's deletion denied, so B is not rotated (no free slot)."""
    world = World(key("AKIAOLD", 130, active=False), key("AKIACUR", 95))
    world.iam.fail("DeleteAccessKey", denied("iam:DeleteAccessKey"))
    results = world.enforce()
    assert outcomes(results) == [
        (ActionKind.DELETE, Outcome.FAILED),
        (ActionKind.ROTATE, Outcome.SKIPPED),
    ]
    assert results[1].error == "an earlier step failed"
    assert "CreateAccessKey" not in world.calls()


def test_deleting_the_key_a_secret_holds_marks_the_secret_stale() -> None:
    held = {tags.HELD_KEY_TAG: "AKIAONLY", tags.ROTATED_AT_TAG: tags.stamp(NOW - 130 * DAY)}
    world = World(
        key("AKIAONLY", 130, active=False),
        user_tags={tags.USER_DEACTIVATED + "AKIAONLY": tags.stamp(NOW - 20 * DAY)},
        secret_tags=held,
    )
    (result,) = world.enforce()
    assert (result.action.kind, result.outcome) == (ActionKind.DELETE, Outcome.DONE)
    assert world.secrets.secrets[SECRET].tags[tags.STALE_TAG] == "true"
    assert tags.USER_DEACTIVATED + "AKIAONLY" not in world.iam.tags[USER]


@pytest.mark.parametrize("minutes_ago", [1, 14])
def test_a_fresh_marker_of_another_run_leaves_the_user_and_the_marker_alone(
    minutes_ago: int,
) -> None:
    marker = {tags.USER_INTENT: tags.stamp(NOW - timedelta(minutes=minutes_ago))}
    world = World(key("AKIAOLD", 95), user_tags=marker)
    results = world.enforce()
    assert outcomes(results) == [(ActionKind.BLOCKED, Outcome.NOTICE)]
    assert world.calls() == []
    assert tags.USER_INTENT in world.iam.tags[USER]

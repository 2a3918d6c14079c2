"""SIGKILL the CLI at 22 points of an enforce run; the next run converges, no orphan remains.

Each crash point holds one call in the lab's :class:`~tests.faults.lab.Gate` (the Nth call of
an operation, before moto performs it or after, so the reply never reaches the CLI), waits
until the CLI is *exactly* there, kills it with SIGKILL and lets the call go. The run is
made with one worker and one user of an account at a time (UserWorkers 1), so each account's
calls come in a fixed order (which account comes first depends on the random member id, so
calls are counted per account). A last test kills a run whose users go several at once,
while three new keys wait for STS together. The management
account rotates ``legacy``; the member's users come in seeding order: rot-new (new secret),
rot-held (existing secret, replica added), unused (deactivate), lone-old (delete), del-rot
(delete, then rotate), prev-deact (deactivate, predecessor tags on the secret).

A rotation interrupted less than 15 minutes ago may still be running elsewhere, so the run
after the crash is made as if 16 minutes later (the intent marker's window has closed).
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass
from datetime import timedelta

import pytest

from keyrotate.domain.engine import ORPHAN_WINDOW
from keyrotate.domain.models import Reason
from keyrotate.service.options import utc_now
from keyrotate_emulator import Hold
from tests.faults.conftest import Leaks, Reference
from tests.faults.lab import (
    FaultLab,
    Org,
    State,
    created_keys,
    enforce_run,
    failed,
    iter_texts,
    normalized,
    outcomes,
    read_state,
    seed_org,
    start_cli,
    unheld_new_keys,
    violations,
)

pytestmark = pytest.mark.slow  # the CLI killed at 22 points, a run and a recovery each

ARRIVAL_TIMEOUT = 60.0  # seconds for the CLI to reach the held call on a busy machine
LATER = ORPHAN_WINDOW + timedelta(minutes=1)


@dataclass(frozen=True)
class CrashPoint:
    """Kill the CLI at the ``nth`` call of ``operation`` (``after``: once moto performed it)."""

    service: str
    operation: str
    nth: int
    after: bool
    what: str  # where the run is, in words (the test id)
    account: str = "work-0"  # whose calls are counted (the org's account name)
    verify: bool = False  # VerifyNewKeys for the killed run

    @property
    def id(self) -> str:
        return self.what


# Call numbers count the calls of one account (``account``), in the user order above. In the
# member: TagUser 1 = rot-new's marker, 3 = unused's deactivation record; CreateAccessKey,
# CreateSecret, TagResource, PutSecretValue 1 = rot-new's; PutResourcePolicy/PutSecretValue 2 =
# rot-held's; TagResource 4 = prev-deact's predecessor tags; UntagUser 2 = rot-held's marker;
# UpdateAccessKey 1 = unused; DeleteAccessKey 1 = lone-old, 2 = del-rot's old key;
# GetCallerIdentity 1 = rot-new's new key being verified.
CRASH_POINTS: tuple[CrashPoint, ...] = (
    CrashPoint("iam", "TagUser", 1, False, "before-marker"),
    CrashPoint("iam", "TagUser", 1, True, "marker-written-no-key"),
    CrashPoint("iam", "CreateAccessKey", 1, True, "mgmt-key-created-not-stored", "management"),
    CrashPoint("iam", "CreateAccessKey", 1, False, "before-create-key"),
    CrashPoint("iam", "CreateAccessKey", 1, True, "key-created-reply-lost"),
    CrashPoint("secretsmanager", "CreateSecret", 1, False, "before-create-secret"),
    CrashPoint("secretsmanager", "CreateSecret", 1, True, "empty-secret-created"),
    CrashPoint("secretsmanager", "ReplicateSecretToRegions", 1, True, "replica-added"),
    CrashPoint("secretsmanager", "PutResourcePolicy", 2, False, "before-resource-policy"),
    CrashPoint("secretsmanager", "TagResource", 1, False, "before-key-tags"),
    CrashPoint("secretsmanager", "TagResource", 1, True, "key-tags-written-no-value"),
    CrashPoint("secretsmanager", "PutSecretValue", 2, False, "before-value-existing-secret"),
    CrashPoint("secretsmanager", "PutSecretValue", 1, True, "value-written"),
    CrashPoint("sts", "GetCallerIdentity", 1, False, "verifying-new-key", verify=True),
    CrashPoint("iam", "AttachUserPolicy", 1, False, "before-read-grant"),
    CrashPoint("iam", "AttachUserPolicy", 1, True, "read-granted-marker-kept"),
    CrashPoint("iam", "UntagUser", 2, False, "before-marker-cleared"),
    CrashPoint("iam", "UpdateAccessKey", 1, False, "deactivation-recorded-key-active"),
    CrashPoint("iam", "UpdateAccessKey", 1, True, "key-deactivated"),
    CrashPoint("iam", "DeleteAccessKey", 1, False, "before-delete"),
    CrashPoint("iam", "DeleteAccessKey", 2, True, "deleted-before-rotation"),
    CrashPoint("secretsmanager", "TagResource", 4, False, "before-predecessor-tags"),
)


def kill_cli_at(lab: FaultLab, org: Org, point: CrashPoint, leaks: Leaks) -> None:
    """Start ``keyrotate run --enforce``, SIGKILL it while ``point``'s call is held."""
    held = lab.gate.hold(
        point.service,
        point.operation,
        point.nth,
        after=point.after,
        account_id=org.accounts[point.account],
    )
    _kill_when_held(
        lab,
        [held],
        leaks,
        point.id,
        MaxWorkers="1",
        UserWorkers="1",
        VerifyNewKeys=str(point.verify).lower(),
    )


def _kill_when_held(
    lab: FaultLab, holds: list[Hold], leaks: Leaks, what: str, **settings: str
) -> None:
    """Start ``keyrotate run --enforce`` with ``settings``; SIGKILL it once every one of
    ``holds`` holds a call."""
    process = start_cli(lab, **settings)
    try:
        deadline = time.monotonic() + ARRIVAL_TIMEOUT
        while not all(held.arrived.wait(0.05) for held in holds):
            if process.poll() is not None or time.monotonic() > deadline:
                break
        arrived = [held.arrived.is_set() for held in holds]
        process.send_signal(signal.SIGKILL)
        out, err = process.communicate(timeout=30)
    finally:
        lab.gate.clear()  # let the held calls go: their replies reach a dead process
    leaks.add(f"{what} stdout", out)
    leaks.add(f"{what} stderr", err)
    why = f"the CLI never reached {what} {arrived} (exit {process.returncode}): {err[-2000:]}"
    assert all(arrived), why
    assert process.returncode == -signal.SIGKILL


@pytest.mark.parametrize("point", CRASH_POINTS, ids=lambda p: p.id)
def test_killed_enforce_run_is_finished_by_the_next_run_without_orphans(
    lab: FaultLab, reference: Reference, leaks: Leaks, point: CrashPoint
) -> None:
    org = seed_org(lab)
    seeded = read_state(lab, org)

    kill_cli_at(lab, org, point, leaks)

    crashed = read_state(lab, org)
    leaks.add_state(crashed)
    # A key made and not yet stored may remain: its intent marker lets the next run find it.
    broken = violations(seeded, crashed, created_keys(seeded, crashed), orphans_allowed=True)
    assert not broken, broken

    converged = _recover(lab, org, leaks)

    assert not violations(seeded, converged, created_keys(seeded, converged))
    assert not violations(crashed, converged, created_keys(crashed, converged))
    assert not unheld_new_keys(seeded, converged)
    assert normalized(converged) == reference.state_of(converged)


def _recover(lab: FaultLab, org: Org, leaks: Leaks) -> State:
    """The run after the crash, 16 minutes later: it must finish what the crash left."""
    report = enforce_run(clock=lambda: utc_now() + LATER)
    for text in iter_texts(report):
        leaks.add("recovery report", text)
    assert failed(report) == 0, outcomes(report, org)
    converged = read_state(lab, org)
    leaks.add_state(converged)
    return converged


def test_run_within_the_marker_window_leaves_the_interrupted_user_alone(
    lab: FaultLab, reference: Reference, leaks: Leaks
) -> None:
    """Less than 15 minutes after the crash the orphan may be another run's key in the making:
    it is neither deleted nor stored over; the run 16 minutes later removes it.
    """
    org = seed_org(lab)
    seeded = read_state(lab, org)
    kill_cli_at(lab, org, CRASH_POINTS[4], leaks)  # rot-new's key created, reply lost
    crashed = read_state(lab, org)
    assert unheld_new_keys(seeded, crashed)

    report = enforce_run()

    for text in iter_texts(report):
        leaks.add("in-window report", text)
    soon = read_state(lab, org)
    leaks.add_state(soon)
    interrupted = ("work-0", "rot-new")
    assert soon[interrupted] == crashed[interrupted]
    plans = {
        (org.name_of(a.account.account_id), u.user_name): u.plan
        for a in report.accounts
        for u in a.users
    }
    assert [a.reason for a in plans[interrupted].actions] == [Reason.ROTATION_IN_PROGRESS]
    converged = _recover(lab, org, leaks)
    assert not unheld_new_keys(seeded, converged)
    assert normalized(converged) == reference.state_of(converged)


def test_killed_while_new_keys_wait_for_sts_together_the_next_run_finishes_every_one(
    lab: FaultLab, reference: Reference, leaks: Leaks
) -> None:
    """Users of an account at once (UserWorkers 8): the CLI is killed while the checks of
    three new keys (rot-new's, rot-held's, del-rot's) are held together. Each user is left as
    a run killed in that user's sequence would leave it, and the next run finishes them all.
    """
    org = seed_org(lab)
    seeded = read_state(lab, org)
    member = org.accounts["work-0"]
    holds = [lab.gate.hold("sts", "GetCallerIdentity", n, account_id=member) for n in (1, 2, 3)]
    _kill_when_held(
        lab, holds, leaks, "three-keys-verifying", MaxWorkers="1", UserWorkers="8",
        VerifyNewKeys="true",
    )  # fmt: skip

    crashed = read_state(lab, org)
    leaks.add_state(crashed)
    broken = violations(seeded, crashed, created_keys(seeded, crashed), orphans_allowed=True)
    assert not broken, broken
    assert not unheld_new_keys(seeded, crashed)  # each key was stored before its check began
    converged = _recover(lab, org, leaks)
    assert not violations(seeded, converged, created_keys(seeded, converged))
    assert not violations(crashed, converged, created_keys(crashed, converged))
    assert not unheld_new_keys(seeded, converged)
    assert normalized(converged) == reference.state_of(converged)

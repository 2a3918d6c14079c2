"""Two enforce runs (two CLI processes) on one organization at once: nobody rotates twice.

The gate makes the overlap real rather than likely: both runs are held at their first write
(the management user's intent marker) until both have planned from the same state, then at
their first CreateAccessKey until both are about to create a key for the same user, and only
then let go together. One of the two creations must meet IAM's two-key limit
(LimitExceeded), which the tool reads as "another run is rotating this user". The held runs
take an account's users one at a time (UserWorkers 1), so the Nth call of an operation is the
same user's in both; the last test lets them go several at once.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from datetime import timedelta

import pytest

from keyrotate.domain.engine import ORPHAN_WINDOW
from keyrotate.service.options import utc_now
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

pytestmark = pytest.mark.slow  # several CLI processes racing for the same keys

ANOTHER_RUN = "another run is rotating"
TIMEOUT = 60.0


def _wait_all(events: list[object], processes: list[subprocess.Popen[str]]) -> None:
    """Until every held call has arrived; fail early if a process ended instead."""
    deadline = time.monotonic() + TIMEOUT
    while not all(e.arrived.is_set() for e in events):  # type: ignore[attr-defined]
        dead = [p.returncode for p in processes if p.poll() is not None]
        assert not dead, f"a run ended before reaching the held call: exit {dead}"
        assert time.monotonic() < deadline, "the runs never reached the held calls"
        time.sleep(0.02)


def _finish(processes: list[subprocess.Popen[str]], leaks: Leaks) -> list[dict[str, object]]:
    documents = []
    for i, process in enumerate(processes):
        out, err = process.communicate(timeout=TIMEOUT)
        leaks.add(f"run {i} stdout", out)
        leaks.add(f"run {i} stderr", err)
        assert process.returncode in (0, 1), err[-2000:]
        documents.append(json.loads(out))
    return documents


def _new_keys_per_user(seeded: State, state: State) -> Counter[tuple[str, str]]:
    return Counter(
        {
            where: sum(1 for k in user.keys if k.key_id in created_keys(seeded, state))
            for where, user in state.items()
        }
    )


def _check_no_double_rotation(
    seeded: State, after: State, documents: list[dict[str, object]]
) -> None:
    broken = violations(seeded, after, created_keys(seeded, after))
    assert not broken, broken
    assert not unheld_new_keys(seeded, after)
    assert max(_new_keys_per_user(seeded, after).values()) <= 1
    # Each user's rotation is reported done by one run at most.
    done = Counter(
        (key["account_id"], key["user_name"])
        for document in documents
        for key in document["keys"]  # type: ignore[attr-defined]
        if key["new_access_key_id"]
    )
    assert done
    assert max(done.values()) == 1, done


def _converges(lab: FaultLab, org: Org, reference: Reference, leaks: Leaks, before: State) -> None:
    later = enforce_run(clock=lambda: utc_now() + ORPHAN_WINDOW + timedelta(minutes=1))
    for text in iter_texts(later):
        leaks.add("later report", text)
    end = read_state(lab, org)
    leaks.add_state(end)
    assert failed(later) == 0, outcomes(later, org)
    assert not violations(before, end, created_keys(before, end))
    assert normalized(end) == reference.state_of(end)


def test_two_runs_creating_the_same_users_key_at_once_rotate_it_once(
    lab: FaultLab, reference: Reference, leaks: Leaks
) -> None:
    org = seed_org(lab)
    seeded = read_state(lab, org)
    planned = [lab.gate.hold("iam", "TagUser", n) for n in (1, 2)]
    runs = [start_cli(lab, MaxWorkers="1", UserWorkers="1") for _ in range(2)]
    _wait_all(planned, runs)  # both planned the management user's rotation, nothing written
    creating = [lab.gate.hold("iam", "CreateAccessKey", n) for n in (1, 2)]
    for held in planned:
        held.release.set()
    _wait_all(creating, runs)  # both wrote the marker; both are about to create the key
    lab.gate.clear()
    documents = _finish(runs, leaks)

    after = read_state(lab, org)
    leaks.add_state(after)
    _check_no_double_rotation(seeded, after, documents)
    # The user both were held at was created by one run; the other met LimitExceeded and said
    # so. Whoever lost a race lost it to a rotation that happened.
    records = [key for document in documents for key in document["keys"]]  # type: ignore[attr-defined]
    rotated = {(k["account_id"], k["user_name"]) for k in records if k["new_access_key_id"]}
    lost = {
        (k["account_id"], k["user_name"]) for k in records if ANOTHER_RUN in str(k["error"] or "")
    }
    assert lost, json.dumps(documents)[:4000]
    assert lost <= rotated
    _converges(lab, org, reference, leaks, after)


def test_run_started_during_another_leaves_its_users_in_progress_alone(
    lab: FaultLab, reference: Reference, leaks: Leaks
) -> None:
    """The second run starts while the first holds a new key it has not stored yet."""
    org = seed_org(lab)
    seeded = read_state(lab, org)
    member = org.accounts["work-0"]
    storing = lab.gate.hold("iam", "CreateAccessKey", after=True, account_id=member)  # rot-new
    first = start_cli(lab, MaxWorkers="1", UserWorkers="1")
    _wait_all([storing], [first])
    second = start_cli(lab, MaxWorkers="1", UserWorkers="1")
    out, err = second.communicate(timeout=TIMEOUT)
    leaks.add("second stdout", out)
    leaks.add("second stderr", err)
    storing.release.set()
    documents = [*_finish([first], leaks), json.loads(out)]

    after = read_state(lab, org)
    leaks.add_state(after)
    _check_no_double_rotation(seeded, after, documents)
    in_progress = {
        key["user_name"]
        for key in documents[1]["keys"]  # type: ignore[index]
        if key["action"] == "BLOCKED" and "15 minutes" in str(key.get("reason"))
    }
    assert "rot-new" in in_progress, [
        k for k in documents[1]["keys"] if k["user_name"] == "rot-new"
    ]
    _converges(lab, org, reference, leaks, after)


def test_two_runs_started_at_once_without_any_gate_keep_every_key(
    lab: FaultLab, reference: Reference, leaks: Leaks
) -> None:
    org = seed_org(lab)
    seeded = read_state(lab, org)
    runs = [start_cli(lab) for _ in range(2)]
    documents = _finish(runs, leaks)

    after = read_state(lab, org)
    leaks.add_state(after)
    _check_no_double_rotation(seeded, after, documents)
    _converges(lab, org, reference, leaks, after)

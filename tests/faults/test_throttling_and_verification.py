"""30% of IAM calls throttled: the run ends as an undisturbed one; new keys are verified."""

from __future__ import annotations

import pytest

from keyrotate.domain.models import ActionKind
from keyrotate.service.report import to_document
from keyrotate_emulator.faults import Fault
from tests.faults.conftest import Leaks, Reference
from tests.faults.lab import (
    FaultLab,
    enforce_run,
    failed,
    iter_texts,
    normalized,
    outcomes,
    read_state,
    seed_org,
)

pytestmark = pytest.mark.slow  # runs with 30% of IAM calls throttled and retried


def test_thirty_percent_of_iam_calls_throttled_gives_the_same_outcome(
    lab: FaultLab, reference: Reference, leaks: Leaks
) -> None:
    org = seed_org(lab)
    lab.inject(Fault("iam", "*", kind="throttle", rate=0.3, seed=7))

    report = enforce_run(attempts=10)  # the product's default number of attempts

    throttled = len(lab.fired())
    lab.clear_faults()
    end = read_state(lab, org)
    leaks.add_state(end)
    for text in iter_texts(report):
        leaks.add("throttled report", text)
    assert throttled >= 10
    assert failed(report) == 0
    assert outcomes(report, org) == {w: reference.outcomes[w[1]] for w in outcomes(report, org)}
    assert normalized(end) == reference.state_of(end)


def test_every_new_key_is_verified_and_reported_verified(lab: FaultLab, leaks: Leaks) -> None:
    org = seed_org(lab)

    report = enforce_run(VerifyNewKeys="true")

    leaks.add_state(read_state(lab, org))
    for text in iter_texts(report):
        leaks.add("verified report", text)
    rotations = [
        r
        for a in report.accounts
        for u in a.users
        for r in u.results
        if r.action.kind is ActionKind.ROTATE
    ]
    assert len(rotations) == 4
    assert all(r.verified is True for r in rotations), [r.error for r in rotations]
    records = [k for k in to_document(report)["keys"] if k["new_access_key_id"]]
    assert records
    assert all(k["new_key_verified"] is True for k in records)

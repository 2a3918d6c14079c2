"""Fail each call a rotation makes, in each way AWS fails, and check nothing is lost.

One organization per fault kind, one member account per operation: a fault is limited to
its account (``Fault.account_id``; AssumeRole by the account id in its body), so one run
tries every operation at once and the accounts' results do not depend on each other. The
notification send (SES SendRawEmail) is faulted for the whole run.

"Exhausted" faults fail every botocore attempt (``ATTEMPTS``), so the failure reaches the
tool's code; "absorbed" ones fail once and must change nothing at all.

The issue names PutUserPolicy; keyrotate grants read access with AttachUserPolicy (the
design forbids PutUserPolicy: inline policy writes are a privilege-escalation path), so
that is the call faulted here.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from keyrotate.config import Settings
from keyrotate.domain.engine import ORPHAN_WINDOW
from keyrotate.service.options import utc_now
from keyrotate.service.scan import missing_group_note
from keyrotate_emulator.faults import Fault, FaultKind
from tests.faults.conftest import Leaks, Reference
from tests.faults.lab import (
    ATTEMPTS,
    FaultLab,
    Org,
    created_keys,
    enforce_run,
    failed,
    iter_texts,
    normalized,
    outcomes,
    read_state,
    seed_org,
    violations,
)

pytestmark = pytest.mark.slow  # every rotation call failed five ways, a run each: about two minutes

ACCOUNT_OPERATIONS: tuple[tuple[str, str], ...] = (
    ("sts", "AssumeRole"),
    ("iam", "GetAccountAuthorizationDetails"),  # the directory read (ListUsers: fallback)
    ("iam", "ListAccessKeys"),
    ("iam", "CreateAccessKey"),
    ("secretsmanager", "CreateSecret"),
    ("secretsmanager", "PutSecretValue"),
    ("secretsmanager", "PutResourcePolicy"),
    ("secretsmanager", "ReplicateSecretToRegions"),
    ("secretsmanager", "TagResource"),
    ("iam", "AttachUserPolicy"),
    ("iam", "UpdateAccessKey"),
    ("iam", "DeleteAccessKey"),
    ("iam", "TagUser"),
)
SEND = ("ses", "SendRawEmail")
EXEMPTION_GROUP = Settings().exemption_group  # the lab's runs keep the default
NOTIFY_ATTEMPTS = 3  # Notifier's own attempts per message, each with ATTEMPTS botocore tries

INJECTED: Counter[str] = Counter()  # kind -> calls failed, summed over the suite (report)


def _account_name(operation: str) -> str:
    return f"f-{operation.lower()}"


def _fault(org: Org, service: str, operation: str, kind: FaultKind, times: int) -> Fault:
    account_id = org.accounts[_account_name(operation)]
    if operation == "AssumeRole":  # made by the caller: pick the member out of the body
        return Fault(service, operation, kind=kind, times=times, body_contains=account_id)
    return Fault(service, operation, kind=kind, times=times, account_id=account_id)


def _arm_all(lab: FaultLab, org: Org, kind: FaultKind, times: int, send_times: int) -> None:
    for service, operation in ACCOUNT_OPERATIONS:
        lab.inject(_fault(org, service, operation, kind, times))
    lab.inject(Fault(*SEND, kind=kind, times=send_times))


@pytest.mark.parametrize(
    "kind", ["throttle", "server_error", "access_denied", "drop", "drop_after"]
)
def test_exhausted_fault_on_every_operation_loses_no_key_and_next_run_converges(
    lab: FaultLab, reference: Reference, leaks: Leaks, kind: FaultKind
) -> None:
    org = seed_org(lab, members=[_account_name(op) for _, op in ACCOUNT_OPERATIONS])
    before = read_state(lab, org)
    retried = kind != "access_denied"
    times = ATTEMPTS if retried else 1
    _arm_all(lab, org, kind, times, send_times=times * NOTIFY_ATTEMPTS)

    # One user of an account at a time: a fault counts attempts across an account's calls,
    # so two users' calls at once could each absorb one and none be exhausted. Users at once
    # are covered by the crash and race tests (test_crashes, test_concurrency).
    report = enforce_run(UserWorkers="1")

    fired = lab.fired()
    INJECTED[kind] += len(fired)
    assert {(f.service, f.operation) for f in fired} == {*ACCOUNT_OPERATIONS, SEND}
    lab.clear_faults()
    after_fault = read_state(lab, org)
    leaks.add_state(after_fault)
    for text in iter_texts(report):
        leaks.add(f"{kind} report", text)
    # A reply lost after the key was made leaves an orphan for the intent marker (SPEC).
    broken = violations(
        before,
        after_fault,
        created_keys(before, after_fault),
        orphans_allowed=kind == "drop_after",
    )
    assert not broken, broken
    # Every failure reached the report: a failed account or action, or a note on a done one.
    by_account = {a.account.account_id: a for a in report.accounts}
    for _, operation in ACCOUNT_OPERATIONS:
        if (kind, operation) == ("drop_after", "PutSecretValue"):
            continue  # the write happened; the tool sees its version is current: a success
        account = by_account[org.accounts[_account_name(operation)]]
        # The lab's accounts have no exemption group: that note is in every account, and
        # says nothing of the fault.
        fault_notes = [n for n in account.notes if n != missing_group_note(EXEMPTION_GROUP)]
        told = (
            account.failed
            or bool(fault_notes)
            or any(r.error for user in account.users for r in user.results if r.error)
        )
        assert told, f"the {kind} on {operation} left no trace in the report"
    assert any(not n.sent and n.error for n in report.notifications)

    # The next run comes after the intent markers' 15-minute window (a rotation interrupted
    # less than 15 minutes ago may still be in progress in another run: it is left alone).
    second = enforce_run(clock=lambda: utc_now() + ORPHAN_WINDOW + timedelta(minutes=1))
    for text in iter_texts(second):
        leaks.add(f"{kind} second report", text)
    converged = read_state(lab, org)
    leaks.add_state(converged)
    assert failed(second) == 0, outcomes(second, org)
    assert not violations(after_fault, converged, created_keys(after_fault, converged))
    assert normalized(converged) == reference.state_of(converged)


def test_fault_absorbed_by_a_retry_changes_nothing_in_the_outcome(
    lab: FaultLab, reference: Reference, leaks: Leaks
) -> None:
    kinds: tuple[FaultKind, ...] = ("throttle", "server_error", "drop")
    org = seed_org(lab, members=[f"absorb-{kind}" for kind in kinds])
    for kind in kinds:
        account_id = org.accounts[f"absorb-{kind}"]
        for service, operation in ACCOUNT_OPERATIONS:
            if operation == "AssumeRole":
                lab.inject(Fault(service, operation, kind=kind, body_contains=account_id))
            else:
                lab.inject(Fault(service, operation, kind=kind, account_id=account_id))
    lab.inject(Fault(*SEND, kind="throttle"))

    report = enforce_run()

    fired = lab.fired()
    INJECTED["absorbed"] += len(fired)
    assert len(fired) == len(kinds) * len(ACCOUNT_OPERATIONS) + 1
    end = read_state(lab, org)
    leaks.add_state(end)
    for text in iter_texts(report):
        leaks.add("absorbed report", text)
    assert failed(report) == 0
    assert all(n.sent for n in report.notifications)
    assert outcomes(report, org) == {w: reference.outcomes[w[1]] for w in outcomes(report, org)}
    assert normalized(end) == reference.state_of(end)

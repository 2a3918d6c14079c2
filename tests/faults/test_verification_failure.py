"""A new key that STS refuses is reported unverified, with the reason, and is still stored.

STS GetCallerIdentity made with a member account's new keys is denied every time (the fault
is limited to calls routed to that account: only a member user's own key makes them); the
management account's new key is checked normally in the same run, the success case.
"""

from __future__ import annotations

from dataclasses import replace

from keyrotate.service.options import RunOptions
from keyrotate.service.report import to_document
from keyrotate_emulator.faults import Fault
from tests.faults.conftest import Leaks
from tests.faults.lab import (
    FaultLab,
    enforce_run,
    failed,
    iter_texts,
    read_state,
    seed_org,
    unheld_new_keys,
)

ATTEMPTS = 6  # verify_key's attempts per new key


def _verify_quickly(options: RunOptions) -> RunOptions:
    return replace(options, verify_new_keys=True, verify_first_wait=0.01)


def test_new_key_refused_by_sts_is_reported_unverified_and_still_stored(
    lab: FaultLab, leaks: Leaks
) -> None:
    org = seed_org(lab)
    seeded = read_state(lab, org)
    member = org.accounts["work-0"]
    lab.inject(
        Fault("sts", "GetCallerIdentity", kind="access_denied", times=None, account_id=member)
    )

    report = enforce_run(adjust=_verify_quickly)

    fired = lab.fired()
    lab.clear_faults()
    for text in iter_texts(report):
        leaks.add("verification report", text)
    state = read_state(lab, org)
    leaks.add_state(state)
    records = [k for k in to_document(report)["keys"] if k["new_access_key_id"]]
    by_account = {
        account_id: [k for k in records if k["account_id"] == account_id]
        for account_id in org.accounts.values()
    }
    refused = by_account[member]
    assert [k["user_name"] for k in refused] == ["rot-new", "rot-held", "del-rot"]
    assert len(fired) == ATTEMPTS * len(refused)  # retried, not given up at the first refusal
    for record in refused:
        assert record["new_key_verified"] is False
        assert record["outcome"] == "done"  # the key is stored: a failed check loses nothing
        assert "verification failed" in record["error"]
        assert "AccessDenied" in record["error"]
    (accepted,) = by_account[org.accounts["management"]]
    assert accepted["new_key_verified"] is True
    assert accepted["error"] is None
    # Every new key, verified or not, is the one its secret holds (tag and value).
    assert not unheld_new_keys(seeded, state)
    for record in records:
        where = (org.name_of(record["account_id"]), record["user_name"])
        secret = state[where].secret
        assert secret is not None
        assert secret.value_key_id == record["new_access_key_id"]
        assert secret.tags["keyrotate:access-key-id"] == record["new_access_key_id"]
    assert failed(report) == 0  # an unverified key is reported, not counted as a failure


def test_every_new_key_accepted_by_sts_is_reported_verified(lab: FaultLab, leaks: Leaks) -> None:
    org = seed_org(lab)

    report = enforce_run(adjust=_verify_quickly)

    for text in iter_texts(report):
        leaks.add("verified report", text)
    leaks.add_state(read_state(lab, org))
    records = [k for k in to_document(report)["keys"] if k["new_access_key_id"]]
    assert len(records) == 4
    assert all(k["new_key_verified"] is True for k in records), records
    assert all(k["error"] is None for k in records)

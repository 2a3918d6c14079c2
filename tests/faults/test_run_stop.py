"""Stopping a run early (keyrotate.service.stop): a time budget, Ctrl-C, a report path that
cannot be written. Whatever is not done is deferred, never left half done: the next run
finishes it, and the end state is the one an undisturbed run leaves (``reference``).

The CLI runs as a process against the lab; the lab's gate holds it at a chosen call, so the
signal arrives *exactly* mid-rotation. The budget mid-account runs in this process, its
clock counting IAM's key changes, so where it runs out is known.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from keyrotate.service.options import utc_now
from keyrotate.service.stop import RunStop, budget_sentence
from keyrotate_emulator.gate import Hold
from tests.faults.conftest import Leaks, Reference
from tests.faults.lab import (
    KEYROTATE,
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
    settings_env,
    unheld_new_keys,
    violations,
)
from tests.faults.test_crashes import LATER

ARRIVAL_TIMEOUT = 60.0  # seconds for the CLI to reach the held call on a busy machine
INTERRUPTED = "the run was interrupted (SIGINT)"
KEY_CHANGES = ("CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey")


@dataclass
class Cli:
    """``keyrotate run --enforce ARGS`` as a process; its output in files (no pipe to fill)."""

    process: subprocess.Popen[bytes]
    out: Path
    err: Path

    @classmethod
    def start(cls, lab: FaultLab, tmp: Path, *args: str, **extra: str) -> Cli:
        env = {**os.environ, **settings_env(**extra), "AWS_ENDPOINT_URL": lab.url}
        out, err = tmp / "stdout.txt", tmp / "stderr.txt"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            process = subprocess.Popen(
                [str(KEYROTATE), "run", "--enforce", *args], env=env, stdout=stdout, stderr=stderr
            )
        return cls(process, out, err)

    def stderr(self) -> str:
        return self.err.read_text(encoding="utf-8", errors="replace")

    def wait_for(self, hold: Hold) -> None:
        deadline = time.monotonic() + ARRIVAL_TIMEOUT
        while not hold.arrived.wait(0.05):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the CLI never reached the held call: {self.stderr()}")

    def wait_for_stderr(self, text: str) -> None:
        deadline = time.monotonic() + ARRIVAL_TIMEOUT
        while text not in self.stderr():
            assert time.monotonic() < deadline, f"never said {text!r}: {self.stderr()}"
            time.sleep(0.02)

    def finish(self, leaks: Leaks) -> int:
        code = self.process.wait(timeout=120)
        leaks.add("cli stdout", self.out.read_text(encoding="utf-8"))
        leaks.add("cli stderr", self.stderr())
        return code


def key_records(report: dict[str, Any], org: Org) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """(account name, user) -> the report's key records that carry a change."""
    found: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in report["keys"]:
        if record["action"] in ("ROTATE", "DEACTIVATE", "DELETE"):
            where = (org.name_of(record["account_id"]), record["user_name"])
            found.setdefault(where, []).append(record)
    return found


def assert_consistent(seeded: State, state: State) -> None:
    """No key without its secret, no secret naming a missing key, no orphan."""
    assert not violations(seeded, state, created_keys(seeded, state))
    assert not unheld_new_keys(seeded, state)


def finish_with_next_run(
    lab: FaultLab, org: Org, seeded: State, reference: Reference, leaks: Leaks
) -> None:
    """The next run, undisturbed: nothing fails or waits, and the end state is the
    reference's (every change the stopped run deferred was made, nothing twice)."""
    report = enforce_run()
    for text in iter_texts(report):
        leaks.add("next run", text)
    assert failed(report) == 0, outcomes(report, org)
    assert all(o != "deferred" for done in outcomes(report, org).values() for _, o in done)
    converged = read_state(lab, org)
    leaks.add_state(converged)
    assert_consistent(seeded, converged)
    assert normalized(converged) == reference.state_of(converged)


def test_an_account_larger_than_the_budget_is_deferred_and_the_next_run_finishes_it(
    lab: FaultLab, reference: Reference, leaks: Leaks
) -> None:
    org = seed_org(lab)
    seeded = read_state(lab, org)
    # The run's clock counts IAM's key changes: the budget runs out after the third.
    stop = RunStop(clock=lambda: sum(lab.server.calls().total("iam", op) for op in KEY_CHANGES))
    stop.set_deadline(3, budget_sentence(600))

    report = enforce_run(stop=stop, MaxWorkers="1", UserWorkers="1")

    for text in iter_texts(report):
        leaks.add("budget run", text)
    assert failed(report) == 0, outcomes(report, org)
    results = [r for a in report.accounts for u in a.users for r in u.results]
    done = [r for r in results if r.outcome.value == "done"]
    deferred = [r for r in results if r.outcome.value == "deferred"]
    assert len(done) >= 3  # the third change's user finished its own steps
    assert deferred
    assert {r.note for r in deferred} == {"the run's time budget (10m) ran out"}
    assert any(a.cut_short for a in report.accounts)
    (note,) = [n for n in report.notes if n.startswith("the run was cut short")]
    assert note.startswith("the run was cut short (the run's time budget (10m) ran out)")
    assert f"{len(deferred)} change(s) deferred" in note
    state = read_state(lab, org)
    leaks.add_state(state)
    assert_consistent(seeded, state)

    finish_with_next_run(lab, org, seeded, reference, leaks)


def test_a_budget_spent_before_the_first_account_defers_every_account_in_the_report(
    lab: FaultLab, reference: Reference, leaks: Leaks, tmp_path: Path
) -> None:
    org = seed_org(lab)
    seeded = read_state(lab, org)
    held = lab.gate.hold("organizations", "ListRoots", 1, after=False)
    report_path = tmp_path / "report.json"
    cli = Cli.start(lab, tmp_path, "--time-budget", "0.3", "--report", str(report_path))
    try:
        cli.wait_for(held)
        time.sleep(0.4)  # the budget runs out while the inventory is being listed
    finally:
        lab.gate.clear()
    assert cli.finish(leaks) == 0, cli.stderr()  # deferred is not failed

    assert "time budget: no new change starts after 0.3s" in cli.stderr()
    report = json.loads(report_path.read_text(encoding="utf-8"))
    accounts = {org.name_of(a["account_id"]): a for a in report["accounts"]}
    assert set(accounts) == set(org.accounts)  # none silently missing
    for entry in accounts.values():
        assert entry["status"] == "skipped"
        assert entry["cut_short"]
        assert entry["reason"].startswith("not started: the run's time budget")
    assert report["summary"]["cut_short_accounts"] == len(org.accounts)
    assert any(n.startswith("the run was cut short") for n in report["notes"])
    assert read_state(lab, org) == seeded  # nothing was changed

    finish_with_next_run(lab, org, seeded, reference, leaks)


@dataclass
class Interrupted:
    org: Org
    seeded: State
    held: Hold
    cli: Cli
    report_path: Path


def interrupt_mid_rotation(lab: FaultLab, tmp_path: Path, *, after: bool) -> Interrupted:
    """Seed, start ``keyrotate run`` (one worker), hold the member's first CreateAccessKey
    (rot-new's; ``after``: once the key exists), send SIGINT there and wait until the CLI
    says it heard. The call is still held: the caller releases it (``lab.gate.clear``)."""
    org = seed_org(lab)
    seeded = read_state(lab, org)
    member = org.accounts["work-0"]
    held = lab.gate.hold("iam", "CreateAccessKey", 1, after=after, account_id=member)
    report_path = tmp_path / "report.json"
    cli = Cli.start(lab, tmp_path, "--report", str(report_path), MaxWorkers="1", UserWorkers="1")
    cli.wait_for(held)
    cli.process.send_signal(signal.SIGINT)
    cli.wait_for_stderr("SIGINT: no new change will start")
    return Interrupted(org, seeded, held, cli, report_path)


def test_sigint_mid_rotation_finishes_it_reports_the_rest_deferred_and_exits_130(
    lab: FaultLab, reference: Reference, leaks: Leaks, tmp_path: Path
) -> None:
    try:  # rot-new's rotation is under way: marker written, key not made yet
        run = interrupt_mid_rotation(lab, tmp_path, after=False)
    finally:
        lab.gate.clear()
    org, seeded, cli, report_path = run.org, run.seeded, run.cli, run.report_path
    assert cli.finish(leaks) == 130, cli.stderr()
    table = cli.out.read_text(encoding="utf-8")  # the table is printed as after any run
    assert "deferred actions" in table
    assert "accounts cut short" in table

    report = json.loads(report_path.read_text(encoding="utf-8"))
    records = key_records(report, org)
    (rotated,) = [r for r in records[("work-0", "rot-new")] if r["action"] == "ROTATE"]
    assert rotated["outcome"] == "done"  # the rotation under way finished its sequence
    later = [r for where, rs in records.items() if where[0] == "work-0" for r in rs]
    deferred = [r for r in later if r["outcome"] == "deferred"]
    assert deferred
    assert {r["note"] for r in deferred} == {INTERRUPTED}
    assert {r["outcome"] for r in later} == {"done", "deferred"}
    accounts = {org.name_of(a["account_id"]): a for a in report["accounts"]}
    assert set(accounts) == set(org.accounts)
    management = accounts["management"]  # before the member (id order) or never started
    if management["status"] == "skipped":
        assert management["reason"].startswith(f"not started: {INTERRUPTED}")
    assert accounts["work-0"]["cut_short"]
    assert any(n.startswith(f"the run was cut short ({INTERRUPTED})") for n in report["notes"])
    state = read_state(lab, org)
    leaks.add_state(state)
    assert_consistent(seeded, state)

    finish_with_next_run(lab, org, seeded, reference, leaks)


def test_a_second_sigint_exits_130_at_once_and_the_next_run_finishes_the_rotation(
    lab: FaultLab, reference: Reference, leaks: Leaks, tmp_path: Path
) -> None:
    try:  # rot-new's key exists; the CLI has not heard
        run = interrupt_mid_rotation(lab, tmp_path, after=True)
        run.cli.process.send_signal(signal.SIGINT)
        code = run.cli.process.wait(timeout=10)  # at once: the held call is still held
        assert not run.held.release.is_set()
    finally:
        lab.gate.clear()
    org, seeded, cli, report_path = run.org, run.seeded, run.cli, run.report_path
    assert cli.finish(leaks) == code == 130
    assert "SIGINT again: exiting now (130)" in cli.stderr()
    assert not report_path.exists()
    cut = read_state(lab, org)
    leaks.add_state(cut)
    # The key made and not stored is the crash-safety protocol's: its marker names it.
    assert not violations(seeded, cut, created_keys(seeded, cut), orphans_allowed=True)

    report = enforce_run(clock=lambda: utc_now() + LATER)  # the marker's window has closed
    for text in iter_texts(report):
        leaks.add("recovery", text)
    assert failed(report) == 0, outcomes(report, org)
    converged = read_state(lab, org)
    leaks.add_state(converged)
    assert_consistent(seeded, converged)
    assert normalized(converged) == reference.state_of(converged)


@pytest.mark.parametrize(
    ("where", "said"),
    [
        ("a-file/report.json", "a-file is a file, not a folder"),
        ("/sys/keyrotate-report.json", "Permission denied"),  # even for root
        ("folder", "is a directory"),
    ],
    ids=["folder-is-a-file", "not-writable", "is-a-folder"],
)
def test_a_report_path_that_cannot_be_written_is_refused_before_any_call(
    lab: FaultLab, leaks: Leaks, tmp_path: Path, where: str, said: str
) -> None:
    (tmp_path / "a-file").write_text("not a folder\n", encoding="utf-8")
    (tmp_path / "folder").mkdir()
    lab.server.reset_calls()
    work = tmp_path / "cli"
    work.mkdir()
    cli = Cli.start(lab, work, "--report", str(tmp_path / where))
    assert cli.finish(leaks) == 2
    assert said in cli.stderr()
    assert lab.server.calls().total() == 0  # refused before the first call of the run

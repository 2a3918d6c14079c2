"""Fixtures of the fault suite: the fault lab (the shared emulator), reset per test, and a
leak scan.

Every test here leaves its captured text (log lines, reports, mails, exception texts, CLI
output) in ``leaks``; after the test, every secret access key that CreateAccessKey issued or
that a secret holds is looked for in all of it. Nothing is printed on a hit but the place.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from keyrotate_emulator import EmulatorServer
from tests.faults.lab import (
    FaultLab,
    State,
    enforce_run,
    normalized,
    outcomes,
    read_state,
    secret_values,
    seed_org,
)


@pytest.fixture(scope="session")
def _lab(emulator_server: EmulatorServer) -> FaultLab:
    return FaultLab(emulator_server)


@pytest.fixture
def lab(_lab: FaultLab, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultLab]:
    """The session's lab, empty, every boto3 client of this process pointed at it."""
    _lab.reset()
    monkeypatch.setenv("AWS_ENDPOINT_URL", _lab.url)
    # Clients the product makes without a Config of their own (SES, Organizations) retry
    # once, quickly: an exhausted fault must cost a second, not botocore's full backoff.
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("AWS_RETRY_MODE", "standard")
    yield _lab
    _lab.clear_faults()


@dataclass
class Leaks:
    """Text a test captured, and the states whose secrets must not appear in it."""

    texts: list[tuple[str, str]] = field(default_factory=list)  # (where, text)
    states: list[State] = field(default_factory=list)

    def add(self, where: str, text: str) -> None:
        self.texts.append((where, text))

    def add_state(self, state: State) -> None:
        self.states.append(state)


def _sent_mail() -> list[str]:
    from moto.ses.models import ses_backends

    found: list[str] = []
    for account in ses_backends.values():
        for backend in account.values():
            found += [str(getattr(m, "raw_data", "")) for m in backend.sent_messages]
    return found


@pytest.fixture
def leaks(lab: FaultLab, caplog: pytest.LogCaptureFixture) -> Iterator[Leaks]:
    caplog.set_level("DEBUG", logger="keyrotate")
    found = Leaks()
    yield found
    secrets = set(lab.gate.issued_secrets)
    for state in found.states:
        secrets |= secret_values(state)
    texts = [*found.texts, ("log", caplog.text)]
    texts += [("ses mail", m) for m in _sent_mail()]
    assert secrets or not found.states, "the leak scan had no secret to look for"
    hits = [where for where, text in texts for secret in secrets if secret in text]
    assert not hits, f"a secret access key appears in: {sorted(set(hits))}"


@dataclass(frozen=True)
class Reference:
    """What an undisturbed enforce run leaves on a freshly seeded organization."""

    state: dict[str, tuple[object, ...]]  # user -> normalized end state
    outcomes: dict[str, tuple[tuple[str, str], ...]]  # user -> ((action, outcome), ...)

    def state_of(self, state: State) -> dict[tuple[str, str], tuple[object, ...]]:
        """What ``state``'s users should look like: the reference, user by user."""
        return {where: self.state[where[1]] for where in state}


_REFERENCE: list[Reference] = []


@pytest.fixture
def reference(lab: FaultLab) -> Reference:
    """Computed once per session (on a lab of its own reset), then reused."""
    if not _REFERENCE:
        org = seed_org(lab)
        report = enforce_run()
        end = normalized(read_state(lab, org))
        done = outcomes(report, org)
        _REFERENCE.append(
            Reference({u: v for (_, u), v in end.items()}, {u: v for (_, u), v in done.items()})
        )
        lab.reset()
    return _REFERENCE[0]

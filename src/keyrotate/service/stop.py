"""The run's stop: a deadline and an interrupt, shared by every account of a run.

Once it says why (:meth:`RunStop.reason`), no new change starts anywhere in the run: a user
whose rotation is under way finishes its safe sequence (marker, create, store, verify,
grant, clear; never a stop between creating a key and storing it), every later user is
deferred (:func:`keyrotate.service.execute.defer`), and an account not started yet is not
started at all (:func:`not_started_note`). Deferred is not failed: the next run plans the
same changes again. Where it comes from:

- ``keyrotate run --time-budget``: a deadline for the whole run;
- the rotate-account Lambda: the function's remaining time less a margin
  (:data:`LAMBDA_MARGIN_SECONDS`);
- ``keyrotate run`` on SIGINT/SIGTERM: the interrupt (keyrotate.cli.run_command).

Thread-safe: the signal handler and the accounts' threads read and set it concurrently.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

# Lambda's remaining time is cut by this much: after the stop, a user in flight still verifies
# its new key (STS retried with backoff, up to ~31 s: keyrotate.aws.verify), then the owner
# mail and the account's results document are written. Half a minute more is slack for
# slow calls; less would risk the function being killed between a create and a store.
LAMBDA_MARGIN_SECONDS = 60.0

Monotonic = Callable[[], float]


class RunStop:
    """A run's deadline (on a monotonic clock) and interrupt flag; latched once set."""

    def __init__(self, *, clock: Monotonic = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._left: Callable[[], float] | None = None  # seconds before the deadline
        self._deadline_why = ""
        self._interrupt: str | None = None

    def set_deadline(self, seconds: float, why: str) -> None:
        """Stop starting changes ``seconds`` from now; ``why`` is what reports say then."""
        deadline = self._clock() + seconds
        self.follow(lambda: deadline - self._clock(), why)

    def follow(self, left: Callable[[], float], why: str) -> None:
        """Stop starting changes once ``left()`` (seconds) is zero or less: a deadline kept by
        someone else (Lambda's remaining time, less a margin)."""
        with self._lock:
            self._left = left
            self._deadline_why = why

    def interrupt(self, why: str) -> None:
        """Stop starting changes now (the first signal wins: its sentence is kept)."""
        with self._lock:
            if self._interrupt is None:
                self._interrupt = why

    @property
    def interrupted(self) -> bool:
        with self._lock:
            return self._interrupt is not None

    def remaining(self) -> float | None:
        """Seconds left before the deadline (negative once past); ``None``: no deadline."""
        with self._lock:
            return None if self._left is None else self._left()

    def reason(self) -> str | None:
        """Why no new change may start, as a sentence; ``None`` while the run may go on."""
        with self._lock:
            if self._interrupt is not None:
                return self._interrupt
            if self._left is not None and self._left() <= 0:
                return self._deadline_why
            return None


def budget_sentence(seconds: float) -> str:
    return f"the run's time budget ({format_duration(seconds)}) ran out"


def signal_sentence(name: str) -> str:
    return f"the run was interrupted ({name})"


def lambda_sentence(margin: float) -> str:
    return (
        "the function's time was running out (Lambda's remaining time, less "
        f"{format_duration(margin)} kept to finish safely)"
    )


def not_started_note(why: str) -> str:
    """The reason an account the stop kept from starting is reported with."""
    return f"not started: {why}; deferred to the next run (nothing was read or changed)"


def cut_short_note(why: str, deferred: int) -> str:
    """An account's note when the stop deferred some of its changes."""
    return (
        f"cut short: {why}; changes under way were finished, {deferred} change(s) were "
        "deferred to the next run"
    )


def format_duration(seconds: float) -> str:
    """``90`` -> ``1m30s``; whole seconds above a minute, ``0.3s`` below one."""
    if 0 < seconds < 60:
        return f"{seconds:g}s"
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if n]
    return "".join(parts) or "0s"


_UNITS = {"s": 1, "m": 60, "h": 3600}


def parse_duration(text: str) -> float:
    """``600``, ``90s``, ``10m``, ``1h``, ``1h30m`` -> seconds; ``ValueError`` otherwise."""
    value = text.strip().lower()
    if not value:
        raise ValueError("empty")
    if value.replace(".", "", 1).isdigit():
        seconds = float(value)
    else:
        seconds, number = 0.0, ""
        for char in value:
            if char.isdigit() or char == ".":
                number += char
            elif char in _UNITS and number and number.count(".") <= 1:
                seconds += float(number) * _UNITS[char]
                number = ""
            else:
                raise ValueError(f"unexpected {char!r}")
        if number:
            raise ValueError("a number without a unit after another unit")
    if seconds <= 0:
        raise ValueError("must be more than zero")
    return seconds

"""Bounded fan-out of one account's per-user calls, results in the input's order.

An account's users are read (ListAccessKeys, GetAccessKeyLastUsed) independently of each
other, before any change: at AWS's tens of milliseconds per call, one user after another is
what makes a large account slow. Reads change nothing, so they need no guardrail: they run
``UserWorkers`` at once, the bound the account's changes keep too (keyrotate.service.guarded).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


def map_bounded(step: Callable[[In], Out], items: Sequence[In], workers: int) -> list[Out]:
    """``[step(i) for i in items]`` with at most ``workers`` steps at once. The first
    exception (in ``items``' order) is raised once every started step has ended."""
    if workers <= 1 or len(items) <= 1:
        return [step(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        return list(pool.map(step, items))

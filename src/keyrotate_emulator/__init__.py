"""The embedded AWS for tests, the demo and benchmarks: moto over HTTP, made more like AWS.

Only this package (and the tests) import moto. It sits at the top of the dependency graph.
"""

from __future__ import annotations

from keyrotate_emulator.counter import CallCounts
from keyrotate_emulator.faults import FAULT_KINDS, Fault, FaultKind, FiredFault
from keyrotate_emulator.server import EmulatorServer
from keyrotate_emulator.strict import Strictness

__all__ = [
    "FAULT_KINDS",
    "CallCounts",
    "EmulatorServer",
    "Fault",
    "FaultKind",
    "FiredFault",
    "Strictness",
]

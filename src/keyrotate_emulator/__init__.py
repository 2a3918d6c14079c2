"""The embedded AWS for tests, the demo and benchmarks: moto over HTTP, made more like AWS.

Not the product: it needs the ``emulator`` extra (moto), stays out of the Lambda zip, and no
module of ``keyrotate`` imports it (pyproject's import contracts); it imports the product
(the demo runs it). Only this package and the tests import moto.
"""

from __future__ import annotations

from keyrotate_emulator.counter import CallCounts
from keyrotate_emulator.faults import FAULT_KINDS, Fault, FaultKind, FiredFault
from keyrotate_emulator.gate import Gate, Hold
from keyrotate_emulator.server import EmulatorServer
from keyrotate_emulator.strict import Strictness

__all__ = [
    "FAULT_KINDS",
    "CallCounts",
    "EmulatorServer",
    "Fault",
    "FaultKind",
    "FiredFault",
    "Gate",
    "Hold",
    "Strictness",
]

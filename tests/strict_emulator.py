"""How strict the emulator is in the functional and fault tests (docs/emulator.md).

Every check AWS makes and moto lacks is on. Only the propagation delay of a new key is
shorter than AWS's few seconds: CLI runs verify every new key with a first wait of 1 s (not a
setting), so a delay longer than the time between CreateAccessKey and the first verification
would add a second per rotated key to every run. The tests of the delay itself
(tests/functional/test_emulator_strict.py, tests/faults) set longer ones.
"""

from __future__ import annotations

from keyrotate.emulator import Strictness

TEST_KEY_PROPAGATION_SECONDS = 0.25
TEST_STRICTNESS = Strictness(key_propagation_seconds=TEST_KEY_PROPAGATION_SECONDS)

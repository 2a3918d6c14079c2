"""How strict the emulator is in the functional and fault tests (docs/emulator.md).

Every check AWS makes and moto lacks is on. Only the propagation delay of a new key is
shorter than AWS's few seconds, for CI time:

- functional tests (conftest's shared server as made, the demo test included): 20 ms. CLI
  runs verify every new key with a first wait of 1 s (not a setting), and the first check
  comes 30 to 120 ms after CreateAccessKey; a longer delay would add a second per rotated key
  to every run (about a minute per suite at 0.25 s). 20 ms still refuses a key used the
  moment it is created. tests/functional/test_emulator_propagation.py runs a rotation
  through the demo's full delay, test_emulator_strict.py pins the delay itself.
- fault tests (the fault lab, which sets it on the same server): 250 ms. Their in-process
  runs verify with a first wait of 10 ms, so nearly every new key there is refused at least
  once and must be retried, at the cost of a fraction of a second.
"""

from __future__ import annotations

from keyrotate_emulator import Strictness

TEST_KEY_PROPAGATION_SECONDS = 0.02
TEST_STRICTNESS = Strictness(key_propagation_seconds=TEST_KEY_PROPAGATION_SECONDS)
LAB_KEY_PROPAGATION_SECONDS = 0.25
LAB_STRICTNESS = Strictness(key_propagation_seconds=LAB_KEY_PROPAGATION_SECONDS)

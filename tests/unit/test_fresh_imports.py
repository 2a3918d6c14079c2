"""Each entry point imports first, in a fresh interpreter, as its runtime imports it.

The Lambda runtime imports ``keyrotate.lambda_handlers`` before anything else of ours; an
import cycle that another import happens to break in a test process breaks every function
at start-up there.
"""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "module", ["keyrotate.lambda_handlers", "keyrotate.cli", "keyrotate.logredact", "keyrotate.aws"]
)
def test_the_module_imports_first_in_a_fresh_interpreter(module: str) -> None:
    finished = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr

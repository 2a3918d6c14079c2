"""``keyrotate demo`` without the ``emulator`` extra: exit 2 and one line naming the extra.

Each case runs the real CLI in a fresh interpreter where importing the blocked package fails
as it would on an install without it (an import hook raises ModuleNotFoundError for it and
its submodules). A fresh process matters: in this one, the functional tests may have
imported the emulator already, and a cached module is never looked up again.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

_RUN_WITHOUT = """
import sys
from importlib.abc import MetaPathFinder

blocked, out_dir = sys.argv[1], sys.argv[2]


class NotInstalled(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == blocked or name.startswith(blocked + "."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, NotInstalled())
from keyrotate.cli import main

main(["demo", "--out", out_dir], prog_name="keyrotate")
"""


@pytest.mark.parametrize("blocked", ["moto", "keyrotate_emulator"])
def test_the_demo_without_the_emulator_exits_2_naming_the_extra(
    blocked: str, tmp_path: Path
) -> None:
    out_dir = tmp_path / "demo"
    finished = subprocess.run(
        [sys.executable, "-c", _RUN_WITHOUT, blocked, str(out_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 2, finished.stderr
    assert finished.stdout == ""  # failed before the banner
    (line,) = finished.stderr.splitlines()
    assert line.startswith("error: keyrotate demo needs the emulator")
    assert blocked in line
    assert line.endswith("pip install 'keyrotate[emulator]'")
    assert not out_dir.exists()  # nothing was started or written

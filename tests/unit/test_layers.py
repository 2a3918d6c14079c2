"""The layering contracts (pyproject.toml, [tool.importlinter]) hold, and they have teeth.

The check runs on a copy of the packages (the product and the emulator): untouched, every
contract is kept; with one deliberate violation planted (the engine importing the AWS SDK, a
service module calling boto3 itself, the CLI importing the emulator), lint-imports fails and
names the broken contract.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(src: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports with the repository's contracts over the packages found in ``src``."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
        cwd=src,
    )


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    for package in ("keyrotate", "keyrotate_emulator"):
        shutil.copytree(
            ROOT / "src" / package, src / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    return src


def test_the_repository_keeps_every_layering_contract(package_copy: Path) -> None:
    result = _lint(package_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "planted", "contract"),
    [
        ("domain/policy.py", "import boto3\n", "The domain imports nothing of ours"),
        ("domain/engine.py", "from keyrotate import config\n", "The domain imports nothing"),
        ("service/report.py", "import botocore.session\n", "Only the AWS adapters"),
        ("notify/content.py", "import boto3\n", "Only the AWS adapters"),
        (
            "cli/demo_command.py",
            "from keyrotate_emulator import demo\n",
            "The product never imports",
        ),
        ("service/scan.py", "import moto\n", "The product never imports the emulator"),
    ],
    ids=[
        "engine-imports-sdk",
        "engine-imports-config",
        "service-imports-sdk",
        "notify-sdk",
        "cli-imports-emulator",
        "service-imports-moto",
    ],
)
def test_a_deliberate_violation_fails_the_check_naming_the_contract(
    package_copy: Path, module: str, planted: str, contract: str
) -> None:
    target = package_copy / "keyrotate" / module
    source = target.read_text(encoding="utf-8")
    # after the module docstring and the __future__ import, where an import would really go
    head, marker, tail = source.partition("from __future__ import annotations\n")
    assert marker, f"{module} has no __future__ import to anchor the planted line"
    target.write_text(head + marker + planted + tail, encoding="utf-8")
    result = _lint(package_copy)
    assert result.returncode != 0, result.stdout
    assert f"{contract}" in result.stdout
    assert "BROKEN" in result.stdout

"""The HTML report in a real browser: headless Chromium (Debian's ``chromium`` package) loads
the file with the network off, its DOM holds one chart mark per key, and it renders a page.

Skipped where Chromium is not installed (``apt-get install chromium``)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from keyrotate.service.report_files import RunDocument, write_report_file
from tests.unit.reader_scenarios import scenario_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
# No network at all: a page that needed anything from outside would show it missing.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--hide-scrollbars",
    "--proxy-server=127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
)


def _chromium(*args: str) -> str:
    assert CHROMIUM is not None
    done = subprocess.run(
        [CHROMIUM, *FLAGS, *args], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout


def test_chromium_loads_the_report_with_one_mark_per_key_and_renders_it(tmp_path: Path) -> None:
    report = scenario_report("enforce")
    page = write_report_file(RunDocument(report), tmp_path / "run.html")
    dom = _chromium("--dump-dom", page.as_uri())
    keys = sum(len(u.keys) for a in report.accounts for u in a.users)
    assert dom.count('<circle class="mark') == keys
    assert "Calendar: the next 30 days" in dom
    shot = tmp_path / "run.png"
    _chromium(f"--screenshot={shot}", "--window-size=1280,1600", page.as_uri())
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000  # a page with tables and a chart, not a blank one

"""Plain-text snapshots checked in under tests/unit/snapshots/.

A test compares what it rendered with the file of its name. To accept a change on purpose,
run the tests with ``UPDATE_SNAPSHOTS=1`` (they write the files and pass), then read the
diff in git before committing it::

    UPDATE_SNAPSHOTS=1 .venv/bin/pytest -q tests/unit/test_mail_snapshots.py
"""

from __future__ import annotations

import os
from pathlib import Path

SNAPSHOTS = Path(__file__).parent / "unit" / "snapshots"
UPDATE = os.environ.get("UPDATE_SNAPSHOTS") == "1"


def assert_snapshot(name: str, rendered: str) -> None:
    path = SNAPSHOTS / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rendered, encoding="utf-8")
        return
    assert path.exists(), f"no snapshot {name}: run with UPDATE_SNAPSHOTS=1 to write it"
    expected = path.read_text(encoding="utf-8")
    assert rendered == expected, (
        f"{name} differs from its snapshot; if the change is meant, rerun with "
        "UPDATE_SNAPSHOTS=1 and review the diff"
    )

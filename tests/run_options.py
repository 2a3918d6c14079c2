"""Run options for tests that drive the service below the entry points (one account, the
enforce path): built from :class:`keyrotate.config.Settings`, as every run's are.

Settings are given by field name (``dry_run=False``, ``scan_mode="per-user"``); anything not
given has the product's default, verification of new keys included.
"""

from __future__ import annotations

from keyrotate.config import Settings
from keyrotate.service.options import RunOptions

REGION = "us-east-1"


def run_options(region: str = REGION, **settings: object) -> RunOptions:
    return RunOptions.from_settings(Settings.model_validate(settings), region)

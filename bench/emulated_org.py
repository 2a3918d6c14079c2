"""What the organization benchmarks share: their users, and a client process's environment.

Imported by bench/org.py and bench/enforce.py in their own processes and in the emulator's
(spawned children find this directory on sys.path, as the parent had it).
"""

from __future__ import annotations

import os
import random
from typing import Any


def user_specs(users: int, due: int, rng: random.Random) -> list[Any]:
    """``users`` users with one key in use each, the first ``due`` of them past rotation
    (95-150 days old), the rest young (10-60 days); owners spread over seven teams."""
    from keyrotate_emulator.seed import KeySpec, UserSpec

    return [
        UserSpec(
            f"user-{u:04d}",
            [
                KeySpec(
                    age_days=rng.uniform(95, 150) if u < due else rng.uniform(10, 60),
                    used_days_ago=rng.uniform(0.5, 5),
                )
            ],
            tags={"ResourceOwner": f"team-{u % 7}@example.com"},
        )
        for u in range(users)
    ]


def use_emulator(url: str) -> None:
    """This (client) process talks to the emulator at ``url`` only, as the management
    account, whatever the machine's AWS configuration says."""
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
    )

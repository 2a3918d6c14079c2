"""Benchmark: the first enforce run of an adopting organization, at AWS's speeds.

Not a test: it prints figures. Seeds A accounts x U users, a share of them overdue (one key
95-150 days old, so ROTATE; the others 10-60 days old), in the emulator running in a process
of its own (so moto's GIL is not the tool's), then runs enforce mode once through the real
service, as ``keyrotate run --enforce`` does (RunContext and the organization run, new keys
verified with STS), against an emulator that makes every API call wait ``--latency-ms`` and
refuses each new key for ``--propagation-s`` seconds, as IAM does while it propagates one.

Printed: wall time, API calls (counted by the emulator), rotations (and how many verified),
the concurrency the run really uses (accounts at once x users at once within an account),
the floor and the ratio to it. The floor is what no schedule can beat:

    floor = propagation + calls x latency / concurrency

(every new key waits the propagation once; the calls are spread over the concurrency).

    .venv/bin/python bench/enforce.py                       # 8 x 40, half overdue, 20 ms, 6 s
    .venv/bin/python bench/enforce.py --lambda-account      # 1 x 500 overdue, 50 ms, 6 s
    .venv/bin/python bench/enforce.py --lambda-account --users 50   # scaled, extrapolated

``--lambda-account``: one account of 500 overdue users, as one rotate-account Lambda
invocation handles it; the wall time is set against Lambda's 15 minutes. With fewer
``--users`` the figure is extrapolated linearly to 500 users (said so in the output).

The emulator serves a few hundred calls a second on one core; the machine's load stretches
the wall time, not the calls. Compare calls and the ratio, not seconds across machines.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from emulated_org import use_emulator, user_specs

ROLE = "keyrotate-member"
READ_POLICY = "keyrotate-read-own-secret"
LAMBDA_LIMIT_S = 15 * 60
LAMBDA_USERS = 500


# -- runs inside the emulator's process ------------------------------------------------------
def seed_org(
    url: str, *, accounts: int, users: int, overdue_fraction: float, now_iso: str, seed: int
) -> list[tuple[str, str]]:
    """Member accounts with the member role, the read policy and their users; (id, name)s."""
    from keyrotate_emulator.seed import (
        OrganizationBuilder,
        create_member_roles,
        iam_client,
        read_own_secret_policy,
        seed_users,
    )

    now = datetime.fromisoformat(now_iso)
    rng = random.Random(seed)
    builder = OrganizationBuilder(url)
    created: list[tuple[str, str]] = []
    overdue = round(users * overdue_fraction)  # per account: the first users are the overdue
    for index in range(accounts):
        name = f"adopter-{index:03d}"
        account = builder.account(name, f"{name}@example.com", "/Workloads")
        create_member_roles(url, [account.account_id], ROLE)
        iam_client(url, account.account_id, ROLE).create_policy(
            PolicyName=READ_POLICY, PolicyDocument=read_own_secret_policy(account.account_id)
        )
        seed_users(url, account.account_id, user_specs(users, overdue, rng), now)
        created.append((account.account_id, name))
    return created


# -- runs in a fresh client process ----------------------------------------------------------
def enforce(url: str, accounts: list[tuple[str, str]], workers: int, user_workers: int) -> Any:
    """One enforce run of the organization, as the CLI makes it; what it did and how long."""
    use_emulator(url)
    import boto3

    from keyrotate.aws.organizations import Inventory
    from keyrotate.aws.session import AccountSessions
    from keyrotate.config import Settings
    from keyrotate.config.values import MAX_ACTIONS
    from keyrotate.domain.models import Account, ActionKind
    from keyrotate.domain.results import Outcome
    from keyrotate.service.context import RunContext
    from keyrotate.service.options import RunOptions
    from keyrotate.service.organization import run_accounts
    from keyrotate.service.spill import SpilledAccounts

    values: dict[str, Any] = {
        "dry_run": False,
        "iam_role_name": ROLE,
        "workers": workers,
        "verify_new_keys": True,
        "read_policy_name": READ_POLICY,
        # an adopting organization's first run: the caps are the operator's choice; here
        # they let every overdue key through, so the figures are about speed
        "max_actions_per_run": MAX_ACTIONS,
        "max_actions_per_account": MAX_ACTIONS,
    }
    in_account = 1  # before users ran in parallel within an account
    if "user_workers" in Settings.model_fields:
        values["user_workers"] = user_workers
        in_account = user_workers
    settings = Settings.model_validate(values)
    sessions = AccountSessions(boto3.Session(), ROLE, region="us-east-1")
    options = RunOptions.from_settings(settings, "us-east-1")
    context = RunContext(settings, "bench", sessions, options)
    inventory = Inventory(tuple(Account(a, n, f"{n}@example.com") for a, n in accounts), ())
    cpu_started = time.process_time()
    started = time.perf_counter()
    report = run_accounts(context, inventory, SpilledAccounts()).report
    wall = time.perf_counter() - started
    outcomes: Counter[str] = Counter()
    rotated = verified = 0
    for account in report.accounts:
        if account.error:
            outcomes["account failed"] += 1
        for user in account.users:
            for result in user.results:
                if result.action.kind.changes_keys:
                    outcomes[f"{result.action.kind.value} {result.outcome.value}"] += 1
                if result.action.kind is ActionKind.ROTATE and result.outcome is Outcome.DONE:
                    rotated += 1
                    verified += result.verified is True
    errors = [r.error for a in report.accounts for u in a.users for r in u.results if r.error] + [
        a.error for a in report.accounts if a.error
    ]
    return {
        "wall_s": wall,
        "cpu_s": time.process_time() - cpu_started,
        "rotated": rotated,
        "verified": verified,
        "outcomes": dict(outcomes),
        "errors": errors[:3],
        "in_account": in_account,
    }


# -- the parent: seeds, runs, prints ---------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--accounts", type=int, default=None, help="default 8 (1: lambda)")
    parser.add_argument("--users", type=int, default=None, help="per account; default 40")
    parser.add_argument("--overdue", type=float, default=None, help="share; default 0.5")
    parser.add_argument("--latency-ms", type=float, default=None, help="per call; default 20")
    parser.add_argument("--propagation-s", type=float, default=6.0, help="new key refused")
    parser.add_argument("--workers", type=int, default=8, help="accounts at once (MaxWorkers)")
    parser.add_argument(
        "--user-workers", type=int, default=8, help="users at once in an account (UserWorkers)"
    )
    parser.add_argument(
        "--lambda-account",
        action="store_true",
        help=f"1 account of {LAMBDA_USERS} overdue users at 50 ms, against Lambda's 15 minutes",
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if args.lambda_account:
        defaults = {"accounts": 1, "users": LAMBDA_USERS, "overdue": 1.0, "latency_ms": 50.0}
    else:
        defaults = {"accounts": 8, "users": 40, "overdue": 0.5, "latency_ms": 20.0}
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.accounts < 1 or args.users < 1 or not 0 < args.overdue <= 1:
        parser.error("--accounts and --users must be at least 1, --overdue in (0, 1]")

    from keyrotate_emulator.process import EmulatorProcess
    from keyrotate_emulator.strict import Strictness

    module = Path(__file__).stem  # importable in the children: this directory is on sys.path
    latency = args.latency_ms / 1000
    print(
        f"seeding {args.accounts} accounts x {args.users} users ({args.overdue:.0%} overdue); "
        f"{args.latency_ms:g} ms per call, new keys refused for {args.propagation_s:g} s...",
        flush=True,
    )
    strictness = Strictness(key_propagation_seconds=args.propagation_s)
    # Seeding makes a few calls per account (users and keys go straight into moto's memory).
    with EmulatorProcess(
        iam_page_size=100, strictness=strictness, latency_seconds=latency
    ) as emulator:
        accounts = emulator.call(
            f"{module}:seed_org",
            emulator.url,
            accounts=args.accounts,
            users=args.users,
            overdue_fraction=args.overdue,
            now_iso=datetime.now(UTC).isoformat(),
            seed=args.seed,
        )
        emulator.reset_calls()
        with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
            result = pool.submit(
                enforce, emulator.url, accounts, args.workers, args.user_workers
            ).result()
        calls = emulator.calls()
    _print(args, result, calls)
    return 0


def _print(args: argparse.Namespace, result: dict[str, Any], calls: Any) -> None:
    latency = args.latency_ms / 1000
    across = min(args.workers, args.accounts)
    overdue = round(args.users * args.overdue)
    in_account = min(result["in_account"], max(overdue, 1))
    concurrency = across * in_account
    total = calls.total()
    floor = args.propagation_s + total * latency / concurrency
    wall = result["wall_s"]
    print()
    print(
        f"organization: {args.accounts} accounts x {args.users} users, {overdue} overdue each; "
        f"{args.latency_ms:g} ms per call, propagation {args.propagation_s:g} s"
    )
    print(f"wall time:          {wall:.1f} s (client CPU {result['cpu_s']:.1f} s)")
    print(
        f"rotations:          {result['rotated']} done, {result['verified']} verified "
        f"(expected {args.accounts * overdue})"
    )
    print(f"outcomes:           {_counts(result['outcomes'])}")
    print(f"API calls:          {total} ({total / max(result['rotated'], 1):.1f} per rotation)")
    by_operation = sorted(calls.by_operation.items(), key=lambda kv: -kv[1])
    for (service, operation), count in by_operation:
        print(f"  {service}:{operation:<32}{count:>7}")
    print(
        f"concurrency:        {concurrency} ({across} accounts at once x {in_account} users at "
        "once in an account)"
    )
    print(
        f"floor:              {floor:.1f} s = {args.propagation_s:g} s + {total} calls x "
        f"{args.latency_ms:g} ms / {concurrency}"
    )
    print(f"ratio to the floor: {wall / floor:.1f}x (target: within 3x)")
    if args.lambda_account:
        scale = LAMBDA_USERS / args.users
        if scale == 1:
            print(f"Lambda:             {wall:.0f} s of the 900 s limit ({wall / 9:.0f}%)")
        else:
            print(
                f"Lambda:             {wall:.0f} s for {args.users} users; extrapolated linearly "
                f"to {LAMBDA_USERS}: {wall * scale:.0f} s of the 900 s limit "
                f"({wall * scale / 9:.0f}%)"
            )
    for error in result["errors"]:
        print(f"first errors:       {error}")


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "none"


if __name__ == "__main__":
    sys.exit(main())

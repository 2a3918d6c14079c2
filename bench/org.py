"""Benchmark: audit an emulated organization with the per-user scan and the credential report.

Not a test. Seeds A accounts x U users (10% due for action by default: keys 95-150 days
old, the rest 10-60 days old) in a moto server running in its own process (seeding inside
that process, for speed), then audits every account once per scan mode, each audit in a fresh
client process, and prints side by side: API calls (counted on the server) per account, per
user needing action and by operation, wall time, and the client's peak memory.

    .venv/bin/python bench/org.py                          # 50 x 200, both paths
    .venv/bin/python bench/org.py --accounts 1000 --users 100 --modes report

moto serves about 250 calls a second (EMULATOR.md): wall time here measures moto more than
the tool. Calls are what the real IAM rate limits see; compare those.
"""

from __future__ import annotations

import argparse
import random
import resource
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
MODES = ("per-user", "report")
FIXED_BUDGET = 5  # calls per account
PER_USER_BUDGET = 2  # calls per user needing action


# -- runs inside the emulator's process ------------------------------------------------------
def seed_org(
    url: str, *, accounts: int, users: int, due_fraction: float, now_iso: str, seed: int
) -> list[tuple[str, str]]:
    """Create the member accounts and their users; return (account id, name) pairs."""
    from keyrotate_emulator.seed import OrganizationBuilder, seed_users

    now = datetime.fromisoformat(now_iso)
    rng = random.Random(seed)
    builder = OrganizationBuilder(url)
    created: list[tuple[str, str]] = []
    due = round(users * due_fraction)  # per account: the first users are the due ones
    for index in range(accounts):
        name = f"bench-{index:04d}"
        account = builder.account(name, f"{name}@example.com", "/Workloads")
        seed_users(url, account.account_id, user_specs(users, due, rng), now)
        created.append((account.account_id, name))
    return created


# -- runs in a fresh client process per mode -------------------------------------------------
def audit(url: str, accounts: list[tuple[str, str]], mode: str, workers: int) -> dict[str, Any]:
    use_emulator(url)
    import boto3

    from keyrotate.aws.organizations import Inventory
    from keyrotate.aws.session import AccountSessions
    from keyrotate.config import Settings
    from keyrotate.domain.models import Account, ActionKind
    from keyrotate.service.context import RunContext
    from keyrotate.service.options import RunOptions
    from keyrotate.service.organization import run_accounts
    from keyrotate.service.spill import SpilledAccounts

    sessions = AccountSessions(boto3.Session(), ROLE, region="us-east-1")
    settings = Settings.model_validate(
        {"scan_mode": mode, "workers": workers, "read_policy_name": None}
    )
    options = RunOptions.from_settings(settings, "us-east-1")
    context = RunContext(settings, "bench", sessions, options)
    inventory = Inventory(tuple(Account(a, n, f"{n}@example.com") for a, n in accounts), ())
    baseline_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    report = run_accounts(context, inventory, SpilledAccounts()).report
    wall = time.perf_counter() - started
    needing = users = 0
    paths: Counter[str] = Counter()
    failed = [a.error for a in report.accounts if a.error]
    for account in report.accounts:
        paths[account.scan_path] += 1
        for user in account.users:
            users += 1
            needing += any(a.kind is not ActionKind.EXEMPT for a in user.plan.actions)
    return {
        "wall_s": wall,
        "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "baseline_kib": baseline_kib,
        "users": users,
        "needing": needing,
        "paths": dict(paths),
        "failed": failed[:3],
        "failed_count": len(failed),
    }


# -- the parent: orchestrates and prints -----------------------------------------------------
def _row(label: str, values: list[str]) -> str:
    return f"{label:<42}" + "".join(f"{v:>18}" for v in values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--due-fraction", type=float, default=0.1)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--page-size", type=int, default=100, help="IAM page size (real: 100)")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    from keyrotate_emulator.process import EmulatorProcess

    module = Path(__file__).stem  # importable in the children: this directory is on sys.path
    now_iso = datetime.now(UTC).isoformat()
    print(
        f"seeding {args.accounts} accounts x {args.users} users "
        f"({args.due_fraction:.0%} due), IAM pages of {args.page_size}...",
        flush=True,
    )
    started = time.perf_counter()
    with EmulatorProcess(iam_page_size=args.page_size) as emulator:
        accounts = emulator.call(
            f"{module}:seed_org",
            emulator.url,
            accounts=args.accounts,
            users=args.users,
            due_fraction=args.due_fraction,
            now_iso=now_iso,
            seed=args.seed,
        )
        print(f"seeded in {time.perf_counter() - started:.1f} s", flush=True)
        results: dict[str, dict[str, Any]] = {}
        for mode in args.modes:
            emulator.reset_calls()
            with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
                result = pool.submit(audit, emulator.url, accounts, mode, args.workers).result()
            calls = emulator.calls()
            result["calls"] = calls
            results[mode] = result
            print(f"{mode}: {result['wall_s']:.1f} s, {calls.total()} calls", flush=True)

    _print(results, args)
    return 0


def _print(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    modes = list(results)
    a = args.accounts
    print()
    print(f"organization: {a} accounts x {args.users} users, workers={args.workers}")
    print(_row("", modes))
    lines: list[tuple[str, list[str]]] = []
    for label, fn in (
        ("accounts by scan path", lambda r: _paths(r["paths"])),
        ("accounts failed", lambda r: str(r["failed_count"])),
        ("users", lambda r: str(r["users"])),
        ("users needing action", lambda r: str(r["needing"])),
        ("API calls, total", lambda r: str(r["calls"].total())),
        ("  per account (all services)", lambda r: f"{r['calls'].total() / a:.1f}"),
        (
            "  member-account calls per account",
            lambda r: f"{(r['calls'].total() - r['calls'].total('sts')) / a:.1f}",
        ),
        ("  per user", lambda r: f"{r['calls'].total() / max(r['users'], 1):.2f}"),
        (
            "  per user needing action (after 5/acct)",
            lambda r: f"{_per_needing(r, a):.2f}",
        ),
        ("budget 5/account + 2/user-needing", lambda r: _budget(r, a)),
        ("wall time (s)", lambda r: f"{r['wall_s']:.1f}"),
        ("  accounts per second", lambda r: f"{a / r['wall_s']:.1f}"),
        ("client peak RSS (MiB)", lambda r: f"{r['peak_kib'] / 1024:.0f}"),
        (
            "  growth during the run (MiB)",
            lambda r: f"{(r['peak_kib'] - r['baseline_kib']) / 1024:.0f}",
        ),
    ):
        lines.append((label, [fn(results[m]) for m in modes]))
    for label, values in lines:
        print(_row(label, values))
    operations = sorted({op for r in results.values() for op in r["calls"].by_operation})
    print(_row("calls by operation", ["" for _ in modes]))
    for service, operation in operations:
        print(
            _row(
                f"  {service}:{operation}",
                [str(results[m]["calls"].by_operation.get((service, operation), 0)) for m in modes],
            )
        )
    for mode, result in results.items():
        if result["failed"]:
            print(f"{mode}: first failures: {result['failed']}")


def _paths(paths: dict[str, int]) -> str:
    short = {"credential-report": "report", "per-user": "per-user"}
    return " ".join(f"{short.get(k, k)}:{v}" for k, v in sorted(paths.items()))


def _member_calls(result: dict[str, Any]) -> int:
    """Calls made in member accounts: everything but the caller's AssumeRole/identity."""
    calls = result["calls"]
    return int(calls.total() - calls.total("sts"))


def _per_needing(result: dict[str, Any], accounts: int) -> float:
    spare = _member_calls(result) - FIXED_BUDGET * accounts
    return max(spare, 0) / max(result["needing"], 1)


def _budget(result: dict[str, Any], accounts: int) -> str:
    allowed = FIXED_BUDGET * accounts + PER_USER_BUDGET * result["needing"]
    spent = _member_calls(result)
    return f"{spent}/{allowed} {'ok' if spent <= allowed else 'OVER'}"


if __name__ == "__main__":
    sys.exit(main())

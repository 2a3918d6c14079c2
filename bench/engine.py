"""Benchmark the pure lifecycle engine: users planned per second on one core, and peak memory.

    .venv/bin/python bench/engine.py [--users 200000] [--seed 7]

Builds N synthetic users with a mix of key states (no keys, young, warned, due, unused, two keys
in each phase of a rotation, holds, blocked rotations, inactive keys, exempt and forced users),
times only ``plan()`` over all of them with ``time.perf_counter`` (best of --repeat passes;
CPU time is printed beside it), once handing each plan on and once keeping all of them, then
measures peak memory with ``tracemalloc`` in a separate pass so tracing does not distort the
timing. The input users are frozen out of the garbage collector (gc.freeze) before timing;
the collector stays on for everything plan() allocates. Target: >= 200,000 users/s.
"""

from __future__ import annotations

import argparse
import gc
import random
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from keyrotate.domain import (
    AccessKey,
    Exemption,
    KeyState,
    KeyStatus,
    Plan,
    RotationPolicy,
    UserKeys,
    plan,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
ACTIVE = KeyStatus.ACTIVE
INACTIVE = KeyStatus.INACTIVE

Builder = Callable[[random.Random, str], UserKeys]


class _Ids:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> str:
        self.count += 1
        return f"AKIA{self.count:016d}"


_new_id = _Ids()


def _ago(rnd: random.Random, low: float, high: float) -> datetime:
    """A moment between ``low`` and ``high`` days before NOW, to the second."""
    return NOW - timedelta(seconds=rnd.randint(int(low * 86_400), int(high * 86_400)))


def _key(
    rnd: random.Random,
    age: tuple[float, float],
    status: KeyStatus = ACTIVE,
    used: tuple[float, float] | None = (0, 1),
) -> AccessKey:
    created = _ago(rnd, *age)
    last_used = None if used is None else max(created, _ago(rnd, *used))
    return AccessKey(_new_id(), status, created, last_used)


def _rotated(
    name: str, old: AccessKey, new: AccessKey, deactivated: datetime | None = None
) -> UserKeys:
    """A user mid-rotation: the secret holds ``new``; the tool may have deactivated ``old``."""
    dates = {old.key_id: deactivated} if deactivated is not None else {}
    state = KeyState(new.key_id, new.created, dates)
    return UserKeys(name, (old, new), state)


def no_keys(rnd: random.Random, name: str) -> UserKeys:
    return UserKeys(name, ())


def young(rnd: random.Random, name: str) -> UserKeys:
    k = _key(rnd, (0, 80))
    return UserKeys(name, (k,), KeyState(k.key_id, k.created))


def warned(rnd: random.Random, name: str) -> UserKeys:
    return UserKeys(name, (_key(rnd, (83, 89.9)),))


def due(rnd: random.Random, name: str) -> UserKeys:
    return UserKeys(name, (_key(rnd, (90, 500)),))


def unused(rnd: random.Random, name: str) -> UserKeys:
    return UserKeys(name, (_key(rnd, (90, 300), used=None),))


def installing(rnd: random.Random, name: str) -> UserKeys:
    return _rotated(name, _key(rnd, (100, 400), used=(9, 10)), _key(rnd, (0, 9.9)))


def deactivating(rnd: random.Random, name: str) -> UserKeys:
    old = _key(rnd, (100, 400), used=(20, 30))
    return _rotated(name, old, _key(rnd, (10, 19), used=(0, 1)))


def recovering(rnd: random.Random, name: str) -> UserKeys:
    old = _key(rnd, (110, 400), INACTIVE, used=(20, 30))
    return _rotated(name, old, _key(rnd, (10, 30)), _ago(rnd, 0, 9.9))


def deleting(rnd: random.Random, name: str) -> UserKeys:
    old = _key(rnd, (110, 400), INACTIVE, used=(30, 40))
    return _rotated(name, old, _key(rnd, (20, 60)), _ago(rnd, 10, 20))


def held(rnd: random.Random, name: str) -> UserKeys:
    return _rotated(name, _key(rnd, (100, 300)), _key(rnd, (10, 60), used=None))


def blocked(rnd: random.Random, name: str) -> UserKeys:
    old = _key(rnd, (150, 400), INACTIVE, used=(30, 40))
    return _rotated(name, old, _key(rnd, (95, 120)), _ago(rnd, 0, 5))


def two_old_keys(rnd: random.Random, name: str) -> UserKeys:
    """Found with two old active keys: deactivate one, rotation blocked."""
    return UserKeys(name, (_key(rnd, (300, 500)), _key(rnd, (150, 299))))


def lone_inactive(rnd: random.Random, name: str) -> UserKeys:
    return UserKeys(name, (_key(rnd, (50, 400), INACTIVE, used=None),))


def exempt(rnd: random.Random, name: str) -> UserKeys:
    source = rnd.choice(("group", "tag"))
    return UserKeys(name, (_key(rnd, (90, 500)),), exemption=Exemption(source))


def forced(rnd: random.Random, name: str) -> UserKeys:
    return UserKeys(name, (_key(rnd, (0, 80)),), forced=True)


def orphaned(rnd: random.Random, name: str) -> UserKeys:
    old = _key(rnd, (95, 200))
    orphan = AccessKey(_new_id(), ACTIVE, NOW - timedelta(hours=2), None)
    state = KeyState(old.key_id, old.created, intent_at=orphan.created - timedelta(minutes=1))
    return UserKeys(name, (old, orphan), state)


# Weights: most users of a real organization are quiet; every branch is still exercised.
MIX: tuple[tuple[Builder, int], ...] = (
    (no_keys, 10),
    (young, 30),
    (warned, 5),
    (due, 8),
    (unused, 3),
    (installing, 6),
    (deactivating, 5),
    (recovering, 5),
    (deleting, 4),
    (held, 3),
    (blocked, 3),
    (two_old_keys, 3),
    (lone_inactive, 5),
    (exempt, 5),
    (forced, 2),
    (orphaned, 1),
)


def build_users(count: int, seed: int) -> list[UserKeys]:
    rnd = random.Random(seed)
    builders = [b for b, _ in MIX]
    weights = [w for _, w in MIX]
    chosen = rnd.choices(builders, weights, k=count)
    users = [builder(rnd, f"user-{i:07d}") for i, builder in enumerate(chosen)]
    # IAM lists keys in no promised order: half of the two-key users list the newest first.
    return [
        UserKeys(u.user_name, u.keys[::-1], u.state, u.exemption, u.forced)
        if len(u.keys) == 2 and rnd.random() < 0.5
        else u
        for u in users
    ]


def plan_all(users: list[UserKeys], policy: RotationPolicy) -> list[Plan]:
    """Plan every user and keep every plan, as a run report holding them all would."""
    return [plan(u, policy, now=NOW) for u in users]


def plan_each(users: list[UserKeys], policy: RotationPolicy) -> None:
    """Plan every user, handing each plan on at once (a streaming scan): the engine's cost."""
    plan_ = plan
    for u in users:
        plan_(u, policy, now=NOW)


def best_of(
    repeat: int,
    run: Callable[[list[UserKeys], RotationPolicy], object],
    users: list[UserKeys],
    policy: RotationPolicy,
) -> tuple[float, float]:
    """(best wall time, best CPU time) of ``repeat`` calls of ``run``, in seconds.

    Wall time (perf_counter) is the figure; this process's CPU time is printed beside it
    because on a shared machine other processes stretch wall time without the engine doing
    more work.
    """
    walls: list[float] = []
    cpus: list[float] = []
    for _ in range(repeat):
        cpu_started = time.process_time()
        started = time.perf_counter()
        run(users, policy)
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu_started)
        gc.collect()  # do not bill one pass's garbage to the next
    return min(walls), min(cpus)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=200_000, help="synthetic users to plan")
    parser.add_argument("--seed", type=int, default=7, help="random seed for the user mix")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes; the best is kept")
    args = parser.parse_args(argv)
    if args.users <= 0 or args.repeat <= 0:
        parser.error("--users and --repeat must be greater than 0")

    policy = RotationPolicy()
    users = build_users(args.users, args.seed)
    # The synthetic users are long-lived input, built once as a scan's would be: move them out
    # of the collector's reach so that full collections triggered by the plans being made do
    # not re-walk 200,000 users and bill it to the engine. The collector stays on for plans.
    gc.collect()
    gc.freeze()

    each_wall, each_cpu = best_of(args.repeat, plan_each, users, policy)
    kept_wall, kept_cpu = best_of(args.repeat, plan_all, users, policy)

    tracemalloc.start()
    plans = plan_all(users, policy)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    n = args.users
    kinds = Counter(a.kind.value for p in plans for a in p.actions)
    print(f"users planned:        {n:,} (seed {args.seed}, best of {args.repeat} passes)")
    print(f"users per second:     {n / each_wall:,.0f} (one core, wall; target >= 200,000)")
    print(f"  by CPU time:        {n / each_cpu:,.0f} (this process only)")
    print(f"  all plans kept:     {n / kept_wall:,.0f} wall, {n / kept_cpu:,.0f} CPU")
    print("                      (the collector then re-walks every plan made so far)")
    print(f"peak memory:          {peak / 2**20:.1f} MiB (planning pass, plans kept)")
    print("actions by kind:      " + ", ".join(f"{k}={c:,}" for k, c in sorted(kinds.items())))
    print(f"users with no action: {sum(1 for p in plans if not p.actions):,}")


if __name__ == "__main__":
    main()

"""Profile one page of the benchmark on the data `make bench` loaded last.

    python -m bench.profile queue|conversation|dashboard|api [--n 200] [--top 40]
    python -m bench.profile conversation --timing [--n 400]

Runs the scenario's calls in-process (as bench.pages measures them) under
cProfile and prints the functions by own time, then by cumulative time.
With `--timing`, no profiler: one line of the calls' CPU and wall-clock
p50 / p95, to compare two checkouts of the code on the same data, in turn
(A B A B…: a virtual machine's speed drifts within minutes, so only pairs
taken one right after the other compare):

    git worktree add /tmp/before <commit>
    ln -s "$PWD/.venv" "$PWD/staticfiles" /tmp/before/
    for i in 1 2 3; do
        (cd /tmp/before && .venv/bin/python -m bench.profile conversation --timing)
        .venv/bin/python -m bench.profile conversation --timing
    done

It reads the benchmark database as it is: run `make bench-quick` (or `make
bench`) first to load it.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from collections.abc import Callable
from typing import Any

from . import env, measure


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", choices=["queue", "conversation", "dashboard", "api", "picker", "warnings"])
    parser.add_argument("--n", type=int, default=200, help="calls to profile (after 20 warm-up calls)")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--timing", action="store_true", help="no profiler: CPU and wall p50/p95 of the calls")
    args = parser.parse_args(argv)
    env.configure()
    env.setup_django()
    from . import pages
    from .load import loaded_from_database

    loaded = loaded_from_database()
    scenario = pages.SCENARIOS[args.scenario]
    how, calls = scenario.build(loaded, pages.Context(loaded))
    if args.timing:
        print(f"{args.scenario}: {how}: {timing_line(calls, n=args.n)}")
        return 0
    for i in range(20):
        calls[i % len(calls)]()
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for i in range(args.n):
        calls[i % len(calls)]()
    profiler.disable()
    elapsed = time.perf_counter() - started
    print(f"{args.scenario}: {how}: {args.n} calls, {elapsed / args.n * 1000:.1f} ms a call under the profiler")
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime").print_stats(args.top)
    stats.sort_stats("cumulative").print_stats(args.top)
    return 0


def timing_line(calls: list[Callable[[], Any]], *, n: int, warmup: int = 60) -> str:
    """The calls' CPU (this process's) and wall-clock p50 / p95, round-robin
    after `warmup` untimed calls."""
    timing = measure.time_calls(calls, n=n, warmup=warmup)
    cpu_p95 = measure.percentile(timing.cpu, 0.95) * 1000
    cpu_p50 = measure.percentile(timing.cpu, 0.5) * 1000
    return (f"{n} calls: CPU p50 {cpu_p50:.2f} ms, p95 {cpu_p95:.2f} ms; "
            f"wall p50 {timing.p50_ms:.2f} ms, p95 {timing.p95_ms:.2f} ms")


if __name__ == "__main__":
    raise SystemExit(main())

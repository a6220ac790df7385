"""Profile one page of the benchmark on the data `make bench` loaded last.

    python -m bench.profile queue|conversation|dashboard|api [--n 200] [--top 40]

Runs the scenario's calls in-process (as bench.pages measures them) under
cProfile and prints the functions by own time, then by cumulative time. It
reads the benchmark database as it is: run `make bench-quick` (or `make
bench`) first to load it.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

from . import env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", choices=["queue", "conversation", "dashboard", "api", "picker", "warnings"])
    parser.add_argument("--n", type=int, default=200, help="calls to profile (after 20 warm-up calls)")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args(argv)
    env.configure()
    env.setup_django()
    from . import pages
    from .load import loaded_from_database

    loaded = loaded_from_database()
    scenario = pages.SCENARIOS[args.scenario]
    how, calls = scenario.build(loaded, pages.Context(loaded))
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


if __name__ == "__main__":
    raise SystemExit(main())

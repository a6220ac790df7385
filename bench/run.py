# ruff: noqa: RUF001, RUF003 - the table's × and – are meant
"""`make bench`: every benchmark, each figure next to its limit.

    python -m bench.run [--suite all|ingest|inbox|dashboard|saved-replies] [--quick]

Order of a full run: load 10 k messages, measure the pages; load 1 M, measure
them again (the growth); then with 1 M stored, start gunicorn, a Celery
worker and beat, and measure ingestion, processing, end to end, deadline
marks, pages over HTTP and the processes' memory. Results:
bench/results/<date>[-suite][-quick].json and .md.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import traceback
from datetime import UTC, datetime
from typing import Any

from . import env

SUITES = {
    "all": {"pages": ["queue", "conversation", "dashboard", "api", "picker", "warnings"],
            "stack": ["ingest", "processing", "e2e", "deadlines", "http", "memory"]},
    "ingest": {"pages": [], "stack": ["ingest", "processing", "e2e"]},
    "inbox": {"pages": ["queue", "conversation"], "stack": []},
    "dashboard": {"pages": ["dashboard", "api"], "stack": ["deadlines"]},
    "saved-replies": {"pages": ["picker", "warnings"], "stack": []},
}


class Settings:
    def __init__(self, quick: bool) -> None:
        self.quick = quick
        self.small = 10_000
        self.large = 100_000 if quick else 1_000_000
        self.n = 40 if quick else 200
        self.warmup = 5 if quick else 20
        self.http_n = 20 if quick else 100
        self.ingest = 1000 if quick else 6000
        self.e2e_seconds = 5 if quick else 30
        self.e2e_rate = 100.0
        # Throughput phases stop after this long (a busy machine must not
        # turn a run into an hour); their rates are what was done meanwhile.
        self.phase_seconds = 6 if quick else 30
        # How long the worker may take to catch up after the end-to-end run.
        self.drain_seconds = 15 if quick else 60
        self.deadline_ros = 8 if quick else 15


def log(message: str) -> None:
    print(f"[bench {datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


def load(size: int) -> Any:
    from . import load as loader

    log(f"loading {size:,} messages by COPY…")
    loaded = loader.load(loader.Sizes(messages=size), dsn=os.environ["DATABASE_URL"])
    # The benchmark's own Redis database: live versions, cached sessions and
    # "rollups complete" marks of the previous load (same ids) must go.
    from django.core.cache import cache

    cache.clear()
    rollup_seconds = loader.build_rollups(loaded)
    log(f"loaded {sum(loaded.counts.values()):,} rows in {loaded.seconds:.1f} s "
        f"({loaded.rows_per_second:,.0f} rows/s; rollups {rollup_seconds:.1f} s): {loaded.counts}")
    loaded.phases["rollups"] = rollup_seconds
    return loaded


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", nargs="?", default="run", choices=["run", "process-loop"])
    parser.add_argument("--suite", default="all", choices=sorted(SUITES))
    parser.add_argument("--quick", action="store_true", help="small sizes, short runs (< 3 min)")
    args = parser.parse_args(argv)

    if args.command == "process-loop":
        env.configure()
        env.setup_django()
        from .pipeline import process_loop_child

        process_loop_child()
        return 0

    started = time.perf_counter()
    sampler = LoadSampler()
    sampler.start()
    child_env = env.configure()
    log(f"database {os.environ['DATABASE_URL'].rsplit('/', 1)[-1]}, redis {os.environ['REDIS_URL']}")
    env.ensure_database()
    env.setup_django()
    settings = Settings(args.quick)
    suite = SUITES[args.suite]
    raw: dict[str, Any] = {"pages": {}, "stack": {}, "loads": {}, "errors": {}}

    from . import pages

    large = None
    # Pages are measured at both sizes (the growth); the ingestion suite
    # alone needs one small load (its Pages and customers).
    for size in [settings.small, settings.large] if suite["pages"] else [settings.small]:
        loaded = load(size)
        raw["loads"][str(size)] = {"counts": loaded.counts, "seconds": round(loaded.seconds, 1),
                                   "phases": {k: round(v, 1) for k, v in loaded.phases.items()},
                                   "history_days": round(loaded.sizes.history_days, 1)}
        if suite["pages"]:
            log(f"pages at {size:,} messages: {', '.join(suite['pages'])}")
            before = calibrate()
            raw["pages"][str(size)] = pages.run(suite["pages"], loaded, n=settings.n, warmup=settings.warmup)
            raw.setdefault("calibration_ms", {})[str(size)] = round((before + calibrate()) / 2, 2)
            for name, result in raw["pages"][str(size)].items():
                if "error" in result:
                    log(f"  {name}: ERROR {result['error']}")
                else:
                    log(f"  {name}: server p50 {result['server']['p50_ms']:.1f} ms p95 "
                        f"{result['server']['p95_ms']:.1f} ms | SQL p95 {result['sql']['p95_ms']:.1f} ms "
                        f"({result['queries']} queries) [{result['how']}]")
        large = loaded
    if suite["stack"] and large is not None:
        from .stack_phases import run_stack

        run_stack(suite["stack"], large, settings, child_env, raw, log)

    from .summary import rows_and_notes

    sampler.stop()
    cores = os.cpu_count() or 1
    busy = bool(sampler.samples) and max(sampler.samples) > cores
    rows, notes = rows_and_notes(raw, settings, busy=busy)
    if busy:
        notes.insert(0, f"The machine was busy with other work during this run (load average up to "
                        f"{max(sampler.samples):.1f} on {cores} cores): wall-clock figures are pessimistic; "
                        "CPU p50 (the web process's own CPU per request) is the figure least affected.")
    calibration = raw.get("calibration_ms", {})
    if len(calibration) == 2:
        small_ms, large_ms = (calibration[key] for key in sorted(calibration, key=int))
        notes.append(
            f"Machine speed: a fixed piece of CPU work (rendering a template and a JSON round trip, "
            f"measured before and after each size's pages) took {small_ms:.2f} ms at the small size and "
            f"{large_ms:.2f} ms at the large one ({large_ms / small_ms:.2f}×). A growth ratio above includes "
            "that drift of the machine itself; it is not corrected."
        )
    name = datetime.now(UTC).strftime("%Y-%m-%d")
    if args.suite != "all":
        name += f"-{args.suite}"
    if args.quick:
        name += "-quick"
    meta = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "suite": args.suite + (" (quick)" if args.quick else ""),
        "machine": f"{os.cpu_count()} cores, {_memory_gb()} GB RAM, {platform.platform()}",
        "python": sys.version.split()[0],
        "postgresql": _pg_version(),
        "durability": _durability(),
        "sizes": " and ".join(f"{int(size):,}" for size in raw["loads"]) + " messages",
        "duration": f"{time.perf_counter() - started:.0f} s",
        "load average (1 min) during the run": sampler.summary(),
    }
    from . import report

    json_path, md_path = report.write(name, title=f"Réactif benchmark {name}", meta=meta, rows=rows,
                                      raw=raw, notes=notes)
    print()
    print(md_path.read_text())
    log(f"written {json_path.relative_to(env.ROOT)} and {md_path.relative_to(env.ROOT)}")
    return 1 if raw["errors"] else 0


def calibrate(rounds: int = 15) -> float:
    """The machine's speed now: the median CPU milliseconds of a fixed piece
    of the work pages do (a template rendered, JSON round-tripped). On a
    shared machine this drifts between the two sizes of a run; the growth
    ratios are read next to it."""
    import json

    from django.template import engines

    template = engines["django"].from_string(
        '{% for item in items %}<li class="{{ item.k }}">{{ item.v|upper }}</li>{% endfor %}'
    )
    payload = {"items": [{"k": f"c{i}", "v": f"valeur {i} é"} for i in range(300)]}
    times = []
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(5):
            template.render(payload)
            json.loads(json.dumps(payload))
        times.append((time.process_time() - start) * 1000)
    times.sort()
    return times[len(times) // 2]


class LoadSampler:
    """The machine's load average every few seconds, so a result says
    whether it was measured alone or beside other work."""

    def __init__(self) -> None:
        import threading

        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from .measure import load_average

        while not self._stop.is_set():
            self.samples.append(load_average())
            self._stop.wait(5)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> str:
        if not self.samples:
            return "–"
        return (f"min {min(self.samples):.1f}, median {sorted(self.samples)[len(self.samples) // 2]:.1f}, "
                f"max {max(self.samples):.1f} ({os.cpu_count()} cores)")


def _memory_gb() -> int:
    with open("/proc/meminfo") as meminfo:
        return round(int(meminfo.readline().split()[1]) / 1024 / 1024)


def _pg_version() -> str:
    return _show("server_version")


def _show(setting: str) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SHOW {setting}")  # a name from this file, never input
        return cursor.fetchone()[0]


def _durability() -> str:
    """Whether a commit here costs what it costs in production: a figure
    measured with fsync or synchronous_commit off is flattering."""
    settings = {name: _show(name) for name in ("fsync", "synchronous_commit", "full_page_writes")}
    text = ", ".join(f"{name} {value}" for name, value in settings.items())
    if set(settings.values()) != {"on"}:
        return f"{text}: NOT as in production, commits are cheaper than they would be"
    return f"{text} (as in production)"


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception:  # noqa: BLE001 - printed, and the run fails
        traceback.print_exc()
        sys.exit(1)

"""Timing: percentiles, a page's server time, and the bare SQL it runs.

A page is measured in-process (Django's test Client against the real
PostgreSQL: middleware, view, queries, template, no network), and its limit
is measured beside it: the SELECTs the view ran, captured once and replayed
with psycopg directly, which is what the database alone needs to answer.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest rank (as DOMAIN.md computes p90): the value at ⌈q·n⌉."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass
class Timing:
    """Durations in seconds, summarised in milliseconds."""

    samples: list[float] = field(default_factory=list)
    # CPU time of this process for the same calls: what the request costs
    # the web server itself, and a figure a busy machine barely moves.
    cpu: list[float] = field(default_factory=list)

    @property
    def p50_ms(self) -> float:
        return percentile(self.samples, 0.5) * 1000

    @property
    def p95_ms(self) -> float:
        return percentile(self.samples, 0.95) * 1000

    @property
    def max_ms(self) -> float:
        return max(self.samples) * 1000 if self.samples else float("nan")

    def as_dict(self) -> dict[str, float]:
        out = {"n": len(self.samples), "p50_ms": round(self.p50_ms, 3), "p95_ms": round(self.p95_ms, 3),
               "max_ms": round(self.max_ms, 3)}
        if self.cpu:
            out["cpu_p50_ms"] = round(percentile(self.cpu, 0.5) * 1000, 3)
        return out


def time_calls(calls: Sequence[Callable[[], Any]], *, n: int, warmup: int) -> Timing:
    """Call `calls` round-robin: `warmup` untimed calls, then `n` timed ones."""
    for i in range(warmup):
        calls[i % len(calls)]()
    timing = Timing()
    for i in range(n):
        call = calls[i % len(calls)]
        cpu_started = time.process_time()
        started = time.perf_counter()
        call()
        timing.samples.append(time.perf_counter() - started)
        timing.cpu.append(time.process_time() - cpu_started)
    return timing


# ---------------------------------------------------------------------------


@dataclass
class Captured:
    """The statements one request (or selector call) ran."""

    selects: list[str]
    others: list[str]

    @property
    def count(self) -> int:
        return len(self.selects) + len(self.others)


def capture(call: Callable[[], Any]) -> Captured:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as context:
        call()
    selects: list[str] = []
    others: list[str] = []
    for query in context.captured_queries:
        sql = query["sql"]
        head = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
        (selects if head in ("SELECT", "WITH") else others).append(sql)
    return Captured(selects=selects, others=others)


def replay_sql(captured: Sequence[Captured], *, n: int, warmup: int, conn: Any = None) -> Timing:
    """Replay each request's SELECTs with psycopg (no ORM, no view, no
    template): the time the database needs for what the page asked."""
    import psycopg

    own = conn is None
    if own:
        conn = psycopg.connect(os.environ["DATABASE_URL"], autocommit=True)
    try:
        def run(statements: list[str]) -> Callable[[], None]:
            def call() -> None:
                with conn.cursor() as cursor:
                    for sql in statements:
                        cursor.execute(sql.encode())
                        if cursor.description is not None:
                            cursor.fetchall()
            return call

        return time_calls([run(c.selects) for c in captured], n=n, warmup=warmup)
    finally:
        if own:
            conn.close()


def load_average() -> float:
    """The machine's 1-minute load average: above the number of cores, other
    work was competing for the CPU and every wall-clock figure is pessimistic."""
    with open("/proc/loadavg") as handle:
        return float(handle.read().split()[0])


def peak_rss_mb(pid: int) -> dict[str, float]:
    """Resident memory of a process from /proc: now and its peak (VmHWM)."""
    values = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024
    return {"rss_mb": round(values.get("VmRSS", 0.0), 1), "peak_mb": round(values.get("VmHWM", 0.0), 1)}


def children(pid: int) -> list[int]:
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found += [int(p) for p in handle.read().split()]
    except FileNotFoundError:
        pass
    return found

"""Profiling aid: EXPLAIN ANALYZE every statement a scenario runs.

    python -m bench.explain queue conversation …   (on the loaded bench DB)

Prints each SELECT's execution time and plan, slowest first, so a page that
misses its target shows which query (and which missing index) is the cause.
"""

from __future__ import annotations

import sys


def main(names: list[str]) -> None:
    from . import env

    env.configure()
    env.setup_django()
    import psycopg

    from . import measure, pages
    from .load import loaded_from_database

    loaded = loaded_from_database()
    ctx = pages.Context(loaded)
    import os

    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        for name in names:
            how, calls = pages.SCENARIOS[name].build(loaded, ctx)
            for call in calls[:3]:
                call()  # warm
            captured = measure.capture(calls[0])
            print(f"=== {name}: {how} — {captured.count} statements")
            plans = []
            for sql in captured.selects:
                rows = conn.execute(b"EXPLAIN (ANALYZE, BUFFERS) " + sql.encode()).fetchall()
                text = "\n".join(r[0] for r in rows)
                total = float(text.rsplit("Execution Time: ", 1)[1].split()[0])
                plans.append((total, sql, text))
            for total, sql, text in sorted(plans, key=lambda p: p[0], reverse=True):
                print(f"--- {total:.2f} ms: {sql[:400]}")
                print(text)


if __name__ == "__main__":
    main(sys.argv[1:] or list(__import__("bench.pages").pages.SCENARIOS))

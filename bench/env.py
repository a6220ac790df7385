"""The benchmark's environment, set before Django reads its settings.

The benchmarks run on the PostgreSQL and Redis that `make services` starts (as
`make test` does) but never share data with anyone: a database of their own
(`reactif_bench`), Redis database 1 (the tests flush database 0 between
tests, which would drop our queued tasks), their own Celery queue and cache
prefix. Production settings otherwise: DEBUG off, real cache, real broker.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = os.environ.get("BENCH_DB_NAME", "reactif_bench")
BENCH_REDIS_DB = os.environ.get("BENCH_REDIS_DB", "1")
APP_SECRET = "bench-app-secret"  # noqa: S105 - signs the benchmark's own deliveries


def _with_path(url: str, path: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


def configure(*, graph_url: str = "") -> dict[str, str]:
    """Point this process (and the subprocesses it starts) at the benchmark
    database and Redis. Returns the environment for subprocesses."""
    database_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")) or not redis_url.startswith("redis://"):
        sys.exit(
            "bench: needs real PostgreSQL and Redis: run `make bench` (it starts them), "
            "or export DATABASE_URL=postgres://… and REDIS_URL=redis://…"
        )
    values = {
        "DATABASE_URL": os.environ.get("BENCH_DATABASE_URL") or _with_path(database_url, f"/{BENCH_DB}"),
        "REDIS_URL": os.environ.get("BENCH_REDIS_URL") or _with_path(redis_url, f"/{BENCH_REDIS_DB}"),
        "CELERY_QUEUE": "reactif-bench",
        "CACHE_KEY_PREFIX": "reactif-bench",
        "DEBUG": "0",
        "SECRET_KEY": "bench-" + "Zq8vR2mXk4Lp9sWt6yBn3cHd7fJg5aQe1uIo0" * 2,
        "FIELD_ENCRYPTION_KEY": "cmVhY3RpZi1iZW5jaC1rZXktMzItYnl0ZXMtMDAwMDA=",
        "META_APP_SECRET": APP_SECRET,
        "META_VERIFY_TOKEN": "bench-verify-token",
        "META_APP_ID": "424242",
        "ALLOWED_HOSTS": "testserver,localhost,127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "LOG_LEVEL": "WARNING",
        "REACTIF_VAR_DIR": str(ROOT / "var" / "bench"),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PYTHONUNBUFFERED": "1",
    }
    if graph_url:
        values["META_GRAPH_URL"] = graph_url
    os.environ.update(values)
    return dict(os.environ)


def ensure_database() -> None:
    """Create the benchmark database if needed, then migrate it."""
    import psycopg

    url = os.environ["DATABASE_URL"]
    admin_url = _with_path(url, "/postgres")
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
        # A commit waits for its WAL on disk, as in production (the server
        # `make services` starts lets the tests' databases skip that wait).
        conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = on')
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, check=True, env=dict(os.environ)
    )


def setup_django() -> None:
    import django

    django.setup()

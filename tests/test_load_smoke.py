"""`make load`'s script, for a few seconds inside `make test` (issue 8,
item 3): gunicorn, a worker and beat on this run's PostgreSQL and Redis, Meta
sending deliveries and agents polling, opening and replying over HTTP. The
figures (p95, memory) come from `make load`; this proves the script and the
stack hold together: no error, every delivery processed, no reply doubled."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.stack


def test_a_short_load_run_has_no_error(tmp_path):
    results = tmp_path / "load.json"
    env = {k: v for k, v in os.environ.items() if k not in ("CELERY_QUEUE", "CACHE_KEY_PREFIX")}
    run = subprocess.run(
        [sys.executable, "load/run.py", "--use-env-services", "--duration", "20", "--rate", "5", "--agents", "3",
         "--warmup", "0", "--results", str(results)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    figures = json.loads(results.read_text())
    statuses = {page: p["statuses"] for page, p in figures["pages"].items()}
    # No error page of any kind (5xx, or a 4xx such as a CSRF refusal)...
    assert not [(page, s) for page, by in statuses.items() for s in by if s.isdigit() and int(s) >= 400], statuses
    # ...and no more than a stray dropped connection (a busy machine can make
    # gunicorn restart a worker that missed its heartbeat).
    dropped = sum(n for by in statuses.values() for s, n in by.items() if not s.isdigit())
    assert dropped <= max(2, figures["requests"] // 50), statuses
    assert figures["drained"] is True
    for page in ("webhook", "queue", "conversation", "live", "api"):
        assert figures["pages"][page]["requests"] > 0, page
    assert figures["pages"]["webhook"]["statuses"] == {"200": figures["pages"]["webhook"]["requests"]}
    assert figures["graph"]["double_sends"] == 0

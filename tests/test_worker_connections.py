"""The worker keeps its database connection between tasks (Celery's fixup
would open one per task) and still never reuses one PostgreSQL dropped."""

from __future__ import annotations

import psycopg
import pytest
from celery.signals import task_postrun, task_prerun
from django.db import connection

from inbox import tasks
from inbox.models import Delivery

pytestmark = pytest.mark.django_db(transaction=True)


def _task_boundary() -> None:
    """What the worker signals around a task (the fixup and ours listen)."""
    task_postrun.send(sender=tasks.process_delivery, task_id="t", task=tasks.process_delivery, args=(), kwargs={})
    task_prerun.send(sender=tasks.process_delivery, task_id="t", task=tasks.process_delivery, args=(), kwargs={})


def _dsn() -> str:
    params = connection.get_connection_params()
    return psycopg.conninfo.make_conninfo(**{k: v for k, v in params.items() if k in (
        "host", "port", "user", "password")}, dbname=params["dbname"])


def test_the_connection_is_kept_from_one_task_to_the_next():
    Delivery.objects.exists()
    backend = connection.connection.info.backend_pid
    _task_boundary()
    Delivery.objects.exists()
    assert connection.connection.info.backend_pid == backend


def test_a_connection_postgresql_dropped_is_replaced_before_the_next_task():
    Delivery.objects.exists()
    backend = connection.connection.info.backend_pid
    with psycopg.connect(_dsn(), autocommit=True) as admin:  # PostgreSQL restarted, or killed the session
        admin.execute("SELECT pg_terminate_backend(%s)", [backend])
    _task_boundary()
    assert Delivery.objects.exists() is False  # the next task's first query works
    assert connection.connection.info.backend_pid != backend


@pytest.mark.django_db(transaction=False)
def test_a_worker_starts_while_postgresql_is_down(tmp_path):
    """It used to die at start-up, in the system checks Celery runs (one
    asks PostgreSQL its version), and stay dead."""
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    log = tmp_path / "worker.log"
    env = {**os.environ, "DATABASE_URL": "postgres://postgres@127.0.0.1:1/nowhere",
           "CELERY_QUEUE": f"worker-start-{os.getpid()}"}
    env.pop("CELERY_SKIP_CHECKS", None)
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [str(Path(sys.executable).parent / "celery"), "-A", "config", "worker", "--pool", "solo",
             "--loglevel", "INFO", "-n", f"start-check-{os.getpid()}@%h", "--without-heartbeat",
             "--without-gossip", "--without-mingle"],
            cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and worker.poll() is None and b" ready." not in log.read_bytes():
                time.sleep(0.2)
            assert worker.poll() is None, f"the worker died:\n{log.read_text()[-3000:]}"
            assert b" ready." in log.read_bytes(), log.read_text()[-3000:]
        finally:
            worker.terminate()
            worker.wait(timeout=30)

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

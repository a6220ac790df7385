from __future__ import annotations

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Celery's Django fixup runs Django's system checks as a worker starts, and
# only to let one raise: it discards what they report. One of them (a
# GeneratedField's, templates_app) asks PostgreSQL for its version, so a
# worker started while PostgreSQL restarted died there, for good (chaos
# scenario "all": the worker restarted, then PostgreSQL). A worker must start
# and wait for its database like every task does. The checks run where they
# are read: `manage.py migrate` and `check --deploy` at each deploy, and the
# test suite.
os.environ.setdefault("CELERY_SKIP_CHECKS", "1")

app = Celery("reactif")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def check_database_connections(task=None, **kwargs) -> None:
    """What Django does around each request, around each task: drop a
    connection past CONN_MAX_AGE or left unusable by an error, and health-check
    the kept one before its next query (CELERY_DB_REUSE_MAX keeps it open).
    Not for a task run eagerly: that one runs inside its caller's transaction."""
    from django.db import close_old_connections

    if task is not None and getattr(task.request, "is_eager", False):
        return
    close_old_connections()

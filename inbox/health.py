"""GET /healthz (CONTRACT.md): database, broker and worker heartbeat."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from config.celery import app as celery_app

from .models import WorkerHeartbeat

# The heartbeat task runs every 10 s; three missed beats mean no worker.
WORKER_STALE_SECONDS = 30


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    body: dict[str, object] = {}
    healthy = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        body["db"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means the database is down for us
        body["db"] = f"down: {exc.__class__.__name__}"
        healthy = False
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=0, timeout=2)
        body["broker"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means the broker is down for us
        body["broker"] = f"down: {exc.__class__.__name__}"
        healthy = False
    age = None
    if body["db"] == "ok":
        beat = WorkerHeartbeat.objects.filter(name="worker").first()
        age = None if beat is None else round(beat.age().total_seconds(), 1)
    body["worker"] = age
    if age is None or age > WORKER_STALE_SECONDS:
        healthy = False
    body["status"] = "ok" if healthy else "down"
    return JsonResponse(body, status=200 if healthy else 503)

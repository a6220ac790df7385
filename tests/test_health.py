"""GET /healthz (CONTRACT.md): database, broker and the worker's heartbeat."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from inbox.models import WorkerHeartbeat

pytestmark = pytest.mark.django_db


def beat(seconds_ago: float) -> None:
    WorkerHeartbeat.objects.update_or_create(
        name="worker", defaults={"beat_at": timezone.now() - timedelta(seconds=seconds_ago)})


def test_it_is_healthy_with_a_database_a_broker_and_a_live_worker(client):
    beat(4)
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert (body["db"], body["broker"], body["status"]) == ("ok", "ok", "ok")
    assert 3.5 <= body["worker"] < 10  # the heartbeat's age in seconds


def test_it_needs_no_sign_in_and_leaks_nothing(client, alice):
    beat(1)
    response = client.get("/healthz")
    assert response.status_code == 200
    assert set(response.json()) == {"db", "broker", "worker", "status"}


def test_it_is_down_when_the_worker_heartbeat_is_stale(client):
    beat(45)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["worker"] >= 45
    assert (body["db"], body["broker"], body["status"]) == ("ok", "ok", "down")


def test_it_is_down_when_no_worker_ever_beat(client):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["worker"] is None


def test_it_is_down_quickly_when_the_broker_is_unreachable(client):
    from config.celery import app

    beat(1)
    original = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    try:
        started = time.monotonic()
        response = client.get("/healthz")
        elapsed = time.monotonic() - started
    finally:
        app.conf.broker_url = original
    assert response.status_code == 503
    body = response.json()
    assert body["broker"].startswith("down")
    assert body["db"] == "ok"
    assert elapsed < 5  # a load balancer's probe must not hang


def test_it_answers_plain_http_probes_even_when_https_is_enforced(client, settings):
    # Container health checks call http://localhost:8000/healthz.
    settings.SECURE_SSL_REDIRECT = True
    beat(1)
    assert client.get("/healthz").status_code == 200
    assert client.get("/accounts/login/").status_code == 301

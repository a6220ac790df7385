"""The chaos scenarios' fast versions (issue 8, item 1), inside `make test`.

`make chaos` (chaos/run.py) hurts a whole running stack; these tests cause
the same faults, for real, at the scale of a few deliveries:

- Redis (broker and cache) unreachable: the webhook still stores and answers,
  an agent's reply is still saved without an error, the sweeps then process
  and send each exactly once;
- a worker SIGKILLed in the middle of processing a delivery: its transaction
  dies with it, and the sweep processes the delivery once;
- PostgreSQL cutting the connections: the webhook answers 503 (Meta retries),
  never 500, and the next delivery is stored;
- a second beat: every sweep run twice at once, nothing done twice;
- a reply re-timed by its echo: the responsiveness kept incrementally stays
  equal to `rebuild_responsiveness`'s (found by the chaos run).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.db import connection

from inbox import simulation
from inbox.models import Delivery, Message, ResponseOpportunity, SendStatus
from inbox.services import ingestion, opportunities, send_reply, sending

ROOT = Path(__file__).resolve().parent.parent
DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def _signed_post(client, page, psid: str, text: str, at: float | None = None, mid: str | None = None):
    body, signature = simulation.signed(simulation.envelope(page.meta_page_id, messaging=[
        simulation.message(page.meta_page_id, psid, at or time.time() - 30, text, mid=mid)]), "test-app-secret")
    return client.post("/webhooks/meta", data=body, content_type="application/json",
                       HTTP_X_HUB_SIGNATURE_256=signature)


def _sweep_all_deliveries() -> None:
    for delivery_id in Delivery.objects.filter(processed_at__isnull=True).values_list("pk", flat=True):
        ingestion.process_delivery(delivery_id=delivery_id)


@pytest.fixture
def redis_down(settings):
    """Broker and cache pointed at a port where nothing listens, for real."""
    from config.celery import app

    broker, timeout = app.conf.broker_url, app.conf.broker_connection_timeout

    def fresh_pool() -> None:
        # A closed pool refuses every later acquire: the app gets a new one.
        app.pool.force_close_all()
        app._pool = None

    fresh_pool()
    app.conf.broker_url = DEAD_REDIS
    app.conf.broker_connection_timeout = 0.5
    settings.CACHES = {"default": {"BACKEND": "config.redis_cache.ReusingRedisCache",
                                   "LOCATION": DEAD_REDIS}}
    try:
        yield
    finally:
        fresh_pool()
        app.conf.broker_url, app.conf.broker_connection_timeout = broker, timeout


@pytest.mark.django_db(transaction=True)
def test_redis_down_nothing_lost_nothing_doubled(client, page, bob, fake_graph, redis_down):
    started = time.monotonic()
    response = _signed_post(client, page, "psid-redis", "Bonjour, vous êtes ouverts ?", mid="m_redis_1")
    assert response.status_code == 200  # stored durably: Meta must not retry
    assert Delivery.objects.filter(processed_at__isnull=True).count() == 1
    assert not Message.objects.exists()  # the task could not be queued
    _sweep_all_deliveries()  # the beat sweep, once Redis is back
    conversation = page.conversations.get()
    # The agent's reply is saved, and the request does not fail after commit
    # (which would make the agent send it again).
    reply = send_reply(conversation=conversation, author=bob, text="Oui, jusqu'à 19 h. — Bob")
    assert reply.send_status == SendStatus.QUEUED
    assert time.monotonic() - started < 10  # no publish waits for a dead broker
    from datetime import timedelta

    from django.utils import timezone

    sending.sweep_outbox(now=timezone.now() + timedelta(minutes=10))
    assert sending.perform_send(message_id=reply.pk) == "sent"
    assert sending.perform_send(message_id=reply.pk) == "not-queued"  # the lost task came back after all
    # The same delivery again (Meta retrying a timeout) changes nothing.
    assert _signed_post(client, page, "psid-redis", "Bonjour, vous êtes ouverts ?", mid="m_redis_1").status_code == 200
    _sweep_all_deliveries()
    assert Message.objects.filter(mid="m_redis_1").count() == 1
    assert fake_graph.stats()["sends"] == 1
    assert fake_graph.stats()["double_sends"] == 0


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_delivery_leaves_it_whole_for_the_sweep(client, page):
    for n in range(3):
        assert _signed_post(client, page, f"psid-kill-{n}", "Allô ?", mid=f"m_kill_{n}").status_code == 200
    delivery = Delivery.objects.order_by("pk").first()
    # A real worker process claims the delivery, writes part of it, and is
    # SIGKILLed before it commits.
    script = f"""
import django, os, time
django.setup()
from django.db import transaction
from inbox.models import Delivery
from inbox.services import ingestion
from inbox import meta_events as ev
with transaction.atomic():
    d = Delivery.objects.select_for_update().get(pk={delivery.pk})
    for event in ev.parse_delivery(ev.parse_body(bytes(d.body))):
        ingestion.apply_event(event, received_at=d.received_at)
    print("claimed", flush=True)
    time.sleep(60)
"""
    env = {**os.environ, "DATABASES_NAME_OVERRIDE": connection.settings_dict["NAME"]}
    worker = subprocess.Popen([sys.executable, "-c", _with_test_database(script)], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert worker.stdout.readline().strip() == "claimed", worker.stderr.read()
        # While it holds the row, the sweep skips it rather than wait or double it.
        assert ingestion.process_delivery(delivery_id=delivery.pk) is False
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert not Message.objects.filter(mid="m_kill_0").exists()  # rolled back with the dead worker
    deadline = time.monotonic() + 10
    while not ingestion.process_delivery(delivery_id=delivery.pk):
        assert time.monotonic() < deadline, "PostgreSQL never released the dead worker's lock"
        time.sleep(0.1)
    _sweep_all_deliveries()
    assert sorted(Message.objects.values_list("mid", flat=True)) == ["m_kill_0", "m_kill_1", "m_kill_2"]
    assert not Delivery.objects.filter(processed_at__isnull=True).exists()


def _with_test_database(script: str) -> str:
    """The subprocess uses the test database this run created."""
    return (
        "import os\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings')\n"
        "import django.conf\n"
        "from django.conf import settings\n"
        "settings.DATABASES  # load\n"
        "settings.DATABASES['default']['NAME'] = os.environ['DATABASES_NAME_OVERRIDE']\n"
        + script
    )


@pytest.mark.django_db(transaction=True)
def test_postgresql_cutting_connections_gets_a_503_never_a_500(client, page):
    from django.db import connections

    client.raise_request_exception = False
    assert _signed_post(client, page, "psid-pg", "Premier", mid="m_pg_1").status_code == 200
    pid = connection.connection.info.backend_pid
    # Another session kills ours, as a PostgreSQL restart does.
    import psycopg

    settings_dict = connection.settings_dict
    with psycopg.connect(host=settings_dict["HOST"], port=settings_dict["PORT"], user=settings_dict["USER"],
                         dbname=settings_dict["NAME"], autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    response = _signed_post(client, page, "psid-pg", "Deuxième", mid="m_pg_2")
    assert response.status_code == 503
    assert response["Retry-After"]
    connections["default"].close()
    # Meta retries: stored this time.
    assert _signed_post(client, page, "psid-pg", "Deuxième", mid="m_pg_2").status_code == 200
    _sweep_all_deliveries()
    assert set(Message.objects.values_list("mid", flat=True)) == {"m_pg_1", "m_pg_2"}


@pytest.mark.django_db(transaction=True)
def test_a_second_beat_does_nothing_twice(client, page, bob, fake_graph):
    from datetime import timedelta

    from django.utils import timezone

    now = time.time()
    for n in range(12):
        assert _signed_post(client, page, f"psid-beat-{n}", "Bonjour", at=now - 400 - n,
                            mid=f"m_beat_{n}").status_code == 200
    _sweep_all_deliveries()
    conversations = list(page.conversations.order_by("pk"))
    replies = [send_reply(conversation=c, author=bob, text=f"Réponse {n} — Bob")
               for n, c in enumerate(conversations[:6])]
    for n in range(12, 24):
        assert _signed_post(client, page, f"psid-beat-{n}", "Re", mid=f"m_beat_{n}").status_code == 200
    later = timezone.now() + timedelta(minutes=10)
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def beat() -> None:
        try:
            barrier.wait()
            _sweep_all_deliveries()
            sending.sweep_outbox(now=later)
            for reply in replies:
                sending.perform_send(message_id=reply.pk)
            opportunities.mark_deadlines()
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=beat) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert Message.objects.filter(mid__startswith="m_beat_").count() == 24
    assert not Delivery.objects.filter(processed_at__isnull=True).exists()
    assert fake_graph.stats()["sends"] == 6
    assert fake_graph.stats()["double_sends"] == 0
    assert Message.objects.filter(pk__in=[r.pk for r in replies], send_status=SendStatus.SENT).count() == 6


def _snapshot() -> dict:
    return {ro.opened_by_id: (ro.opened_at, ro.clock_start, ro.due_at, ro.closed_by_id, ro.closed_at,
                              ro.response_seconds, ro.status, ro.starts_conversation)
            for ro in ResponseOpportunity.objects.all()}


@pytest.mark.django_db
def test_an_echo_that_retimes_a_reply_keeps_the_figures_equal_to_a_rebuild(page, bob, fake_graph, deliver):
    deliver(simulation.envelope(page.meta_page_id, messaging=[
        simulation.message(page.meta_page_id, "psid-echo", time.time() - 120, "Bonjour ?")]))
    reply = send_reply(conversation=page.conversations.get(), author=bob, text="Bonjour ! — Bob")
    assert sending.perform_send(message_id=reply.pk) == "sent"
    reply.refresh_from_db()
    # Meta's echo carries the platform timestamp, a moment after ours.
    deliver(simulation.envelope(page.meta_page_id, messaging=[simulation.echo(
        page.meta_page_id, "psid-echo", reply.timestamp.timestamp() + 0.8, reply.text, mid=reply.mid,
        metadata=sending.metadata_for(reply))]))
    kept = _snapshot()
    assert kept[Message.objects.get(text="Bonjour ?").pk][4] == Message.objects.get(pk=reply.pk).timestamp
    opportunities.rebuild()
    assert _snapshot() == kept


@pytest.mark.django_db
def test_the_delivery_sweep_stops_within_its_time_budget(client, page, monkeypatch):
    from datetime import timedelta

    from inbox import tasks

    for n in range(3):
        assert _signed_post(client, page, f"psid-budget-{n}", "Allô", mid=f"m_budget_{n}").status_code == 200
    Delivery.objects.update(received_at=Delivery.objects.first().received_at - timedelta(minutes=5))
    # Out of time at once: nothing taken, nothing counted as a failure, left
    # for the next sweep (a sweep killed by Celery's time limit was redelivered
    # and killed again, forever).
    monkeypatch.setattr(tasks, "SWEEP_BUDGET_SECONDS", -1)
    assert tasks.sweep_deliveries() == 0
    assert set(Delivery.objects.values_list("attempts", flat=True)) == {0}
    monkeypatch.setattr(tasks, "SWEEP_BUDGET_SECONDS", 20)
    assert tasks.sweep_deliveries() == 3
    assert Message.objects.filter(mid__startswith="m_budget_").count() == 3

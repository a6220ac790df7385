"""The worker side: deliveries processed by Celery tasks enqueued on commit,
a broker outage that loses nothing, failures counted and retried by the
sweep, and a real worker on the real Redis."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connections
from django.utils import timezone
from kombu import pools

from inbox import simulation, tasks
from inbox.models import Delivery, Message, WorkerHeartbeat
from inbox.services import ingestion

T0 = time.time() - 600


def signed_post(client, page, text="Bonjour", mid=None):
    body, signature = simulation.signed(simulation.envelope(page.meta_page_id, messaging=[
        simulation.message(page.meta_page_id, "psid-tasks", T0, text, mid=mid)]), "test-app-secret")
    return client.post("/webhooks/meta", data=body, content_type="application/json",
                       HTTP_X_HUB_SIGNATURE_256=signature)


def age(delivery_id: int, seconds: float) -> None:
    Delivery.objects.filter(pk=delivery_id).update(received_at=timezone.now() - timedelta(seconds=seconds))


@pytest.fixture
def broker_down(settings):
    """The Celery app publishes to a port where nothing listens."""
    from config.celery import app

    def reset_pools():
        app._pool = None
        app.amqp._producer_pool = None

    original = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    reset_pools()
    yield
    app.conf.broker_url = original
    reset_pools()


@pytest.mark.django_db(transaction=True)
def test_the_webhook_stores_and_answers_200_when_the_broker_is_down(client, page, broker_down, caplog):
    started = time.monotonic()
    response = signed_post(client, page)
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert elapsed < 4  # Meta allows 5 s
    delivery = Delivery.objects.get()
    assert delivery.processed_at is None
    assert "left for the sweep" in caplog.text
    assert Message.objects.count() == 0

    # Later, the beat's sweep finds it in the database and processes it.
    assert tasks.sweep_deliveries() == 0  # too fresh: its own task may still come
    age(delivery.pk, 60)
    assert tasks.sweep_deliveries() == 1
    delivery.refresh_from_db()
    assert delivery.processed_at is not None
    assert Message.objects.get().text == "Bonjour"
    assert tasks.sweep_deliveries() == 0  # nothing left


@pytest.mark.django_db(transaction=True)
def test_webhooks_wake_the_worker_with_one_task_until_it_starts(client, page, monkeypatch):
    enqueued = []

    def publish(task, *args, countdown=0):
        # On commit: the delivery is already visible to the worker.
        assert Delivery.objects.filter(processed_at__isnull=True).exists()
        enqueued.append((task.name, args))
        return True

    monkeypatch.setattr(tasks, "_publish", publish)
    cache.delete(tasks.PROCESSING_WANTED_KEY)
    signed_post(client, page, mid="m_one")
    signed_post(client, page, mid="m_one")  # Meta's retry of the same bytes: stored once
    signed_post(client, page, text="Encore", mid="m_two")
    assert enqueued == [("inbox.tasks.process_deliveries", ())]
    assert Delivery.objects.count() == 2

    # The task clears the flag before it looks: both are processed, and the
    # next webhook wakes the worker again.
    assert tasks.process_deliveries() == 2
    assert sorted(Message.objects.values_list("mid", flat=True)) == ["m_one", "m_two"]
    signed_post(client, page, text="Et maintenant ?", mid="m_three")
    assert enqueued == [("inbox.tasks.process_deliveries", ())] * 2


@pytest.mark.django_db(transaction=True)
def test_a_failed_publish_lets_the_next_webhook_try_again(client, page, broker_down):
    cache.delete(tasks.PROCESSING_WANTED_KEY)
    signed_post(client, page, mid="m_lost")
    # The broker refused: no task waits, so no flag may keep the next webhook from asking.
    assert cache.get(tasks.PROCESSING_WANTED_KEY) is None


def test_a_delivery_whose_processing_raises_is_recorded_and_retried_by_the_sweep(
    client, page, deliver, monkeypatch
):
    deliver(simulation.envelope(page.meta_page_id, messaging=[
        simulation.message(page.meta_page_id, "psid-tasks", T0, "Bonjour")]), process=False)
    delivery = Delivery.objects.get()

    def broken(event, *, received_at):
        raise RuntimeError("a bug in a new event handler")

    monkeypatch.setattr(ingestion, "apply_event", broken)
    with pytest.raises(RuntimeError):
        tasks.process_delivery(delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.processed_at) == (1, None)
    assert "a bug in a new event handler" in delivery.last_error

    # The sweep tries again, counting each attempt, until MAX_ATTEMPTS.
    age(delivery.pk, 60)
    for attempt in range(2, Delivery.MAX_ATTEMPTS + 1):
        assert tasks.sweep_deliveries() == 1
        delivery.refresh_from_db()
        assert delivery.attempts == attempt
    assert delivery.is_stuck
    assert tasks.sweep_deliveries() == 0  # left for a human (admin "reprocess")
    assert Message.objects.count() == 0


def test_the_sweep_processes_a_delivery_once_the_bug_is_gone(page, deliver, monkeypatch):
    deliver(simulation.envelope(page.meta_page_id, messaging=[
        simulation.message(page.meta_page_id, "psid-tasks", T0, "Bonjour")]), process=False)
    delivery = Delivery.objects.get()
    with monkeypatch.context() as patch:
        patch.setattr(ingestion, "apply_event", lambda event, *, received_at: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            tasks.process_delivery(delivery.pk)
    age(delivery.pk, 60)
    assert tasks.sweep_deliveries() == 1
    delivery.refresh_from_db()
    assert delivery.processed_at is not None
    assert delivery.attempts == 2
    assert delivery.last_error == ""
    assert Message.objects.count() == 1


def test_one_bad_delivery_does_not_stop_the_sweep(page, deliver, monkeypatch):
    for text in ("first", "second"):
        deliver(simulation.envelope(page.meta_page_id, messaging=[
            simulation.message(page.meta_page_id, "psid-tasks", T0, text)]), process=False)
    first, second = Delivery.objects.order_by("pk")
    age(first.pk, 120)
    age(second.pk, 60)
    apply_event = ingestion.apply_event

    def fails_on_first(event, *, received_at):
        if event.text == "first":
            raise RuntimeError("boom")
        return apply_event(event, received_at=received_at)

    monkeypatch.setattr(ingestion, "apply_event", fails_on_first)
    assert tasks.sweep_deliveries() == 2
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.processed_at, first.attempts) == (None, 1)
    assert second.processed_at is not None
    assert list(Message.objects.values_list("text", flat=True)) == ["second"]


def test_the_heartbeat_task_lets_healthz_see_a_worker(db):
    tasks.heartbeat()
    first = WorkerHeartbeat.objects.get(name="worker").beat_at
    tasks.heartbeat()
    assert WorkerHeartbeat.objects.count() == 1
    assert WorkerHeartbeat.objects.get().beat_at >= first


@pytest.fixture
def celery_worker_thread(settings):
    """The project's Celery app, consuming this run's queue on the real Redis
    in a thread. Its database connections close after each task."""
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    default = connections.settings["default"]
    max_age = default.get("CONN_MAX_AGE")
    default["CONN_MAX_AGE"] = 0
    # Fresh connection pools: another test may have closed them for good
    # (kombu's force_close_all), which would make every publish fail.
    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None
    # Tasks other tests left in this run's queue (their transactions
    # committed, no worker was there) would come first: drop them.
    app.control.purge()
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10, loglevel="WARNING"):
            yield app
    finally:
        default["CONN_MAX_AGE"] = max_age


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_processes_a_delivery_enqueued_on_commit(client, page, celery_worker_thread):
    response = signed_post(client, page, text="Livrez-vous à Lyon ?", mid="m_worker")
    assert response.status_code == 200
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if Delivery.objects.filter(processed_at__isnull=False).exists():
            break
        time.sleep(0.05)
    delivery = Delivery.objects.get()
    assert delivery.processed_at is not None, "the worker did not process the delivery"
    assert delivery.attempts == 1
    assert Message.objects.get(mid="m_worker").text == "Livrez-vous à Lyon ?"

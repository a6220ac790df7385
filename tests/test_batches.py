"""The worker's drain: fresh deliveries applied in batches, one transaction
each (`ingestion.process_batch`, `tasks.process_deliveries`).

A batch must store exactly what the deliveries one by one would (the
property test in test_rebuild_property.py draws batches too); these tests
pin what the batch shares and what it must not: the reads it saves, a
thread changed by an earlier event of the batch, a failure, a duplicate,
the live versions, two workers at once.
"""

from __future__ import annotations

import contextlib
import threading
from datetime import timedelta

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.core.cache import cache
from django.db import DataError, connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inbox import live, simulation, tasks
from inbox.models import Conversation, Delivery, Direction, Message, ResponseOpportunity, SendStatus
from inbox.services import ingestion, opportunities

from . import ro_helpers as meta
from .conftest import at

T0 = at("2026-11-16 09:00:00")


def store(page, *items) -> Delivery:
    delivery, created = ingestion.store_delivery(body=simulation.encode(meta.messaging(page.meta_page_id, *items)))
    assert created
    return delivery


def thread_of(page, psid: str) -> Conversation:
    return Conversation.objects.get(page=page, contact__external_id=psid)


def waiting_customers(page, count: int) -> list[str]:
    """`count` customers whose first message, processed, opened an RO."""
    psids = [f"psid-{n}" for n in range(count)]
    for psid in psids:
        ingestion.process_delivery(delivery_id=store(page, meta.customer(page.meta_page_id, psid, T0)).pk)
    return psids


def statements(page, psids: list[str], at_offset: int) -> list[str]:
    for psid in psids:
        store(page, meta.customer(page.meta_page_id, psid, T0 + timedelta(seconds=at_offset)))
    with CaptureQueriesContext(connection) as captured:
        assert ingestion.process_batch() == len(psids)
    return [query["sql"] for query in captured.captured_queries]


def test_a_batch_reads_its_pages_threads_and_messages_once(page):
    psids = waiting_customers(page, 12)
    few, many = statements(page, psids[:4], 10), statements(page, psids, 20)

    def reads(sql: list[str], table: str) -> int:
        return sum(1 for query in sql if query.startswith("SELECT") and f'FROM "{table}"' in query)

    for sql in (few, many):
        assert reads(sql, "inbox_page") == 1
        assert reads(sql, "inbox_conversation") == 1  # every thread read and locked at once
        assert reads(sql, "inbox_message") == 1  # which of the batch's messages are stored already
        assert reads(sql, "inbox_delivery") == 1
    # Each more customer message costs its INSERT, its thread's UPDATE and,
    # as T0's day is over, the mark that sends the beat back to that day's
    # rollup: nothing else (no savepoint: a batch that raises is taken one
    # by one).
    assert (len(many) - len(few)) / (len(psids) - 4) == 3
    assert Message.objects.count() == 12 + 4 + 12


def test_a_thread_changed_by_an_earlier_event_of_the_batch_is_read_again(page, alice):
    """The echo of our reply closes the customer's RO through another copy
    of the thread; the customer's next message, later in the same batch,
    must see that and open a new RO, not join the closed one."""
    (psid,) = waiting_customers(page, 1)
    conversation = thread_of(page, psid)
    reply = Message.objects.create(
        page=page, conversation=conversation, direction=Direction.OUTBOUND, channel="messenger", author=alice,
        text="Oui, bien sûr", timestamp=T0 + timedelta(seconds=50), send_status=SendStatus.QUEUED,
    )
    store(page, meta.echo(page.meta_page_id, psid, T0 + timedelta(seconds=60), mid="m_reply",
                          metadata=ingestion.metadata_for(reply), app_id="424242"))
    store(page, meta.customer(page.meta_page_id, psid, T0 + timedelta(seconds=120), "Et le dimanche ?"))
    assert ingestion.process_batch() == 2

    conversation.refresh_from_db()
    ros = list(ResponseOpportunity.objects.filter(conversation=conversation).order_by("opened_at"))
    assert [(ro.opened_at, ro.closed_at) for ro in ros] == [
        (T0, T0 + timedelta(seconds=60)), (T0 + timedelta(seconds=120), None)]
    assert conversation.due_at == T0 + timedelta(seconds=120 + 300)
    kept = list(ResponseOpportunity.objects.values_list("opened_at", "closed_at", "due_at", "status"))
    opportunities.rebuild(page=page)
    assert list(ResponseOpportunity.objects.values_list("opened_at", "closed_at", "due_at", "status")) == kept


def test_a_burst_reads_its_thread_once_and_ends_as_one_by_one(page):
    """A customer's next message in the batch is written through the thread
    as the previous one left it: no second read, the same summary and RO."""
    (psid,) = waiting_customers(page, 1)
    store(page, meta.customer(page.meta_page_id, psid, T0 + timedelta(seconds=10), "Un"),
          meta.customer(page.meta_page_id, psid, T0 + timedelta(seconds=20), "Deux"))
    store(page, meta.customer(page.meta_page_id, psid, T0 + timedelta(seconds=15), "Trois"))
    with CaptureQueriesContext(connection) as captured:
        assert ingestion.process_batch() == 2
    reads = [q["sql"] for q in captured.captured_queries
             if q["sql"].startswith("SELECT") and 'FROM "inbox_conversation"' in q["sql"]]
    assert len(reads) == 1

    conversation = thread_of(page, psid)
    assert (conversation.preview, conversation.last_message_at) == ("Deux", T0 + timedelta(seconds=20))
    assert conversation.last_customer_message_at == T0 + timedelta(seconds=20)
    assert list(ResponseOpportunity.objects.values_list("opened_at", "closed_at")) == [(T0, None)]
    assert conversation.due_at == T0 + timedelta(seconds=300)


def test_an_event_that_fails_in_a_batch_leaves_its_thread_as_if_it_never_came(page, monkeypatch):
    """The batch fails and is taken one by one: the failed event's copy of
    the thread (its message as the latest) writes nothing."""
    (psid,) = waiting_customers(page, 1)
    for seconds, text in ((10, "Un"), (30, "boom"), (20, "Trois")):
        store(page, meta.customer(page.meta_page_id, psid, T0 + timedelta(seconds=seconds), text))
    from inbox.services import away

    after_customer_message = away.after_customer_message

    def raises_on_boom(message):
        if message.text == "boom":
            raise DataError("a value its column cannot hold")
        return after_customer_message(message)

    monkeypatch.setattr(away, "after_customer_message", raises_on_boom)
    monkeypatch.setattr(tasks, "_publish", lambda task, *args, countdown=0: True)
    assert tasks.process_deliveries() == 3

    conversation = thread_of(page, psid)
    assert sorted(Message.objects.filter(conversation=conversation).values_list("text", flat=True)) == [
        "Bonjour ?", "Trois", "Un"]
    assert (conversation.preview, conversation.last_message_at) == ("Trois", T0 + timedelta(seconds=20))


def test_the_same_message_twice_in_a_batch_is_stored_once(page):
    (psid,) = waiting_customers(page, 1)
    item = meta.customer(page.meta_page_id, psid, T0 + timedelta(seconds=5), "Doublon", mid="m_twice")
    first = store(page, item)
    # Meta's second delivery of the same message, with other bytes around it.
    other = simulation.envelope(page.meta_page_id, messaging=[item], time_ms=meta.ms(T0) + 999)
    second, _ = ingestion.store_delivery(body=simulation.encode(other))
    assert ingestion.process_batch() == 2
    assert Message.objects.filter(mid="m_twice").count() == 1
    counts = Delivery.objects.filter(pk__in=[first.pk, second.pk]).order_by("pk")
    assert list(counts.values_list("event_count", "ignored_count")) == [(1, 0), (0, 1)]


def test_a_message_a_concurrent_worker_stored_meanwhile_is_ignored_and_the_batch_goes_on(page, monkeypatch):
    """Stored by another worker after the batch looked for its messages: its
    INSERT stores nothing and raises nothing (no savepoint to roll back to in
    a batch), the rest of the batch is stored."""
    (psid,) = waiting_customers(page, 1)
    item = meta.customer(page.meta_page_id, psid, T0 + timedelta(seconds=5), "Déjà là", mid="m_raced")
    first = store(page, item)
    ingestion.process_delivery(delivery_id=first.pk)  # "the other worker"
    other = simulation.envelope(page.meta_page_id, messaging=[item], time_ms=meta.ms(T0) + 999)
    raced, _ = ingestion.store_delivery(body=simulation.encode(other))
    later = store(page, meta.customer(page.meta_page_id, psid, T0 + timedelta(seconds=9), "Et ensuite"))
    monkeypatch.setattr(ingestion, "_may_be_stored", lambda page, mid: False)  # as if it was absent when the batch began

    assert ingestion.process_batch() == 2
    assert Message.objects.filter(mid="m_raced").count() == 1
    counts = Delivery.objects.filter(pk__in=[raced.pk, later.pk]).order_by("pk")
    assert list(counts.values_list("event_count", "ignored_count")) == [(0, 1), (1, 0)]
    assert thread_of(page, psid).preview == "Et ensuite"


def test_a_message_unsent_in_the_batch_that_brought_it_is_marked_removed(page):
    (psid,) = waiting_customers(page, 1)
    item = meta.customer(page.meta_page_id, psid, T0 + timedelta(seconds=5), "Oups", mid="m_unsent")
    store(page, item)
    unsent = {**item, "timestamp": item["timestamp"] + 2000, "message": {**item["message"], "is_deleted": True}}
    store(page, unsent)
    assert ingestion.process_batch() == 2
    assert Message.objects.get(mid="m_unsent").removed_at == T0 + timedelta(seconds=7)


def test_a_delivery_that_raises_fails_alone_and_the_rest_of_its_batch_is_stored(page, monkeypatch):
    for text in ("avant", "boom", "après"):
        store(page, meta.customer(page.meta_page_id, f"psid-{text}", T0, text))
    apply_event = ingestion.apply_event

    def raises_on_boom(event, *, received_at):
        if getattr(event, "text", "") == "boom":
            raise RuntimeError("a bug in a new event handler")
        return apply_event(event, received_at=received_at)

    monkeypatch.setattr(ingestion, "apply_event", raises_on_boom)
    monkeypatch.setattr(tasks, "_publish", lambda task, *args, countdown=0: True)
    assert tasks.process_deliveries() == 3
    assert sorted(Message.objects.values_list("text", flat=True)) == ["après", "avant"]
    failed = Delivery.objects.get(processed_at__isnull=True)
    assert failed.attempts == 1
    assert "a bug in a new event handler" in failed.last_error
    assert Delivery.objects.filter(processed_at__isnull=False, attempts=1).count() == 2
    # Tried once, it is the sweep's now (with its delay), not the next batch's.
    assert ingestion.process_batch() == 0


def test_the_worker_running_out_of_time_counts_no_attempt(page, monkeypatch):
    store(page, meta.customer(page.meta_page_id, "psid-late", T0))

    def out_of_time(event, *, received_at):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(ingestion, "apply_event", out_of_time)
    with pytest.raises(SoftTimeLimitExceeded):
        tasks.process_deliveries()
    delivery = Delivery.objects.get()
    assert (delivery.processed_at, delivery.attempts, delivery.last_error) == (None, 0, "")


def test_live_versions_are_bumped_once_per_batch_after_commit(page, django_capture_on_commit_callbacks):
    psids = waiting_customers(page, 2)
    conversations = [thread_of(page, psid).pk for psid in psids]
    before = live.versions(page_ids=[page.pk])
    for offset in (10, 20, 30):
        store(page, meta.customer(page.meta_page_id, psids[0], T0 + timedelta(seconds=offset)))
    store(page, meta.customer(page.meta_page_id, psids[1], T0 + timedelta(seconds=40)))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert ingestion.process_batch() == 4
    assert live.versions(page_ids=[page.pk]) == before  # nothing before the commit
    for callback in callbacks:
        callback()
    key = f"live:page:{page.pk}"
    assert live.versions(page_ids=[page.pk])[key] == before[key] + 1
    for conversation_id, bumps in zip(conversations, (1, 1), strict=True):
        assert live.versions(page_ids=[], conversation_id=conversation_id)[
            f"live:conversation:{conversation_id}"] >= bumps


def test_the_drain_asks_for_help_once_while_full_batches_keep_coming(page, monkeypatch):
    monkeypatch.setattr(ingestion, "BATCH_SIZE", 2)
    for n in range(5):
        store(page, meta.customer(page.meta_page_id, f"psid-{n}", T0))
    published, batches = [], []
    monkeypatch.setattr(tasks, "_publish", lambda task, *args, countdown=0: published.append(task.name) or True)
    process_batch = ingestion.process_batch
    monkeypatch.setattr(ingestion, "process_batch", lambda: batches.append(process_batch()) or batches[-1])
    cache.delete(tasks.PROCESSING_WANTED_KEY)
    assert tasks.process_deliveries() == 5
    assert batches == [2, 2, 1]
    # Two full batches: one task published for a free worker process; the
    # flag kept the second from publishing another.
    assert published == ["inbox.tasks.process_deliveries"]
    assert Delivery.objects.filter(processed_at__isnull=True).count() == 0


@pytest.mark.django_db(transaction=True)
def test_two_workers_whose_batches_share_threads_do_not_deadlock(page, monkeypatch):
    """Worker 1 takes [A, B], worker 2 [B, A]. Had each locked its threads
    event by event, each would hold one the other needs."""
    # Today: a past day's rollup mark would make the two wait on its row
    # first, and hide what this test is about.
    start = timezone.now() - timedelta(minutes=2)
    for psid in ("psid-a", "psid-b"):
        ingestion.process_delivery(delivery_id=store(page, meta.customer(page.meta_page_id, psid, start)).pk)
    for n, psid in enumerate(("psid-a", "psid-b", "psid-b", "psid-a"), start=1):
        store(page, meta.customer(page.meta_page_id, psid, start + timedelta(seconds=n)))

    apply_event = ingestion.apply_event
    both_started = threading.Barrier(2, timeout=3)
    first_started = threading.Event()
    seen = threading.local()

    def after_first_event_wait_for_the_other(event, *, received_at):
        applied = apply_event(event, received_at=received_at)
        if not getattr(seen, "one", False):
            seen.one = True
            first_started.set()
            # Broken when the other is waiting for our locks: as it should.
            with contextlib.suppress(threading.BrokenBarrierError):
                both_started.wait()
        return applied

    monkeypatch.setattr(ingestion, "apply_event", after_first_event_wait_for_the_other)
    outcomes: dict[str, object] = {}

    def worker(name: str) -> None:
        try:
            outcomes[name] = ingestion.process_batch(limit=2)
        except Exception as exc:
            outcomes[name] = exc
        finally:
            connections.close_all()

    one = threading.Thread(target=worker, args=("one",))
    one.start()
    assert first_started.wait(10)
    two = threading.Thread(target=worker, args=("two",))
    two.start()
    one.join(30)
    two.join(30)
    assert outcomes == {"one": 2, "two": 2}
    assert Message.objects.count() == 6
    assert not Delivery.objects.filter(processed_at__isnull=True).exists()


def test_a_long_drain_hands_over_to_a_task_queued_behind_the_others(page, monkeypatch):
    """With one queue for every task, an agent's reply published meanwhile
    must not wait for the whole backlog: the drain stops after its budget and
    a new task, queued behind the reply, goes on."""
    monkeypatch.setattr(ingestion, "BATCH_SIZE", 2)
    monkeypatch.setattr(tasks, "DRAIN_BUDGET_SECONDS", 0)
    for n in range(5):
        store(page, meta.customer(page.meta_page_id, f"psid-{n}", T0))
    published = []
    monkeypatch.setattr(tasks, "_publish", lambda task, *args, countdown=0: published.append(task.name) or True)
    cache.delete(tasks.PROCESSING_WANTED_KEY)
    assert tasks.process_deliveries() == 2
    assert published == ["inbox.tasks.process_deliveries"]
    assert Delivery.objects.filter(processed_at__isnull=True).count() == 3
    # The queued task, when its turn comes.
    assert tasks.process_deliveries() == 2
    assert tasks.process_deliveries() == 1
    assert not Delivery.objects.filter(processed_at__isnull=True).exists()

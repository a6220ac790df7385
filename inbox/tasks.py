"""Celery tasks: thin, idempotent, ids in (STYLE.md habit 4).

Each task re-fetches by id, returns early when the work is done, and claims
it with a conditional UPDATE or a skip-locked row lock, so a task delivered
twice (late acks after a killed worker) or raced by the sweep is harmless.
The `enqueue_*` helpers are called on commit; if the broker is down they log
and return, and a beat sweep finds the work again from the database.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_ready
from django.core.cache import cache
from django.utils import timezone

from .graph import GraphError
from .models import Conversation, Delivery, WorkerHeartbeat
from .services import conversations as conversation_services
from .services import ingestion, opportunities, sending

log = logging.getLogger(__name__)

# The sweep leaves a fresh delivery to the worker's drain (process_deliveries) for this long.
SWEEP_GRACE = timedelta(seconds=20)
# A sweep stops taking new deliveries after this long (CELERY_TASK_SOFT_TIME_LIMIT
# is 100 s), and the next one, 30 s later, goes on.
SWEEP_BUDGET_SECONDS = 20
# The worker's drain (process_deliveries) hands over to a new task after this
# long, queued behind what came meanwhile: with one queue for every task, an
# agent's reply (send_message) waits for at most this much of a busy drain.
DRAIN_BUDGET_SECONDS = 2
# Set while a process_deliveries task is queued and has not started: the
# webhooks of a busy minute publish one task, not one each. It expires, so a
# task lost with a broker outage is asked for again; the sweep is the backstop.
PROCESSING_WANTED_KEY = "ingestion:processing-wanted"
PROCESSING_WANTED_SECONDS = 10


def _publish(task, *args, countdown: float = 0) -> bool:
    try:
        task.apply_async(args=args, countdown=countdown or None, retry=False)
    except Exception:
        log.warning("Broker unavailable: %s%s left for the sweep", task.name, args, exc_info=True)
        return False
    return True


def enqueue_processing() -> None:
    """Wake the worker for fresh deliveries (the webhook, on commit).

    A task is published only if none is waiting to start: the flag is set
    here and cleared by the task as it starts, before it looks for
    deliveries. So a delivery committed before this call is either seen by
    a task that starts later, or finds the flag cleared and publishes."""
    try:
        wanted = cache.add(PROCESSING_WANTED_KEY, 1, PROCESSING_WANTED_SECONDS)
    except Exception:  # Redis down: try the broker anyway (the sweep is behind it)
        log.warning("Cache unavailable: processing task published unconditionally", exc_info=True)
        wanted = True
    if wanted and not _publish(process_deliveries):
        _forget_processing_wanted()  # the next webhook tries the broker again


def _forget_processing_wanted() -> None:
    try:
        cache.delete(PROCESSING_WANTED_KEY)
    except Exception:
        log.warning("Cache unavailable: processing flag not cleared", exc_info=True)


def enqueue_send(message_id: int, countdown: float = 0) -> None:
    _publish(send_message, message_id, countdown=countdown)


def enqueue_hide(message_id: int, hidden: bool) -> None:
    _publish(hide_comment, message_id, hidden)


def enqueue_fetch_profile(contact_id: int) -> None:
    _publish(fetch_profile, contact_id)


def enqueue_mark_seen(conversation_id: int) -> None:
    _publish(mark_seen, conversation_id)


@shared_task(acks_late=True)
def process_deliveries() -> int:
    """Process fresh deliveries in batches until none is left. Returns how
    many were taken."""
    _forget_processing_wanted()  # first: a webhook from now on asks again
    deadline = time.monotonic() + DRAIN_BUDGET_SECONDS
    done = 0
    while True:
        try:
            taken = ingestion.process_batch()
        except ingestion.BatchFailed as failed:
            if isinstance(failed.__cause__, SoftTimeLimitExceeded):
                raise failed.__cause__ from None  # our time, not the deliveries' fault
            log.warning("%s; taken one by one", failed, exc_info=failed.__cause__)
            for delivery_id in failed.delivery_ids:
                _process_one(delivery_id)
            taken = len(failed.delivery_ids)
        done += taken
        if taken < ingestion.BATCH_SIZE:
            return done
        # More are waiting: a free worker process takes them too (one task
        # waits at most: the flag), and goes on if this one stops below.
        enqueue_processing()
        if time.monotonic() > deadline:
            return done


@shared_task(acks_late=True)
def process_delivery(delivery_id: int) -> bool:
    """One delivery (tasks published before process_deliveries existed, or by hand)."""
    try:
        return ingestion.process_delivery(delivery_id=delivery_id)
    except SoftTimeLimitExceeded:
        raise  # the worker's time ran out, not the delivery's fault: the sweep retries it
    except Exception as exc:
        ingestion.record_failure(delivery_id=delivery_id, error=repr(exc))
        raise


def _process_one(delivery_id: int) -> None:
    """A delivery alone, its failure recorded (an attempt counted) and logged."""
    try:
        ingestion.process_delivery(delivery_id=delivery_id)
    except SoftTimeLimitExceeded:
        raise  # our time, not the delivery's fault: not counted as a failed attempt
    except Exception as exc:
        log.exception("Delivery %s failed", delivery_id)
        ingestion.record_failure(delivery_id=delivery_id, error=repr(exc))


@shared_task
def sweep_deliveries() -> int:
    """Re-process any stored delivery that no task finished."""
    cutoff = timezone.now() - SWEEP_GRACE
    ids = list(
        Delivery.objects.filter(processed_at__isnull=True, received_at__lt=cutoff, attempts__lt=Delivery.MAX_ATTEMPTS)
        .order_by("received_at")
        .values_list("pk", flat=True)[:500]
    )
    # Bounded in time, well inside the task's soft limit: a sweep that ran
    # into the limit was killed, redelivered (late acks) and killed again,
    # every 30 s, until it held the whole pool and deliveries piled up
    # (chaos scenario "redis": 6,700 left after 10 minutes). What is left is
    # the next sweep's.
    deadline = time.monotonic() + SWEEP_BUDGET_SECONDS
    done = 0
    for delivery_id in ids:
        if time.monotonic() > deadline:
            break
        _process_one(delivery_id)
        done += 1
    return done


@shared_task(acks_late=True)
def send_message(message_id: int) -> str:
    return sending.perform_send(message_id=message_id)


@shared_task
def sweep_outbox() -> tuple[int, int]:
    return sending.sweep_outbox()


@shared_task(acks_late=True)
def hide_comment(message_id: int, hidden: bool) -> str:
    return sending.perform_hide(message_id=message_id, hidden=hidden)


@shared_task(acks_late=True, autoretry_for=(GraphError,), retry_backoff=30, max_retries=3)
def fetch_profile(contact_id: int) -> str:
    return sending.fetch_profile(contact_id=contact_id)


@shared_task(acks_late=True)
def mark_seen(conversation_id: int) -> str:
    conversation = Conversation.objects.select_related("page", "contact").get(pk=conversation_id)
    from .graph import GraphClient

    if conversation.contact is None:
        return "no-contact"
    try:
        GraphClient(conversation.page.access_token).sender_action(
            conversation.page.meta_page_id, conversation.contact.external_id, "mark_seen"
        )
    except GraphError:
        return "failed"
    Conversation.objects.filter(pk=conversation_id).update(mark_seen_sent_at=timezone.now())
    return "seen"


@shared_task
def sweep_deadlines() -> tuple[int, int]:
    return opportunities.mark_deadlines()


@shared_task
def refresh_rollups() -> int:
    """Daily rollups: days that ended, and days the worker marked stale."""
    from .services import rollups

    return rollups.refresh_due()


@shared_task
def wake_snoozed() -> int:
    return conversation_services.wake_snoozed()


@shared_task
def heartbeat() -> None:
    WorkerHeartbeat.objects.update_or_create(name="worker", defaults={"beat_at": timezone.now()})


@worker_ready.connect
def _first_heartbeat(**kwargs: object) -> None:
    # Through the queue, so it proves the worker consumes: /healthz sees it
    # at once rather than after beat's first 10 s interval.
    _publish(heartbeat)



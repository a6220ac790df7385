"""Response opportunities as the worker stores them (services/opportunities.py),
through real deliveries to /webhooks/meta and the real services."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from inbox import simulation
from inbox.models import (
    Channel,
    Conversation,
    ConversationKind,
    DailyRollup,
    Direction,
    Message,
    OpeningInterval,
    ResponseOpportunity,
    SendStatus,
)
from inbox.services import hours, ingestion, opportunities, sending

from . import ro_helpers as meta
from .conftest import at

pytestmark = pytest.mark.django_db

T0 = at("2026-11-20 10:00:00")  # a Friday, 11:00 in Paris
NOW = at("2026-11-21 12:00:00")


def ros(conversation=None):
    # Two conversations may open at the same instant: their own order breaks the tie,
    # which a rebuild keeps (it recreates the opportunities, not the conversations).
    qs = ResponseOpportunity.objects.order_by("opened_at", "conversation_id", "clock_start")
    if conversation is not None:
        qs = qs.filter(conversation=conversation)
    return list(qs.select_related("opened_by", "closed_by"))


def summary(conversation=None):
    return [
        (ro.opened_by.text, ro.closed_by.text if ro.closed_by else None, ro.response_seconds)
        for ro in ros(conversation)
    ]


def test_it_makes_one_opportunity_of_a_burst(page, deliver):
    pid = page.meta_page_id
    deliver(meta.messaging(pid, meta.customer(pid, "p1", T0, "un")))
    deliver(meta.messaging(pid, meta.customer(pid, "p1", T0 + timedelta(seconds=20), "deux")))
    deliver(meta.messaging(pid, meta.customer(pid, "p1", T0 + timedelta(seconds=40), "trois")))
    deliver(meta.messaging(pid, meta.echo(pid, "p1", T0 + timedelta(seconds=130), "réponse")))

    assert summary() == [("un", "réponse", 130)]
    [ro] = ros()
    assert ro.kind == ConversationKind.PRIVATE
    assert ro.status == "on_time"
    assert ro.starts_conversation is True
    assert ro.conversation.due_at is None


def test_a_message_joining_an_open_burst_reads_neither_the_opportunities_nor_the_thread(page, deliver):
    # The worker's cost per message must not grow with a burst (a customer
    # writing line after line, or a flood): a customer message after the rest
    # of a thread whose RO is open joins that RO, and nothing is recomputed.
    pid = page.meta_page_id
    deliver(meta.messaging(pid, meta.customer(pid, "p1", T0, "un")))

    def process(second: int) -> list[str]:
        body = simulation.encode(meta.messaging(pid, meta.customer(pid, "p1", T0 + timedelta(seconds=second), "encore")))
        delivery, _ = ingestion.store_delivery(body=body)
        with CaptureQueriesContext(connection) as queries:
            assert ingestion.process_delivery(delivery_id=delivery.pk)
        return [query["sql"] for query in queries.captured_queries]

    second = process(10)
    for later in range(20, 200, 10):
        process(later)
    twentieth = process(200)

    assert len(twentieth) == len(second)
    assert not any("inbox_responseopportunity" in sql for sql in twentieth)
    assert summary() == [("un", None, None)]
    assert Conversation.objects.get().due_at == T0 + timedelta(seconds=300)
    # A late message stamped before the last one takes the full path and
    # still joins the same RO; the first reply closes it.
    process(5)
    deliver(meta.messaging(pid, meta.echo(pid, "p1", T0 + timedelta(seconds=250), "réponse")))
    assert summary() == [("un", "réponse", 250)]
    assert Conversation.objects.get().due_at is None


def test_it_closes_with_a_reply_processed_before_the_message_it_answers(page, deliver):
    pid = page.meta_page_id
    deliver(meta.messaging(pid, meta.echo(pid, "p1", T0 + timedelta(seconds=90), "réponse")))
    assert ros() == []
    deliver(meta.messaging(pid, meta.customer(pid, "p1", T0, "question")))

    assert summary() == [("question", "réponse", 90)]


def test_it_keeps_a_reply_stamped_before_the_message_from_closing_it(page, deliver):
    pid = page.meta_page_id
    deliver(meta.messaging(pid, meta.customer(pid, "p1", T0 + timedelta(seconds=5), "question")))
    deliver(meta.messaging(pid, meta.echo(pid, "p1", T0, "réponse à autre chose")))

    assert summary() == [("question", None, None)]
    assert Conversation.objects.get().due_at == T0 + timedelta(seconds=305)


def test_it_closes_at_a_reply_stamped_the_same_millisecond(page, deliver):
    pid = page.meta_page_id
    deliver(meta.messaging(pid, meta.echo(pid, "p1", T0, "réponse")))
    deliver(meta.messaging(pid, meta.customer(pid, "p1", T0, "question")))

    assert summary() == [("question", "réponse", 0)]


def test_it_counts_an_echo_from_metas_own_inbox_as_a_page_reply(page, deliver):
    pid = page.meta_page_id
    deliver(meta.messaging(pid, meta.customer(pid, "p1", T0, "question")))
    deliver(meta.messaging(pid, meta.echo(pid, "p1", T0 + timedelta(minutes=4), "vu dans Business Suite")))

    [ro] = ros()
    assert ro.closed_by.send_status == SendStatus.EXTERNAL
    assert ro.response_seconds == 240
    assert ro.responder is None  # nobody in Réactif answered


def test_it_never_closes_with_an_automatic_message(page, deliver):
    pid = page.meta_page_id
    deliver(meta.messaging(pid, meta.customer(pid, "p1", T0, "question")))
    conversation = Conversation.objects.get()
    away = sending.send_automatic(conversation=conversation, text="Nous sommes fermés", now=T0)
    deliver(meta.messaging(pid, meta.echo(pid, "p1", T0 + timedelta(seconds=1), "Nous sommes fermés",
                                          metadata=ingestion.metadata_for(away))))
    away.refresh_from_db()
    assert (away.send_status, away.is_automatic) == (SendStatus.SENT, True)

    assert summary() == [("question", None, None)]
    deliver(meta.messaging(pid, meta.echo(pid, "p1", T0 + timedelta(minutes=9), "réponse")))
    assert summary() == [("question", "réponse", 540)]
    assert ros()[0].status == "missed"


def test_it_credits_the_agent_whose_reply_closed_it(page, alice, deliver):
    pid = page.meta_page_id
    deliver(meta.messaging(pid, meta.customer(pid, "p1", T0, "question")))
    conversation = Conversation.objects.get()
    reply = sending.send_reply(conversation=conversation, author=alice, text="Avec plaisir",
                               now=T0 + timedelta(seconds=50))
    assert reply.send_status == SendStatus.QUEUED
    assert summary() == [("question", None, None)]  # not sent yet: not a reply

    deliver(meta.messaging(pid, meta.echo(pid, "p1", T0 + timedelta(seconds=61), "Avec plaisir",
                                          metadata=ingestion.metadata_for(reply), app_id="424242")))

    [ro] = ros()
    assert (ro.closed_by_id, ro.responder, ro.response_seconds) == (reply.pk, alice, 61)


def test_it_follows_a_reply_whose_echo_moves_it_later(page, alice, deliver):
    # Sent at 10:01 by our clock, then a second customer message at 10:01:30,
    # then the echo: Meta stamped the reply 10:02. One burst, one RO.
    pid = page.meta_page_id
    deliver(meta.messaging(pid, meta.customer(pid, "p1", T0, "un")))
    conversation = Conversation.objects.get()
    reply = sending.send_reply(conversation=conversation, author=alice, text="réponse", now=T0)
    Message.objects.filter(pk=reply.pk).update(send_status=SendStatus.SENT, timestamp=T0 + timedelta(seconds=60))
    reply.refresh_from_db()
    ingestion.message_added(reply)
    deliver(meta.messaging(pid, meta.customer(pid, "p1", T0 + timedelta(seconds=90), "deux")))
    assert summary() == [("un", "réponse", 60), ("deux", None, None)]

    deliver(meta.messaging(pid, meta.echo(pid, "p1", T0 + timedelta(seconds=120), "réponse",
                                          metadata=ingestion.metadata_for(reply), app_id="424242")))

    assert summary() == [("un", "réponse", 120)]
    before = summary()
    opportunities.rebuild()
    assert summary() == before


def test_it_recomputes_an_opportunity_whose_closing_reply_was_deleted(page, deliver):
    pid = page.meta_page_id
    deliver(meta.messaging(pid, meta.customer(pid, "p1", T0, "question")))
    deliver(meta.messaging(pid, meta.echo(pid, "p1", T0 + timedelta(seconds=30), "doublon", mid="m_dup")))
    Message.objects.filter(mid="m_dup").delete()
    [ro] = ros()
    assert ro.closed_by is None and ro.closed_at is not None  # what a deletion leaves

    deliver(meta.messaging(pid, meta.customer(pid, "p1", T0 + timedelta(seconds=40), "encore")))

    assert summary() == [("question", None, None)]


def test_it_splits_a_public_thread_from_private_messages(page, deliver):
    pid = page.meta_page_id
    deliver(meta.comment(pid, T0, from_id="c1", from_name="Léa", comment_id=f"{pid}_1_100", text="Prix ?"))
    deliver(meta.messaging(pid, meta.customer(pid, "p1", T0, "question privée")))
    # The Page answers the comment publicly from Facebook.
    deliver(meta.comment(pid, T0 + timedelta(minutes=20), from_id=pid, from_name=page.name,
                         parent_id=f"{pid}_1_100", text="12 €"))

    by_kind = {ro.kind: ro for ro in ros()}
    assert by_kind[ConversationKind.PUBLIC].response_seconds == 1200
    assert by_kind[ConversationKind.PUBLIC].target_seconds == 3600
    assert by_kind[ConversationKind.PUBLIC].status == "on_time"
    assert by_kind[ConversationKind.PRIVATE].closed_at is None
    assert by_kind[ConversationKind.PRIVATE].target_seconds == 300


def test_it_closes_a_public_thread_with_a_private_reply_sent_from_reactif(page, bob, deliver):
    pid = page.meta_page_id
    deliver(meta.comment(pid, T0, from_id="c1", from_name="Léa", comment_id=f"{pid}_1_100", text="Dispo en 42 ?"))
    thread = Conversation.objects.get(kind=ConversationKind.PUBLIC)
    comment = Message.objects.get(mid=f"{pid}_1_100")
    reply = sending.send_reply(conversation=thread, author=bob, text="Je vous écris en privé",
                               channel=Channel.PRIVATE_REPLY, comment=comment, now=T0 + timedelta(minutes=2))
    deliver(meta.messaging(pid, meta.echo(pid, "psid-lea", T0 + timedelta(minutes=3), "Je vous écris en privé",
                                          metadata=ingestion.metadata_for(reply), app_id="424242")))

    [ro] = ros(thread)
    assert (ro.closed_by_id, ro.responder, ro.response_seconds) == (reply.pk, bob, 180)
    assert not ResponseOpportunity.objects.filter(kind=ConversationKind.PRIVATE).exists()


def test_it_starts_the_clock_at_the_next_opening(page, deliver):
    # Open Monday to Friday 09:00-18:00 in Paris; a message on Friday at 20:00.
    for weekday in range(5):
        OpeningInterval.objects.create(page=page, weekday=weekday, start_minute=9 * 60, end_minute=18 * 60)
    hours.hours_changed(page)
    friday_evening = at("2026-11-20 19:00:00")
    monday_opening = at("2026-11-23 08:00:00")
    pid = page.meta_page_id

    deliver(meta.messaging(pid, meta.customer(pid, "p1", friday_evening)))

    [ro] = ros()
    assert (ro.opened_at, ro.clock_start, ro.due_at) == (
        friday_evening, monday_opening, monday_opening + timedelta(seconds=300))
    conversation = Conversation.objects.get()
    assert conversation.due_at == ro.due_at
    assert conversation.received_while_closed is True

    deliver(meta.messaging(pid, meta.echo(pid, "p1", monday_opening + timedelta(minutes=4))))
    ro.refresh_from_db()
    assert (ro.response_seconds, ro.status) == (240, "on_time")
    conversation.refresh_from_db()
    assert (conversation.due_at, conversation.received_while_closed) == (None, False)


def test_it_keeps_a_stored_clock_start_when_the_hours_change(page, deliver):
    pid = page.meta_page_id
    deliver(meta.messaging(pid, meta.customer(pid, "p1", at("2026-11-20 19:00:00"), "un")))
    OpeningInterval.objects.create(page=page, weekday=4, start_minute=9 * 60, end_minute=18 * 60)
    hours.hours_changed(page)
    deliver(meta.messaging(pid, meta.customer(pid, "p1", at("2026-11-20 19:00:10"), "deux")))

    [ro] = ros()
    assert ro.clock_start == at("2026-11-20 19:00:00")  # the RO opened when there were no hours


def test_it_stores_one_opportunity_for_a_delivery_sent_twice(page, deliver):
    pid = page.meta_page_id
    payload = meta.messaging(pid, meta.customer(pid, "p1", T0, mid="m_once"))
    deliver(payload)
    # Meta retries with a new envelope time: another body, the same message.
    payload["entry"][0]["time"] += 1000
    deliver(payload)

    assert ResponseOpportunity.objects.count() == 1
    assert Message.objects.filter(direction=Direction.INBOUND).count() == 1


def test_it_marks_a_past_day_stale_when_a_late_reply_changes_it(page, deliver):
    pid = page.meta_page_id
    deliver(meta.messaging(pid, meta.customer(pid, "p1", T0)))
    from inbox.services import rollups

    rollups.compute(page=page, kind=ConversationKind.PRIVATE, day=T0.date())
    assert DailyRollup.objects.get(day=T0.date()).stale is False

    deliver(meta.messaging(pid, meta.echo(pid, "p1", T0 + timedelta(minutes=2))))

    assert DailyRollup.objects.get(day=T0.date()).stale is True


def test_rebuild_responsiveness_recomputes_from_the_messages(page, other_page, deliver, capsys):
    pid = page.meta_page_id
    deliver(meta.messaging(pid, meta.customer(pid, "p1", T0, "un")))
    deliver(meta.messaging(pid, meta.echo(pid, "p1", T0 + timedelta(seconds=100), "réponse")))
    deliver(meta.messaging(pid, meta.customer(pid, "p2", T0, "deux")))
    kept = summary()
    ResponseOpportunity.objects.all().delete()

    call_command("rebuild_responsiveness", pid)

    assert summary() == kept
    assert "2 conversations" in capsys.readouterr().out


def test_rebuild_responsiveness_refuses_an_unknown_page(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("rebuild_responsiveness", "999")

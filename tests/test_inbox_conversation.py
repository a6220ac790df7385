"""A conversation: the thread in order, rendered safely, with edits,
deletions, reactions, read state, the 24-hour window, the deadline, public
threads' actions, status and assignment, and a pinned number of queries."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inbox import selectors, services, simulation
from inbox.models import (
    AuditLog,
    AwayPeriod,
    Channel,
    Conversation,
    ConversationEvent,
    ConversationStatus,
    Message,
    SendStatus,
)
from inbox.services import hours, send_reply

from .inbox_helpers import customer_comments, customer_writes, now_s

pytestmark = pytest.mark.django_db


def html_of(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def messaging(deliver, page, item):
    deliver(simulation.envelope(page.meta_page_id, messaging=[item]))


# --- Access -------------------------------------------------------------------------


def test_it_shows_an_outsider_a_404_for_every_conversation_url(client, charlie, page, deliver):
    conversation = customer_writes(deliver, page, "p1", "secret", seconds_ago=10)
    message = conversation.messages.get()
    client.force_login(charlie)
    assert client.get(f"/c/{conversation.pk}/").status_code == 404
    assert client.get(f"/c/{conversation.pk}/?part=refresh", HTTP_HX_REQUEST="true").status_code == 404
    assert client.get(f"/c/{conversation.pk}/?before=abc", HTTP_HX_REQUEST="true").status_code == 404
    for url, data in [
        (f"/c/{conversation.pk}/reply", {"text": "hi"}), (f"/c/{conversation.pk}/note", {"text": "hi"}),
        (f"/c/{conversation.pk}/typing", {}), (f"/c/{conversation.pk}/status", {"status": "done"}),
        (f"/c/{conversation.pk}/assign", {"assignee": "me"}), (f"/m/{message.pk}/retry", {}),
        (f"/m/{message.pk}/hide", {"hidden": "on", "reason": "spam"}),
    ]:
        assert client.post(url, data).status_code == 404, url
    assert Message.objects.filter(conversation=conversation).count() == 1


def test_it_shows_a_missing_conversation_as_404(client, bob):
    client.force_login(bob)
    assert client.get("/c/999999/").status_code == 404


# --- The thread ------------------------------------------------------------------------


def test_it_shows_the_thread_in_platform_timestamp_order_whatever_the_arrival(client, bob, page, deliver):
    customer_writes(deliver, page, "p1", "deuxième", seconds_ago=60)
    conversation = customer_writes(deliver, page, "p1", "premier", seconds_ago=120, name="Camille Martin")
    client.force_login(bob)
    html = html_of(client.get(f"/c/{conversation.pk}/"))
    assert html.index("premier") < html.index("deuxième")
    assert "Camille Martin" in html


def test_it_renders_customer_text_and_links_inert(client, bob, page, deliver):
    conversation = customer_writes(
        deliver, page, "p1",
        '<script>alert("x")</script> javascript:alert(1) <a href="javascript:alert(2)">clic</a> '
        "voir https://example.com/a?b=1&c=2. merci", seconds_ago=10)
    client.force_login(bob)
    html = html_of(client.get(f"/c/{conversation.pk}/"))
    assert '<script>alert("x")' not in html and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert 'href="javascript:' not in html
    assert '<a href="https://example.com/a?b=1&amp;c=2" target="_blank" rel="noopener noreferrer nofollow">' in html


def test_it_renders_attachments_safely(client, bob, page, deliver):
    conversation = customer_writes(deliver, page, "p1", "", seconds_ago=10, attachments=[
        {"type": "image", "payload": {"url": "https://scontent.xx.fbcdn.net/photo.jpg"}},
        {"type": "image", "payload": {"url": "http://insecure.example/photo.jpg"}},
        {"type": "file", "payload": {"url": "javascript:alert(document.cookie)"}},
        {"type": "file", "payload": {"url": "https://cdn.example/facture.pdf"}},
        {"type": "image", "payload": {"url": "data:image/svg+xml,<svg onload=alert(1)>"}},
    ])
    client.force_login(bob)
    html = html_of(client.get(f"/c/{conversation.pk}/"))
    images = re.findall(r'<img src="([^"]*)"', html)
    assert images == ["https://scontent.xx.fbcdn.net/photo.jpg"]  # https only
    assert 'href="http://insecure.example/photo.jpg"' in html  # a plain link, not an image
    assert "javascript:" not in html.split('id="thread"')[1].split("</section>")[0]
    assert "data:image" not in html
    link = re.search(r'<a href="https://cdn.example/facture.pdf"[^>]*>', html).group(0)
    assert 'rel="noopener noreferrer nofollow"' in link and 'target="_blank"' in link


def test_it_shows_edits_deletions_reactions_and_read_state(client, bob, page, deliver, fake_graph):
    t = now_s()
    conversation = customer_writes(deliver, page, "p1", "Je veux la taille 38", seconds_ago=120, mid="m_edit")
    customer_writes(deliver, page, "p1", "Oups, message effacé", seconds_ago=110, mid="m_del")
    messaging(deliver, page, {"sender": {"id": "p1"}, "recipient": {"id": page.meta_page_id},
                              "timestamp": simulation.ms(t - 100),
                              "message_edit": {"mid": "m_edit", "text": "Je veux la taille 40", "num_edit": 1}})
    messaging(deliver, page, {"sender": {"id": "p1"}, "recipient": {"id": page.meta_page_id},
                              "timestamp": simulation.ms(t - 90),
                              "message": {"mid": "m_del", "text": "", "is_deleted": True}})
    reply = send_reply(conversation=conversation, author=bob, text="C'est noté ! Bob")
    Message.objects.filter(pk=reply.pk).update(send_status=SendStatus.SENT, mid="m_reply",
                                               timestamp=timezone.now() - timedelta(seconds=80))
    messaging(deliver, page, {"sender": {"id": "p1"}, "recipient": {"id": page.meta_page_id},
                              "timestamp": simulation.ms(t - 60),
                              "reaction": {"mid": "m_reply", "action": "react", "emoji": "❤", "reaction": "love"}})
    messaging(deliver, page, simulation.read(page.meta_page_id, "p1", t - 50, t - 55))
    client.force_login(bob)
    html = html_of(client.get(f"/c/{conversation.pk}/"))
    assert "Je veux la taille 40" in html and "<del>Je veux la taille 38</del>" in html  # edit, with history
    assert "msg-removed" in html and "is-removed" in html  # deletion shown as such
    assert 'title="love">❤</li>' in html  # reaction on our reply
    assert 'class="msg-status is-seen"' in html  # the customer read it


def test_it_shows_failed_replies_with_metas_reason_and_a_retry(client, bob, page, deliver):
    conversation = customer_writes(deliver, page, "p1", "hello", seconds_ago=10)
    reply = send_reply(conversation=conversation, author=bob, text="Bonjour ! Bob")
    Message.objects.filter(pk=reply.pk).update(
        send_status=SendStatus.FAILED, send_error="(#551) This person isn't available right now.")
    client.force_login(bob)
    html = html_of(client.get(f"/c/{conversation.pk}/"))
    assert "(#551) This person isn&#x27;t available right now." in html
    assert f'action="/m/{reply.pk}/retry"' in html
    response = client.post(f"/m/{reply.pk}/retry", HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and 'hx-swap-oob="true"' in response.content.decode()
    reply.refresh_from_db()
    assert reply.send_status == SendStatus.QUEUED


def test_it_asks_before_sending_again_a_reply_that_may_have_been_delivered(client, bob, page, deliver):
    conversation = customer_writes(deliver, page, "p1", "hello", seconds_ago=10)
    reply = send_reply(conversation=conversation, author=bob, text="Bonjour ! Bob")
    Message.objects.filter(pk=reply.pk).update(send_status=SendStatus.FAILED, maybe_delivered=True,
                                               send_error="timeout")
    client.force_login(bob)
    assert 'name="confirmed" value="1"' in html_of(client.get(f"/c/{conversation.pk}/"))
    client.post(f"/m/{reply.pk}/retry", HTTP_HX_REQUEST="true")
    reply.refresh_from_db()
    assert reply.send_status == SendStatus.FAILED  # not without the agent's confirmation
    client.post(f"/m/{reply.pk}/retry", {"confirmed": "1"}, HTTP_HX_REQUEST="true")
    reply.refresh_from_db()
    assert reply.send_status == SendStatus.QUEUED


def test_it_pages_back_through_a_long_thread(client, bob, page, deliver, monkeypatch):
    monkeypatch.setattr(selectors, "THREAD_PAGE_SIZE", 3)
    for i in range(7):
        conversation = customer_writes(deliver, page, "p1", f"message n°{i}", seconds_ago=700 - i * 10)
    client.force_login(bob)
    html = html_of(client.get(f"/c/{conversation.pk}/"))
    assert [int(n) for n in re.findall(r"message n°(\d)", html)] == [4, 5, 6]
    before = re.search(r'\?before=([\w-]+)"', html).group(1)
    older = html_of(client.get(f"/c/{conversation.pk}/?before={before}", HTTP_HX_REQUEST="true"))
    assert [int(n) for n in re.findall(r"message n°(\d)", older)] == [1, 2, 3]
    assert "<html" not in older


# --- The window and the deadline --------------------------------------------------------


def test_it_says_how_long_the_24_hour_window_stays_open(client, bob, page, deliver):
    conversation = customer_writes(deliver, page, "p1", "hello", seconds_ago=20 * 3600 + 48 * 60 - 30)
    client.force_login(bob)
    html = html_of(client.get(f"/c/{conversation.pk}/"))
    assert re.search(r'data-mode="left">3 h 1[12] min</span>', html)


def test_it_offers_human_agent_between_24_hours_and_7_days_when_enabled(client, bob, page, deliver):
    page.human_agent_enabled = True
    page.save()
    conversation = customer_writes(deliver, page, "p1", "hello", seconds_ago=2 * 86400)
    client.force_login(bob)
    html = html_of(client.get(f"/c/{conversation.pk}/"))
    assert "HUMAN_AGENT" in html and 'id="composer-send"' in html and 'id="composer-send" disabled' not in html


def test_it_closes_the_composer_when_meta_no_longer_allows_a_reply(client, bob, page, deliver):
    conversation = customer_writes(deliver, page, "p1", "hello", seconds_ago=8 * 86400)
    client.force_login(bob)
    html = html_of(client.get(f"/c/{conversation.pk}/"))
    assert "composer-closed" in html and 'id="composer-send" disabled' in html
    assert "Add internal note" in html  # notes stay possible


def test_it_counts_down_to_the_open_opportunitys_due_time(client, bob, page, deliver):
    conversation = customer_writes(deliver, page, "p1", "hello", seconds_ago=10)
    conversation.refresh_from_db()
    client.force_login(bob)
    html = html_of(client.get(f"/c/{conversation.pk}/"))
    side = html.split('id="conv-side"')[1]
    assert f'data-due="{int(conversation.due_at.timestamp() * 1000)}"' in side


def test_it_says_when_the_clock_starts_for_a_message_received_while_closed(client, bob, page, deliver):
    AwayPeriod.objects.create(page=page, start=timezone.now() - timedelta(hours=1),
                              until=timezone.now() + timedelta(hours=3), created_by=bob)
    hours.hours_changed(page)
    conversation = customer_writes(deliver, page, "p1", "hello", seconds_ago=10)
    client.force_login(bob)
    html = html_of(client.get(f"/c/{conversation.pk}/"))
    side = html.split('id="conv-side"')[1]
    assert "Received while closed" in side and "js-countdown" not in side.split("</section>")[0]


# --- Read receipts ------------------------------------------------------------------


def test_it_lets_the_service_send_mark_seen_when_opened_in_hours(client, bob, page, deliver, monkeypatch,
                                                                 django_capture_on_commit_callbacks):
    conversation = customer_writes(deliver, page, "p1", "hello", seconds_ago=10)
    seen: list[int] = []
    monkeypatch.setattr("inbox.tasks.enqueue_mark_seen", seen.append)
    client.force_login(bob)
    with django_capture_on_commit_callbacks(execute=True):
        client.get(f"/c/{conversation.pk}/")
    assert seen == [conversation.pk]


def test_it_does_not_mark_seen_when_opened_outside_opening_hours(client, bob, page, deliver, monkeypatch,
                                                                 django_capture_on_commit_callbacks):
    AwayPeriod.objects.create(page=page, start=timezone.now() - timedelta(hours=1), until=None, created_by=bob)
    hours.hours_changed(page)
    conversation = customer_writes(deliver, page, "p1", "il est 2 h du matin", seconds_ago=10)
    seen: list[int] = []
    monkeypatch.setattr("inbox.tasks.enqueue_mark_seen", seen.append)
    client.force_login(bob)
    with django_capture_on_commit_callbacks(execute=True):
        client.get(f"/c/{conversation.pk}/")
    assert seen == []


# --- Public threads ------------------------------------------------------------------


def test_it_shows_a_public_thread_with_its_post_and_comment_actions(client, bob, page, deliver):
    comment = customer_comments(deliver, page, from_id="c1", name="Léa Bernard", text="Prix ?", post="77")
    client.force_login(bob)
    html = html_of(client.get(f"/c/{comment.conversation_id}/"))
    assert f"https://www.facebook.com/{page.meta_page_id}_77" in html
    assert f'data-reply-to="{comment.pk}" data-channel="comment"' in html
    assert f'data-reply-to="{comment.pk}" data-channel="private_reply"' in html
    assert f'action="/m/{comment.pk}/hide"' in html
    assert 'name="channel" value="comment" checked' in html  # public reply by default


def test_it_offers_no_private_reply_to_a_comment_older_than_7_days(client, bob, page, deliver):
    comment = customer_comments(deliver, page, from_id="c1", name="Léa", text="Prix ?", seconds_ago=8 * 86400)
    client.force_login(bob)
    html = html_of(client.get(f"/c/{comment.conversation_id}/"))
    assert 'data-channel="private_reply"' not in html


def test_it_offers_no_second_private_reply_to_a_comment(client, bob, page, deliver):
    comment = customer_comments(deliver, page, from_id="c1", name="Léa", text="Prix ?")
    send_reply(conversation=comment.conversation, author=bob, text="Je vous écris en privé. Bob",
               channel=Channel.PRIVATE_REPLY, comment=comment)
    client.force_login(bob)
    html = html_of(client.get(f"/c/{comment.conversation_id}/"))
    assert 'data-channel="private_reply"' not in html


def test_it_hides_a_comment_only_with_a_reason_and_logs_it(client, bob, page, deliver, monkeypatch):
    hidden: list[tuple[int, bool]] = []
    monkeypatch.setattr("inbox.tasks.enqueue_hide", lambda pk, flag: hidden.append((pk, flag)))
    comment = customer_comments(deliver, page, from_id="c1", name="Troll", text="Arnaque !!!")
    client.force_login(bob)
    response = client.post(f"/m/{comment.pk}/hide", {"hidden": "on", "reason": ""}, HTTP_HX_REQUEST="true")
    assert "hiding is a last resort" in response.content.decode()
    assert not ConversationEvent.objects.filter(kind="hide_requested").exists()
    response = client.post(f"/m/{comment.pk}/hide", {"hidden": "on", "reason": "Insultes"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    event = ConversationEvent.objects.get(kind="hide_requested")
    assert event.data["reason"] == "Insultes" and event.actor == bob
    assert AuditLog.objects.filter(action="comment_hidden", actor=bob).exists()


# --- Status and assignment -------------------------------------------------------------


def test_it_marks_done_and_goes_back_to_the_queue(client, bob, page, deliver):
    conversation = customer_writes(deliver, page, "p1", "hello", seconds_ago=10)
    client.force_login(bob)
    response = client.post(f"/c/{conversation.pk}/status", {"status": "done"}, HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"] == "/"
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.DONE
    # Without JavaScript: a plain redirect.
    response = client.post(f"/c/{conversation.pk}/status", {"status": "pending"})
    assert response.status_code == 302 and response["Location"] == "/"


@pytest.mark.parametrize("choice", ["1h", "3h", "tomorrow", "monday"])
def test_it_snoozes_until_a_time_in_the_future(client, bob, page, deliver, choice):
    conversation = customer_writes(deliver, page, "p1", "hello", seconds_ago=10)
    client.force_login(bob)
    client.post(f"/c/{conversation.pk}/status", {"status": "snoozed", "snooze": choice})
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.SNOOZED
    assert timezone.now() + timedelta(minutes=59) < conversation.snoozed_until < timezone.now() + timedelta(days=8)


def test_it_snoozes_until_a_time_picked_in_the_pages_time_zone(client, bob, page, deliver):
    conversation = customer_writes(deliver, page, "p1", "hello", seconds_ago=10)
    client.force_login(bob)
    client.post(f"/c/{conversation.pk}/status", {"status": "snoozed", "snooze": "custom", "until": "2099-01-05T09:30"})
    conversation.refresh_from_db()
    assert conversation.snoozed_until.isoformat() == "2099-01-05T08:30:00+00:00"  # 09:30 in Paris


def test_it_refuses_a_snooze_in_the_past(client, bob, page, deliver):
    conversation = customer_writes(deliver, page, "p1", "hello", seconds_ago=10)
    client.force_login(bob)
    response = client.post(f"/c/{conversation.pk}/status",
                           {"status": "snoozed", "snooze": "custom", "until": "2001-01-01T09:00"},
                           HTTP_HX_REQUEST="true")
    assert 'id="conversation-notice"' in response.content.decode()
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OPEN


def test_it_marks_spam_and_reopens(client, bob, page, deliver):
    conversation = customer_writes(deliver, page, "p1", "BUY NOW", seconds_ago=10)
    client.force_login(bob)
    client.post(f"/c/{conversation.pk}/status", {"status": "spam"}, HTTP_HX_REQUEST="true")
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.SPAM
    response = client.post(f"/c/{conversation.pk}/status", {"status": "open"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and 'id="conv-head" class="conv-head" hx-swap-oob="true"' in response.content.decode()
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OPEN


def test_it_assigns_to_a_colleague_of_the_page_only(client, alice, bob, charlie, page, deliver):
    conversation = customer_writes(deliver, page, "p1", "hello", seconds_ago=10)
    client.force_login(bob)
    client.post(f"/c/{conversation.pk}/assign", {"assignee": str(alice.pk)}, HTTP_HX_REQUEST="true")
    conversation.refresh_from_db()
    assert conversation.assignee == alice
    response = client.post(f"/c/{conversation.pk}/assign", {"assignee": str(charlie.pk)}, HTTP_HX_REQUEST="true")
    assert "Only a member of this Page can be assigned." in response.content.decode()
    conversation.refresh_from_db()
    assert conversation.assignee == alice
    client.post(f"/c/{conversation.pk}/assign", {"assignee": ""}, HTTP_HX_REQUEST="true")
    conversation.refresh_from_db()
    assert conversation.assignee is None
    html = html_of(client.get(f"/c/{conversation.pk}/"))
    assert "Assigned to Alice" in html  # the timeline tells who did what


def test_it_refreshes_every_region_out_of_band_for_the_live_update(client, bob, page, deliver):
    conversation = customer_writes(deliver, page, "p1", "hello", seconds_ago=10)
    client.force_login(bob)
    html = html_of(client.get(f"/c/{conversation.pk}/?part=refresh", HTTP_HX_REQUEST="true"))
    assert "<html" not in html
    for region in ("conv-head", "thread", "conv-side", "conversation-notice"):
        assert re.search(rf'id="{region}"[^>]*hx-swap-oob="true"', html), region
    assert 'id="composer"' not in html  # the draft being typed is never replaced


# --- Queries --------------------------------------------------------------------------


def _queries(client, path: str) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path).status_code == 200
    return [q["sql"] for q in captured.captured_queries if "django_session" not in q["sql"]]


def test_it_loads_a_conversation_in_a_fixed_number_of_queries(client, alice, bob, page, deliver,
                                                              django_assert_max_num_queries):
    conversation = customer_writes(deliver, page, "p1", "hello", seconds_ago=500)
    client.force_login(bob)
    client.get(f"/c/{conversation.pk}/")
    few = _queries(client, f"/c/{conversation.pk}/")
    for i in range(20):
        customer_writes(deliver, page, "p1", f"encore {i}", seconds_ago=400 - i)
    reply = send_reply(conversation=conversation, author=alice, text="Réponse d'Alice")
    Message.objects.filter(pk=reply.pk).update(send_status=SendStatus.FAILED, send_error="x")
    Conversation.objects.filter(pk=conversation.pk).update(assignee=bob)
    many = _queries(client, f"/c/{conversation.pk}/")
    assert len(many) == len(few), "\n".join(many)
    with django_assert_max_num_queries(16):
        client.get(f"/c/{conversation.pk}/")


def test_it_checks_access_on_the_layouts_memberships_without_reading_the_page_again(client, bob, page, deliver):
    conversation = customer_writes(deliver, page, "p1", "hello", seconds_ago=10)
    client.force_login(bob)
    client.get(f"/c/{conversation.pk}/")  # warm the session cache
    queries = _queries(client, f"/c/{conversation.pk}/")
    reads = [sql for sql in queries if 'FROM "inbox_conversation"' in sql]
    assert len(reads) == 1, "\n".join(reads)
    # The Page comes from the memberships the topbar reads anyway: the
    # conversation's query neither joins it nor looks the memberships up again.
    assert '"inbox_page"' not in reads[0] and '"inbox_membership"' not in reads[0], reads[0]
    assert len([sql for sql in queries if 'FROM "inbox_membership"' in sql]) == 1


def test_it_reads_the_thread_newest_first_with_a_limit(client, bob, page, deliver):
    other = customer_writes(deliver, page, "p2", "ailleurs", seconds_ago=5)
    conversation = customer_writes(deliver, page, "p1", "hello", seconds_ago=10)
    first = conversation.messages.get()
    Message.objects.bulk_create(
        Message(page=page, conversation=thread, direction="in", text=f"n° {n}",
                timestamp=first.timestamp - timedelta(minutes=n))
        for thread in (conversation, other) for n in range(1, 3000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE inbox_message")
    client.force_login(bob)
    sql = [q for q in _queries(client, f"/c/{conversation.pk}/") if 'FROM "inbox_message"' in q
           and '"inbox_message"."conversation_id" = ' in q]
    assert len(sql) == 1
    # Newest first (the timestamp is the statement's 6th column), 100 shown and one to know there is more…
    assert re.search(r'ORDER BY (6|"inbox_message"\."timestamp") DESC, "inbox_message"\."id" DESC LIMIT 101$', sql[0])
    assert re.search(r'SELECT "inbox_message"\."id" AS "pk", (\S+ AS "\w+", ){4}"inbox_message"\."timestamp"', sql[0])
    # …walking the thread's index backwards from the newest: never sorting 3,000 messages.
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql[0]}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Index Scan Backward using msg_thread_order" in plan and "Sort" not in plan, plan
    html = html_of(client.get(f"/c/{conversation.pk}/"))
    assert "hello" in html and "n° 99<" in html and "n° 100<" not in html and "Show earlier messages" in html


def test_it_suggests_a_private_reply_to_a_comment_holding_personal_data(client, bob, page, deliver):
    comment = customer_comments(deliver, page, from_id="c1", name="Léa",
                                text="Appelez-moi au 06 12 34 56 78, c'est urgent")
    client.force_login(bob)
    html = html_of(client.get(f"/c/{comment.conversation_id}/"))
    assert 'data-warning="sensitive_public"' in html


def test_it_says_in_the_queue_when_the_clock_of_a_night_message_starts(client, bob, page, deliver):
    from inbox.availability import format_next_opening

    AwayPeriod.objects.create(page=page, start=timezone.now() - timedelta(hours=1),
                              until=timezone.now() + timedelta(days=1, hours=2), created_by=bob)
    hours.hours_changed(page)
    conversation = customer_writes(deliver, page, "p1", "hello", seconds_ago=10)
    conversation.refresh_from_db()
    clock_start = conversation.due_at - timedelta(seconds=page.private_target_seconds)
    expected = format_next_opening(clock_start, language="en", now=timezone.now(), tz=page.timezone)
    assert " at " in expected  # "Tuesday at 1:32 AM", not a bare time of day
    client.force_login(bob)
    html = html_of(client.get("/"))
    assert f'clock-later">{expected}</span>' in html


def test_it_pins_a_conversation_to_six_queries_private_or_public(client, alice, bob, page, deliver):
    private = customer_writes(deliver, page, "p1", "hello", seconds_ago=500,
                              attachments=[{"type": "image", "payload": {"url": "https://example.com/a.png"}}])
    send_reply(conversation=private, author=alice, text="Bonjour")
    comment = customer_comments(deliver, page, from_id="c1", name="Camille", text="Ouvert dimanche ?")
    customer_comments(deliver, page, from_id="c2", name="Dominique", text="Moi aussi", parent_id=comment.mid)
    client.force_login(bob)
    for conversation_id in (private.pk, comment.conversation_id):
        client.get(f"/c/{conversation_id}/")  # warm the session cache
        queries = [sql for sql in _queries(client, f"/c/{conversation_id}/")
                   if "inbox_responseopportunity" not in sql]  # the header's opening rush, hours permitting
        # The user, the conversation, its messages, its events, the Page's
        # members, the layout's memberships.
        assert len(queries) == 6, "\n".join(queries)


def test_it_reads_only_what_the_thread_shows(client, alice, bob, page, deliver):
    conversation = customer_writes(deliver, page, "p1", "hello", seconds_ago=500)
    send_reply(conversation=conversation, author=alice, text="Bonjour")
    services.set_status(conversation=conversation, status=ConversationStatus.DONE, actor=alice)
    client.force_login(bob)
    client.get(f"/c/{conversation.pk}/")  # warm the session cache
    queries = _queries(client, f"/c/{conversation.pk}/")
    messages = [sql for sql in queries if 'FROM "inbox_message"' in sql]
    events = [sql for sql in queries if 'FROM "inbox_conversationevent"' in sql]
    members = [sql for sql in queries if 'FROM "auth_user" INNER JOIN "inbox_membership"' in sql]
    assert len(messages) == len(events) == len(members) == 1, "\n".join(queries)
    # Sending's bookkeeping and the saved-reply statistics are never shown…
    for column in ("send_attempts", "next_attempt_at", "saved_reply_similarity", "messaging_type"):
        assert f'"inbox_message"."{column}"' not in messages[0]
    # …nor anyone's password, e-mail or last login.
    for sql in (messages[0], events[0], members[0]):
        assert '"auth_user"."password"' not in sql and '"auth_user"."email"' not in sql, sql


def test_it_shows_who_did_what_in_the_thread_without_a_query_per_line(client, alice, bob, page, deliver):
    conversation = customer_writes(deliver, page, "p1", "hello", seconds_ago=500)
    reply = send_reply(conversation=conversation, author=alice, text="Bonjour, c'est Alice")
    Message.objects.filter(pk=reply.pk).update(send_status=SendStatus.FAILED, send_error="(#10) Outside the window")
    services.assign_conversation(conversation=conversation, assignee=bob, actor=alice)
    services.set_status(conversation=conversation, status=ConversationStatus.DONE, actor=alice)
    client.force_login(bob)
    client.get(f"/c/{conversation.pk}/")  # warm the session cache
    with CaptureQueriesContext(connection) as captured:
        html = client.get(f"/c/{conversation.pk}/").content.decode()
    queries = [q["sql"] for q in captured.captured_queries
               if "django_session" not in q["sql"] and "inbox_responseopportunity" not in q["sql"]]
    assert len(queries) == 6, "\n".join(queries)
    assert re.search(r'class="msg-author">Alice</span>', html)  # the reply's author
    assert "Meta refused it: (#10) Outside the window" in html  # its failure, with a retry
    assert "Assigned to Bob" in html and "Marked done" in html  # the events…
    assert html.count('<span class="muted">· Alice</span>') == 2  # …with who did them


def test_it_says_the_day_of_a_deadline_that_is_not_today(client, bob, page, deliver):
    from zoneinfo import ZoneInfo

    from django.utils.formats import date_format

    paris = ZoneInfo("Europe/Paris")
    old = customer_writes(deliver, page, "p-old", "hello", seconds_ago=3 * 86400)
    fresh = customer_writes(deliver, page, "p-new", "bonjour", seconds_ago=1)
    client.force_login(bob)
    for conversation, with_day in ((old, True), (fresh, False)):
        conversation.refresh_from_db()
        due = conversation.due_at.astimezone(paris)
        if due.date() != timezone.now().astimezone(paris).date():
            with_day = True  # a fresh message just before midnight: due tomorrow
        expected = f'{date_format(due, "j N")} {due:%H:%M}' if with_day else f"{due:%H:%M}"
        html = client.get(f"/c/{conversation.pk}/").content.decode()
        assert f"answer by {expected}." in html


def test_it_shows_times_in_the_pages_zone_and_marks_replies_to_comments(client, bob, page, deliver):
    from zoneinfo import ZoneInfo

    from django.utils.formats import date_format

    comment = customer_comments(deliver, page, from_id="c1", name="Camille", text="Ouvert dimanche ?",
                                seconds_ago=3 * 86400)
    answer = customer_comments(deliver, page, from_id="c2", name="Dominique", text="Oui !", parent_id=comment.mid)
    client.force_login(bob)
    html = client.get(f"/c/{comment.conversation_id}/").content.decode()
    paris = ZoneInfo("Europe/Paris")
    for message in (comment, answer):
        local = message.timestamp.astimezone(paris)
        # What `|date:'c'` and `|date:"j N H:i"` say in the Page's zone.
        assert f'<time datetime="{local.isoformat()}">{date_format(local, "j N H:i")}</time>' in html
    items = dict(re.findall(r'<li id="m(\d+)" class="([^"]*)"', html))
    assert "msg-reply" not in items[str(comment.pk)]
    assert "msg-reply" in items[str(answer.pk)]


def test_it_never_marks_a_private_message_as_a_reply(client, bob, page, deliver):
    conversation = customer_writes(deliver, page, "p1", "hello", seconds_ago=10)
    client.force_login(bob)
    html = client.get(f"/c/{conversation.pk}/").content.decode()
    assert 'class="msg msg-in"' in html and "msg-reply" not in html

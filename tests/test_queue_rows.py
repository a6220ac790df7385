"""The queue's rows are rendered once per distinct content and reused
(inbox/queue_rows.py): what the agent sees must still be what is true now,
in their language, with a live countdown and a working CSRF token."""

from __future__ import annotations

import re
from datetime import timedelta
from unittest import mock

import pytest
from django.middleware.csrf import _check_token_format, _does_token_match, _unmask_cipher_token
from django.urls import reverse
from django.utils.safestring import SafeString

from inbox import fragments, queue_rows
from inbox.models import Contact, Conversation, ConversationStatus

from .inbox_helpers import customer_writes

pytestmark = pytest.mark.django_db


def row_html(html: str, pk: int) -> str:
    start = html.index(f'data-conversation="{pk}"')
    return html[start:html.index("</li>", start)]


def test_it_renders_a_changed_conversation_afresh(client, bob, alice, page, deliver):
    conversation = customer_writes(deliver, page, "p1", "Première question", seconds_ago=30, name="Camille")
    client.force_login(bob)
    first = row_html(client.get("/").content.decode(), conversation.pk)
    assert "Première question" in first and "Unassigned" in first
    client.get("/")  # the row is now in the cache

    customer_writes(deliver, page, "p1", "Deuxième question", seconds_ago=5)
    Conversation.objects.filter(pk=conversation.pk).update(assignee=alice)
    Contact.objects.filter(pk=conversation.contact_id).update(name="Camille Martin")
    row = row_html(client.get("/").content.decode(), conversation.pk)
    assert "Deuxième question" in row and "Première question" not in row
    assert "Camille Martin" in row and "Alice" in row and "Unassigned" not in row

    assert 'data-row-action="done"' in row
    response = client.post(reverse("inbox:status", args=[conversation.pk]), {"status": ConversationStatus.DONE})
    assert response.status_code == 302
    done = row_html(client.get("/?status=done").content.decode(), conversation.pk)
    assert 'data-row-action="done"' not in done


def test_it_speaks_the_language_of_each_request(client, bob, page, deliver):
    conversation = customer_writes(deliver, page, "p1", "Bonjour", seconds_ago=400)
    client.force_login(bob)
    english = row_html(client.get("/").content.decode(), conversation.pk)
    client.cookies["django_language"] = "fr"
    french = row_html(client.get("/").content.decode(), conversation.pk)
    assert "Missed" in english and "Unassigned" in english
    assert "Missed" not in french and "En retard" in french and "Non assignée" in french


def test_the_countdown_is_worked_out_at_each_load_while_the_row_is_reused(client, bob, page, deliver):
    conversation = customer_writes(deliver, page, "p1", "Bonjour", seconds_ago=0)
    client.force_login(bob)
    fragments.cache_clear()
    due = conversation.due_at
    texts = []
    with mock.patch("inbox.fragments.get_template", wraps=fragments.get_template) as get_template:
        for left in (200, 140):
            with mock.patch("django.utils.timezone.now", return_value=due - timedelta(seconds=left)):
                row = row_html(client.get("/").content.decode(), conversation.pk)
            texts.append(re.search(r'js-countdown" data-due="\d+">([^<]*)<', row).group(1))
    assert texts == ["3 min 20 s", "2 min 20 s"]
    renders = [c.args[0] for c in get_template.call_args_list]
    assert renders.count("inbox/queue.html#row") == 1  # rendered once, then reused


def test_each_response_carries_its_own_valid_csrf_token(client, bob, page, deliver):
    conversation = customer_writes(deliver, page, "p1", "Bonjour", seconds_ago=0)
    client.force_login(bob)
    tokens = []
    for _ in range(2):
        response = client.get("/")
        row = row_html(response.content.decode(), conversation.pk)
        tokens += re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', row)
    assert len(tokens) == 4 and len(set(tokens)) >= 2  # a new mask per response
    secret = client.cookies["csrftoken"].value
    for token in tokens:
        _check_token_format(token)
        assert _does_token_match(token, secret), token
    assert fragments.slot("csrf") not in response.content.decode()
    assert _unmask_cipher_token(tokens[0]) == _unmask_cipher_token(tokens[-1])


def test_customer_text_is_escaped_and_cannot_reach_a_slot(client, bob, page, deliver):
    hostile = f'<script>alert(1)</script> {fragments.slot("left").upper()} slotleft{"0" * 32} <img src=x onerror=alert(2)>'
    conversation = customer_writes(deliver, page, "p1", hostile, seconds_ago=0, name='"><svg onload=alert(3)>')
    client.force_login(bob)
    for _ in range(2):  # rendered, then from the cache
        row = row_html(client.get("/").content.decode(), conversation.pk)
        assert "<script>" not in row and "<img" not in row and "<svg" not in row
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in row and "&quot;&gt;&lt;svg onload=alert(3)&gt;" in row
        assert f"slotleft{'0' * 32}" in row and fragments.slot("left").upper() in row


def test_the_row_partial_only_holds_the_row():
    # A row renders with nothing but its own values (no request, no
    # context processor): what the cache stores cannot depend on the user.
    row = queue_rows.QueueRow(
        pk="7", at_risk_seconds="60", is_public=False, has_due=True, clock_not_started=False,
        clock_start_text="", is_missed=True, is_at_risk=False, due_ms="1", status="open", status_display="",
        contact_name="Camille", preview="Bonjour", post_id="", received_while_closed=False,
        last_message_iso="2026-11-23T10:00:00+01:00", last_message_text="10:00", page_name="Boulangerie",
        assignee_name="", is_mine=False, url="/c/7/", assign_url="/c/7/assign", status_url="/c/7/status",
    )
    csrf = SafeString('<input type="hidden" name="csrfmiddlewaretoken" value="t">')  # as Django gives it
    [html] = queue_rows.render_rows([(row, "2 min <b>")], several_pages=True, csrf_input=csrf)
    assert 'data-conversation="7"' in html and "Camille" in html and "Boulangerie" in html
    assert ">2 min &lt;b&gt;<" in html and html.count(csrf) == 2

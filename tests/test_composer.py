"""The composer: replies (private, public, private reply to a comment),
internal notes, refusals that keep the draft, warnings to confirm, saved-reply
use, and the reply leaving through the (fake) Graph API."""

from __future__ import annotations

import re

import pytest

from inbox.models import Channel, Conversation, ConversationStatus, Direction, Message, SendStatus
from inbox.services import sending
from inbox.services.sending import SavedReplyUse
from templates_app import guidance
from templates_app.models import SavedReply

from .inbox_helpers import customer_comments, customer_writes, local_cache  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db


def post(client, conversation, text, **extra):
    return client.post(f"/c/{conversation.pk}/reply", {"text": text, **extra}, HTTP_HX_REQUEST="true")


def test_it_queues_a_reply_clears_the_composer_and_shows_it_sending(client, bob, page, deliver):
    conversation = customer_writes(deliver, page, "p1", "Vous livrez à Lyon ?", seconds_ago=30)
    client.force_login(bob)
    response = post(client, conversation, "Oui, en 48 h ! Bob")
    html = response.content.decode()
    reply = Message.objects.get(conversation=conversation, direction=Direction.OUTBOUND)
    assert reply.text == "Oui, en 48 h ! Bob" and reply.send_status == SendStatus.QUEUED and reply.author == bob
    composer = html[html.index('<form id="composer"'):html.index("</form>")]
    assert "data-sent" in composer and "Oui, en 48 h" not in composer.split("<textarea")[1]
    thread = html[html.index('id="thread"'):]
    assert 'hx-swap-oob="true"' in thread[:200] and "Oui, en 48 h ! Bob" in thread and "is-sending" in thread


def test_it_assigns_an_unassigned_conversation_to_the_replier(client, alice, bob, page, deliver):
    conversation = customer_writes(deliver, page, "p1", "hello", seconds_ago=30)
    client.force_login(bob)
    post(client, conversation, "Bonjour ! Bob")
    conversation.refresh_from_db()
    assert conversation.assignee == bob
    Conversation.objects.filter(pk=conversation.pk).update(assignee=alice)
    post(client, conversation, "Encore moi. Bob")
    conversation.refresh_from_db()
    assert conversation.assignee == alice  # already someone's: unchanged


def test_it_keeps_the_draft_and_says_why_when_meta_would_refuse(client, bob, page, deliver):
    conversation = customer_writes(deliver, page, "p1", "hello", seconds_ago=8 * 86400)
    client.force_login(bob)
    html = post(client, conversation, "Désolé pour le retard ! Bob").content.decode()
    assert not Message.objects.filter(direction=Direction.OUTBOUND).exists()
    assert "Désolé pour le retard ! Bob</textarea>" in html
    assert 'data-warning="window"' in html and "Send anyway" not in html


def test_it_shows_the_services_refusal_and_keeps_the_draft(client, bob, page, deliver, monkeypatch):
    conversation = customer_writes(deliver, page, "p1", "hello", seconds_ago=30)
    monkeypatch.setattr("templates_app.services.composer_warnings", lambda **kwargs: [])
    page.needs_reconnect = True
    page.save()
    client.force_login(bob)
    html = post(client, conversation, "Bonjour ! Bob").content.decode()
    assert "an admin must reconnect the Page" in html and 'role="alert"' in html
    assert "Bonjour ! Bob</textarea>" in html
    assert not Message.objects.filter(direction=Direction.OUTBOUND).exists()


def test_it_refuses_an_empty_reply(client, bob, page, deliver):
    conversation = customer_writes(deliver, page, "p1", "hello", seconds_ago=30)
    client.force_login(bob)
    html = post(client, conversation, "   ").content.decode()
    assert "Write something before sending." in html
    assert not Message.objects.filter(direction=Direction.OUTBOUND).exists()


def test_it_asks_to_confirm_then_sends_with_human_agent(client, bob, page, deliver):
    page.human_agent_enabled = True
    page.save()
    conversation = customer_writes(deliver, page, "p1", "hello", seconds_ago=2 * 86400)
    client.force_login(bob)
    html = post(client, conversation, "Je reprends votre demande. Bob").content.decode()
    assert not Message.objects.filter(direction=Direction.OUTBOUND).exists()
    assert re.search(r'<button type="submit" name="confirmed" value="window"', html)
    assert "Je reprends votre demande. Bob</textarea>" in html
    post(client, conversation, "Je reprends votre demande. Bob", confirmed="window")
    reply = Message.objects.get(direction=Direction.OUTBOUND)
    assert reply.tag == "HUMAN_AGENT" and reply.messaging_type == "MESSAGE_TAG"


def test_it_sends_only_when_every_confirm_warning_is_confirmed(client, bob, page, deliver, monkeypatch):
    conversation = customer_writes(deliver, page, "p1", "hello", seconds_ago=30)
    monkeypatch.setattr("templates_app.services.composer_warnings", lambda **kwargs: [
        guidance.Warning("repeat_contact", "confirm", {"count": 1, "days": 30}),
        guidance.Warning("window", "confirm", {"tag": "HUMAN_AGENT", "remaining_seconds": 3600}),
        guidance.Warning("too_long", "warn", {"length": 700, "limit": 640}),
    ])
    client.force_login(bob)
    html = post(client, conversation, "Texte. Bob").content.decode()
    assert 'name="confirmed" value="repeat_contact,window"' in html
    post(client, conversation, "Texte. Bob", confirmed="repeat_contact")
    assert not Message.objects.filter(direction=Direction.OUTBOUND).exists()
    post(client, conversation, "Texte. Bob", confirmed="repeat_contact,window")
    assert Message.objects.filter(direction=Direction.OUTBOUND).count() == 1


def test_it_never_sends_past_a_refuse_warning_even_confirmed(client, bob, page, deliver, monkeypatch):
    conversation = customer_writes(deliver, page, "p1", "hello", seconds_ago=30)
    monkeypatch.setattr("templates_app.services.composer_warnings", lambda **kwargs: [
        guidance.Warning("too_long", "refuse", {"length": 2500, "limit": 1999})])
    client.force_login(bob)
    html = post(client, conversation, "x" * 10, confirmed="too_long").content.decode()
    assert not Message.objects.filter(direction=Direction.OUTBOUND).exists()
    assert "Send anyway" not in html and 'data-warning="too_long"' in html


def test_it_passes_the_draft_and_the_saved_reply_to_the_saved_reply_checks(client, bob, page, deliver, monkeypatch):
    conversation = customer_writes(deliver, page, "p1", "hello", seconds_ago=30)
    saved = SavedReply.objects.create(page=page, title="Horaires", shortcut="horaires",
                                      body="Nous sommes ouverts de 9 h à 18 h.", created_by=bob)
    seen: dict = {}

    def warnings(**kwargs):
        seen["warnings"] = kwargs
        return []

    def use(**kwargs):
        seen["use"] = kwargs
        return SavedReplyUse(saved_reply_id=saved.pk, similarity=0.97, unedited=True)

    monkeypatch.setattr("templates_app.services.composer_warnings", warnings)
    monkeypatch.setattr("templates_app.services.saved_reply_use", use)
    client.force_login(bob)
    post(client, conversation, "Nous sommes ouverts de 9 h à 18 h. Bob", saved_reply_id=str(saved.pk))
    assert seen["warnings"]["saved_reply_id"] == saved.pk and seen["warnings"]["channel"] == "messenger"
    assert seen["warnings"]["conversation"] == conversation and seen["warnings"]["agent"] == bob
    assert seen["use"]["text"] == "Nous sommes ouverts de 9 h à 18 h. Bob"
    reply = Message.objects.get(direction=Direction.OUTBOUND)
    assert reply.saved_reply_id == saved.pk and reply.is_unedited_saved_reply


def test_it_adds_an_internal_note_that_never_goes_out(client, bob, page, deliver, fake_graph,
                                                      django_capture_on_commit_callbacks):
    conversation = customer_writes(deliver, page, "p1", "hello", seconds_ago=30)
    client.force_login(bob)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/c/{conversation.pk}/note", {"text": "Client VIP, voir commande 1234"},
                               HTTP_HX_REQUEST="true")
    html = response.content.decode()
    note = Message.objects.get(channel=Channel.NOTE)
    assert note.author == bob and note.send_status == ""
    assert "never sent to the customer" in html and "Client VIP" in html
    assert fake_graph.stats()["sends"] == 0
    conversation.refresh_from_db()
    assert conversation.due_at is not None  # a note is not an answer


def test_it_answers_a_comment_publicly(client, bob, page, deliver):
    comment = customer_comments(deliver, page, from_id="c1", name="Léa", text="Prix ?")
    client.force_login(bob)
    post(client, comment.conversation, "29 € ! Bob", channel="comment", comment=str(comment.pk))
    reply = Message.objects.get(direction=Direction.OUTBOUND)
    assert reply.channel == Channel.COMMENT and reply.parent_comment_id == comment.mid


def test_it_answers_a_comment_privately_once(client, bob, page, deliver):
    comment = customer_comments(deliver, page, from_id="c1", name="Léa", text="Mon adresse est 3 rue Haute")
    client.force_login(bob)
    post(client, comment.conversation, "Je vous écris en privé. Bob", channel="private_reply", comment=str(comment.pk))
    reply = Message.objects.get(direction=Direction.OUTBOUND)
    assert reply.channel == Channel.PRIVATE_REPLY and reply.recipient_comment_id == comment.mid
    html = post(client, comment.conversation, "Encore ? Bob", channel="private_reply",
                comment=str(comment.pk)).content.decode()
    assert "already received its private reply" in html and "Encore ? Bob</textarea>" in html
    assert Message.objects.filter(direction=Direction.OUTBOUND).count() == 1


def test_it_never_answers_a_comment_of_another_conversation(client, bob, page, deliver):
    mine = customer_comments(deliver, page, from_id="c1", name="Léa", text="Prix ?", post="1")
    other = customer_comments(deliver, page, from_id="c2", name="Hugo", text="Dispo ?", post="2")
    client.force_login(bob)
    html = post(client, mine.conversation, "29 € ! Bob", channel="comment", comment=str(other.pk)).content.decode()
    assert "Choose the comment to answer." in html
    assert not Message.objects.filter(direction=Direction.OUTBOUND).exists()


def test_it_works_without_javascript(client, bob, page, deliver):
    conversation = customer_writes(deliver, page, "p1", "hello", seconds_ago=30)
    client.force_login(bob)
    response = client.post(f"/c/{conversation.pk}/reply", {"text": "Bonjour ! Bob"})
    assert response.status_code == 302 and response["Location"] == f"/c/{conversation.pk}/"
    refused = client.post(f"/c/{conversation.pk}/reply", {"text": ""})
    assert refused.status_code == 200 and "<html" in refused.content.decode()


def test_it_sends_the_reply_through_the_graph_api_and_the_conversation_leaves_the_queue(
        client, bob, page, deliver, fake_graph, django_capture_on_commit_callbacks, monkeypatch):
    conversation = customer_writes(deliver, page, "p1", "Vous livrez à Lyon ?", seconds_ago=30)
    client.force_login(bob)
    assert f'data-conversation="{conversation.pk}"' in client.get("/").content.decode()
    sent: list[int] = []
    monkeypatch.setattr("inbox.tasks.enqueue_send", lambda pk, countdown=0: sent.append(pk))
    with django_capture_on_commit_callbacks(execute=True):
        post(client, conversation, "Oui, en 48 h ! Bob")
    assert len(sent) == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert sending.perform_send(message_id=sent[0]) == "sent"  # what the worker does
    assert fake_graph.stats()["sends"] == 1
    sent_body = fake_graph.sends[0]
    assert sent_body["text"] == "Oui, en 48 h ! Bob" and sent_body["recipient"] == {"id": "p1"}
    conversation.refresh_from_db()
    assert conversation.due_at is None and conversation.status == ConversationStatus.OPEN
    assert f'data-conversation="{conversation.pk}"' not in client.get("/").content.decode()
    html = client.get(f"/c/{conversation.pk}/").content.decode()
    assert 'class="msg-status is-sent"' in html


@pytest.mark.usefixtures("local_cache")
def test_it_records_who_is_typing(client, bob, page, deliver):
    from inbox import presence

    conversation = customer_writes(deliver, page, "p1", "hello", seconds_ago=30)
    client.force_login(bob)
    assert client.post(f"/c/{conversation.pk}/typing", HTTP_HX_REQUEST="true").status_code == 204
    others = presence.others(conversation_id=conversation.pk, member_ids=[bob.pk], user_id=0)
    assert [(p.name, p.state) for p in others] == [("Bob", "typing")]
    post(client, conversation, "Bonjour ! Bob")
    others = presence.others(conversation_id=conversation.pk, member_ids=[bob.pk], user_id=0)
    assert [p.state for p in others] == ["viewing"]  # sent: no longer replying

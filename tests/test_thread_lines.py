"""Each line of a conversation's thread, in every variant it can take: its
classes, who it is from, its delivery state and its actions. The thread is
the page an agent reads most; these pin what each line says, whoever works
out the words (the template or the view)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from inbox.models import Channel, Conversation, Direction, Message, SendStatus

from .inbox_helpers import customer_comments, customer_writes

pytestmark = pytest.mark.django_db


def lines_of(html: str) -> dict[int, str]:
    """Each message's <li>, by message id."""
    thread = html.split('id="thread-list"', 1)[1].split("</section>", 1)[0]
    parts = re.split(r'(?=<li id="m\d+")', thread)
    return {int(re.match(r'<li id="m(\d+)"', p).group(1)): p for p in parts if p.startswith('<li id="m')}


def classes(line: str) -> set[str]:
    return set(re.search(r'class="([^"]*)"', line).group(1).split())


def author(line: str) -> str:
    return re.search(r'<span class="msg-author">(.*?)</span>', line, re.S).group(1).strip()


def status(line: str) -> tuple[str, str] | None:
    found = re.search(r'<span class="msg-status (is-[a-z]+)">(.*?)</span>', line)
    return (found.group(1), found.group(2)) if found else None


def tags(line: str) -> list[str]:
    return re.findall(r'<span class="msg-tag">(.*?)</span>', line)


def out(conversation: Conversation, seconds_ago: float, **fields) -> Message:
    fields.setdefault("channel", Channel.MESSENGER)
    fields.setdefault("send_status", SendStatus.SENT)
    return Message.objects.create(
        page=conversation.page, conversation=conversation, direction=Direction.OUTBOUND,
        timestamp=timezone.now() - timedelta(seconds=seconds_ago), **fields)


def test_each_private_line_says_who_wrote_it_and_how_far_it_went(client, bob, alice, page, deliver):
    conversation = customer_writes(deliver, page, "p1", "Bonjour", seconds_ago=600, name="Camille Martin")
    inbound = conversation.messages.get()
    seen = out(conversation, 500, author=bob, text="Vu", mid="m.seen")
    delivered = out(conversation, 400, author=alice, text="Livré", mid="m.delivered")
    sent = out(conversation, 300, author=bob, text="Envoyé", mid="m.sent")
    queued = out(conversation, 250, author=bob, text="En file", send_status=SendStatus.QUEUED)
    sending = out(conversation, 240, author=bob, text="En cours", send_status=SendStatus.SENDING)
    failed = out(conversation, 230, author=bob, text="Raté", send_status=SendStatus.FAILED,
                 send_error="(#551) This person isn't available right now.")
    maybe = out(conversation, 220, author=bob, text="Peut-être", send_status=SendStatus.FAILED,
                maybe_delivered=True)
    external = out(conversation, 210, text="Depuis Facebook", send_status=SendStatus.EXTERNAL, mid="m.ext")
    automatic = out(conversation, 200, text="Nous sommes fermés", is_automatic=True, mid="m.away")
    page_reply = out(conversation, 190, text="Signé la Page", mid="m.page")
    note = out(conversation, 180, author=alice, text="Client fidèle", channel=Channel.NOTE, send_status="")
    Conversation.objects.filter(pk=conversation.pk).update(
        contact_read_up_to=seen.timestamp, contact_delivered_up_to=delivered.timestamp)
    bob.first_name = ""
    bob.save()

    client.force_login(alice)
    lines = lines_of(client.get(f"/c/{conversation.pk}/").content.decode())

    assert classes(lines[inbound.pk]) == {"msg", "msg-in"} and author(lines[inbound.pk]) == "Camille Martin"
    assert status(lines[inbound.pk]) is None
    assert author(lines[seen.pk]) == "bob"  # no first name: the username
    assert author(lines[delivered.pk]) == "Alice"
    assert classes(lines[seen.pk]) == {"msg", "msg-out"}
    assert status(lines[seen.pk]) == ("is-seen", "Seen")
    assert status(lines[delivered.pk]) == ("is-delivered", "Delivered")
    assert status(lines[sent.pk]) == ("is-sent", "Sent")
    assert status(lines[queued.pk]) == ("is-sending", "Sending…")
    assert status(lines[sending.pk]) == ("is-sending", "Sending…")
    assert status(lines[failed.pk]) == ("is-failed", "Not sent")
    assert "Meta refused it: (#551) This person isn&#x27;t available right now." in lines[failed.pk]
    assert f'action="/m/{failed.pk}/retry"' in lines[failed.pk] and ">Retry</button>" in lines[failed.pk]
    assert "It may have reached the customer anyway" in lines[maybe.pk]
    assert 'name="confirmed" value="1"' in lines[maybe.pk] and "This reply could not be sent." in lines[maybe.pk]
    assert author(lines[external.pk]) == "Page (outside Réactif)" and status(lines[external.pk]) == ("is-sent", "Sent")
    assert classes(lines[automatic.pk]) == {"msg", "msg-out", "msg-auto"} and author(lines[automatic.pk]) == "Réactif"
    assert tags(lines[automatic.pk]) == ["Automatic away message"]
    assert author(lines[page_reply.pk]) == "Boulangerie Dupain"
    assert classes(lines[note.pk]) == {"msg", "msg-note"} and status(lines[note.pk]) is None
    assert tags(lines[note.pk]) == ["Internal note · never sent to the customer"] and author(lines[note.pk]) == "Alice"
    assert "csrfmiddlewaretoken" in lines[failed.pk] and "csrfmiddlewaretoken" not in lines[sent.pk]


def test_a_line_shows_its_edits_reactions_button_and_deletion_in_french(client, bob, page, deliver):
    conversation = customer_writes(deliver, page, "p1", "Taille 40", seconds_ago=600)
    edited = conversation.messages.get()
    Message.objects.filter(pk=edited.pk).update(
        edit_history=[{"text": "Taille 38"}, {"text": "Taille 39"}],
        reactions=[{"reaction": "love", "emoji": "❤"}, {"reaction": "like", "emoji": ""}])
    tapped = Message.objects.create(page=page, conversation=conversation, direction=Direction.INBOUND,
                                    timestamp=timezone.now() - timedelta(seconds=500), postback_title="Horaires")
    removed = Message.objects.create(page=page, conversation=conversation, direction=Direction.INBOUND,
                                     timestamp=timezone.now() - timedelta(seconds=400), text="oups",
                                     removed_at=timezone.now())
    client.force_login(bob)
    lines = lines_of(client.get(f"/c/{conversation.pk}/", HTTP_ACCEPT_LANGUAGE="fr").content.decode())
    assert "Modifié 2 fois" in lines[edited.pk] and "<del>Taille 38</del>" in lines[edited.pk]
    assert '<li title="love">❤</li>' in lines[edited.pk] and '<li title="like">like</li>' in lines[edited.pk]
    assert "A appuyé sur le bouton «\u00a0Horaires\u00a0»" in lines[tapped.pk]
    assert classes(lines[removed.pk]) == {"msg", "msg-in", "is-removed"}
    assert "Message supprimé par le client" in lines[removed.pk] and "oups" in lines[removed.pk]


def test_each_public_line_says_whose_comment_it_is_and_what_can_be_done(client, bob, page, deliver, settings):
    root = customer_comments(deliver, page, from_id="c1", name="Camille", text="Ouvert dimanche ?",
                             seconds_ago=600)
    conversation = root.conversation
    other = customer_comments(deliver, page, from_id="c2", name="Dominique", text="Moi aussi je veux savoir",
                              seconds_ago=500, parent_id=root.mid)
    answer = out(conversation, 400, author=bob, text="Oui, de 8 h à 13 h. Bob", channel=Channel.COMMENT,
                 mid="c.answer", parent_comment_id=root.mid)
    private = out(conversation, 300, author=bob, text="Je vous écris en privé", channel=Channel.PRIVATE_REPLY,
                  mid="m.private", recipient_comment_id=root.mid)
    hidden = customer_comments(deliver, page, from_id="c3", name="Spam", text="Achetez ici", seconds_ago=200,
                              parent_id=root.mid)
    Message.objects.filter(pk=hidden.pk).update(is_hidden=True)
    deleted = customer_comments(deliver, page, from_id="c1", name="Camille", text="effacé", seconds_ago=100,
                               parent_id=root.mid)
    Message.objects.filter(pk=deleted.pk).update(removed_at=timezone.now())

    client.force_login(bob)
    lines = lines_of(client.get(f"/c/{conversation.pk}/").content.decode())

    assert author(lines[root.pk]) == "Camille" and classes(lines[root.pk]) == {"msg", "msg-in"}
    assert author(lines[other.pk]) == "Another person in the thread"
    assert classes(lines[other.pk]) == {"msg", "msg-in", "msg-reply"}
    assert classes(lines[answer.pk]) == {"msg", "msg-out", "msg-reply"} and author(lines[answer.pk]) == "Bob"
    assert status(lines[answer.pk]) == ("is-sent", "Sent")  # read receipts are Messenger's only
    assert tags(lines[private.pk]) == ["Private reply in Messenger"]
    # The root comment was answered privately already: a second private reply is refused, with why.
    assert "Private reply not possible" in lines[root.pk] and "Reply privately</button>" not in lines[root.pk]
    assert f'data-reply-to="{root.pk}" data-channel="comment"' in lines[root.pk]
    assert f'data-reply-to="{other.pk}" data-channel="private_reply"' in lines[other.pk]
    assert f'action="/m/{other.pk}/hide"' in lines[other.pk] and ">Hide this comment</button>" in lines[other.pk]
    assert f'id="hide-reason-{other.pk}"' in lines[other.pk]
    assert classes(lines[hidden.pk]) == {"msg", "msg-in", "msg-reply", "is-hidden"}
    assert '<span class="badge warn">Hidden</span>' in lines[hidden.pk]
    assert ">Show again</summary>" in lines[hidden.pk] and ">Show this comment again</button>" in lines[hidden.pk]
    assert classes(lines[deleted.pk]) == {"msg", "msg-in", "msg-reply", "is-removed"} and "Comment deleted" in lines[deleted.pk]
    assert "data-reply-to" not in lines[deleted.pk]  # a deleted comment cannot be answered
    for line in (lines[answer.pk], lines[private.pk]):
        assert "hide-menu" not in line


def test_a_line_is_rendered_once_and_anew_when_anything_it_shows_changes(client, bob, page, deliver):
    from inbox import fragments

    conversation = customer_writes(deliver, page, "p1", "Bonjour", seconds_ago=600)
    reply = out(conversation, 300, author=bob, text="Bonjour ! Bob", mid="m.reply")
    failed = out(conversation, 200, author=bob, text="Raté", send_status=SendStatus.FAILED)
    client.force_login(bob)
    fragments.cache_clear()

    first = lines_of(client.get(f"/c/{conversation.pk}/").content.decode())
    assert status(first[reply.pk]) == ("is-sent", "Sent")
    again = lines_of(client.get(f"/c/{conversation.pk}/").content.decode())
    assert fragments.cache_info(fragments.THREAD).hits == 3
    assert again[reply.pk] == first[reply.pk]  # the failed line differs by its CSRF token's mask only

    # The customer read it: the same message is another line.
    Conversation.objects.filter(pk=conversation.pk).update(contact_read_up_to=reply.timestamp)
    read = lines_of(client.get(f"/c/{conversation.pk}/").content.decode())
    assert status(read[reply.pk]) == ("is-seen", "Seen")
    # Each response's own CSRF token, never the cached line's stand-in.
    assert fragments.slot("csrf") not in read[failed.pk]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', read[failed.pk]).group(1)
    assert len(token) == 64
    # Another language is another line.
    french = lines_of(client.get(f"/c/{conversation.pk}/", HTTP_ACCEPT_LANGUAGE="fr").content.decode())
    assert status(french[reply.pk]) == ("is-seen", "Vu")


def test_the_header_follows_the_conversation_and_who_reads_it(client, alice, bob, page, deliver):
    from inbox import services

    conversation = customer_writes(deliver, page, "p1", "Bonjour", seconds_ago=60, name="Camille Martin")
    head = re.compile(r'<header id="conv-head".*?</header>', re.S)
    client.force_login(bob)
    before = head.search(client.get(f"/c/{conversation.pk}/").content.decode()).group()
    assert "Camille Martin" in before and ">Assign to me</button>" in before and "Boulangerie Dupain" in before
    assert '<span class="badge status-open">Open</span>' in before and ">Reopen</button>" not in before

    services.assign_conversation(conversation=conversation, assignee=bob, actor=alice)
    snooze_until = timezone.now().replace(microsecond=0) + timedelta(days=2)
    Conversation.objects.filter(pk=conversation.pk).update(status="snoozed", snoozed_until=snooze_until)
    mine = head.search(client.get(f"/c/{conversation.pk}/").content.decode()).group()
    assert ">Assign to me</button>" not in mine and ">Reopen</button>" in mine
    from zoneinfo import ZoneInfo

    from django.utils.dateformat import format as date_format

    local = snooze_until.astimezone(ZoneInfo("Europe/Paris"))
    assert f'<span class="muted">until {date_format(local, "j N H:i")}</span>' in mine
    assert '<span class="badge status-snoozed">Snoozed</span>' in mine

    client.force_login(alice)  # another reader: not assigned to her
    theirs = head.search(client.get(f"/c/{conversation.pk}/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()).group()
    assert ">M'assigner</button>" in theirs and "Dans 1 heure" in theirs and "Ou à (Europe/Paris)" in theirs
    assert 'hx-swap-oob="true"' not in theirs
    refresh = client.get(f"/c/{conversation.pk}/?part=refresh", HTTP_HX_REQUEST="true").content.decode()
    assert '<header id="conv-head" class="conv-head" hx-swap-oob="true">' in refresh

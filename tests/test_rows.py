"""The worker's statements compiled once (`services.rows`) write the row that
Django's `save()` writes, and nothing listens to the saves they skip."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import DatabaseError, IntegrityError
from django.db.models import signals
from django.forms.models import model_to_dict
from django.utils import timezone

from inbox.models import Contact, Conversation, Direction, Message, ResponseOpportunity
from inbox.services import rows

from .conftest import at

T0 = at("2026-11-16 09:00:00")


@pytest.fixture
def conversation(page):
    contact = Contact.objects.create(page=page, external_id="psid-rows", name="Ana")
    return Conversation.objects.create(page=page, contact=contact, kind="private")


def stored(message: Message) -> dict[str, object]:
    fields = [f.name for f in Message._meta.concrete_fields if f.name not in ("id", "created_at", "mid")]
    return model_to_dict(Message.objects.get(pk=message.pk), fields=fields)


def test_it_inserts_the_row_that_create_inserts(page, conversation):
    values = {"page": page, "conversation": conversation, "direction": Direction.INBOUND, "timestamp": T0,
              "text": "Bonjour", "attachments": [{"type": "image", "url": "https://x/y.png"}],
              "referral": {"ref": "ad-42"}, "removed_at": T0 + timedelta(seconds=3)}
    by_django = Message.objects.create(mid="m_django", **values)
    before = timezone.now()
    ours = Message(mid="m_rows", **values)
    rows.insert(ours)

    assert ours.pk is not None and not ours._state.adding
    assert stored(ours) == stored(by_django)
    assert before <= Message.objects.get(pk=ours.pk).created_at <= timezone.now()  # auto_now_add
    assert Message.objects.get(pk=ours.pk).mid == "m_rows"


def test_it_updates_the_named_columns_only_and_keeps_auto_now(conversation):
    Conversation.objects.filter(pk=conversation.pk).update(updated_at=T0, preview="avant", contact_read_up_to=T0)
    conversation = Conversation.objects.get(pk=conversation.pk)
    conversation.preview = "après"
    conversation.last_message_at = T0 + timedelta(minutes=1)
    conversation.contact_read_up_to = T0 + timedelta(minutes=5)  # changed here, not named: not written
    rows.update(conversation, ["updated_at", "preview", "last_message_at"])

    row = Conversation.objects.get(pk=conversation.pk)
    assert (row.preview, row.last_message_at, row.contact_read_up_to) == ("après", T0 + timedelta(minutes=1), T0)
    assert row.updated_at > T0


def test_it_fails_as_save_does_when_the_row_is_gone(conversation):
    Conversation.objects.filter(pk=conversation.pk).delete()
    with pytest.raises(DatabaseError, match="did not affect any rows"):
        rows.update(conversation, ["preview"])


@pytest.mark.parametrize("model", [Message, Conversation, ResponseOpportunity])
def test_nothing_listens_to_the_saves_it_skips(model):
    for signal in (signals.pre_save, signals.post_save):
        assert not signal.has_listeners(model), f"{signal} has a listener for {model.__name__}: rows skips it"


def test_a_row_stored_already_is_skipped_only_when_asked(page, conversation):
    values = {"page": page, "conversation": conversation, "direction": Direction.INBOUND, "timestamp": T0,
              "mid": "m_once"}
    Message.objects.create(**values)
    again = Message(**values)
    assert rows.insert(again, skip_stored=True) is False
    assert again.pk is None and again._state.adding
    with pytest.raises(IntegrityError):
        rows.insert(Message(**values))

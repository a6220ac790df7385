"""The Django admin: deliveries can be reprocessed, history is read-only,
and what may change goes through the services."""

from __future__ import annotations

import time

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import reverse

from inbox import simulation
from inbox.models import (
    ConversationEvent,
    Delivery,
    Message,
    Page,
)
from inbox.services import ingestion

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(client):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "root-password-2026")
    client.force_login(user)
    return user


def customer_message(page_id: str, text: str = "Bonjour", mid: str | None = None) -> dict:
    return simulation.envelope(page_id, messaging=[
        simulation.message(page_id, "psid-admin", time.time() - 60, text, mid=mid)])


def test_every_inbox_admin_page_renders(client, operator, page, deliver):
    deliver(customer_message(page.meta_page_id))
    for model in admin.site._registry:
        if model._meta.app_label != "inbox":
            continue
        changelist = reverse(f"admin:inbox_{model._meta.model_name}_changelist")
        assert client.get(changelist).status_code == 200, changelist
        first = model.objects.first()
        if first is not None:
            change = reverse(f"admin:inbox_{model._meta.model_name}_change", args=[first.pk])
            assert client.get(change).status_code == 200, change


def test_reprocess_applies_a_delivery_for_a_page_connected_since(client, operator, deliver):
    deliver(customer_message("5555", mid="m_before_connect"))
    delivery = Delivery.objects.get()
    assert delivery.processed_at is not None
    assert Message.objects.count() == 0  # the Page was not connected yet
    Page.objects.create(meta_page_id="5555", name="Connected late", access_token="t")

    response = client.post(reverse("admin:inbox_delivery_changelist"),
                           {"action": "reprocess", "_selected_action": [delivery.pk]}, follow=True)
    assert response.status_code == 200
    assert "Reprocessed 1 delivery." in response.content.decode()
    assert Message.objects.get().mid == "m_before_connect"
    delivery.refresh_from_db()
    assert (delivery.processed_at is not None, delivery.attempts) == (True, 1)


def test_reprocess_revives_a_stuck_delivery_and_reports_one_that_fails_again(client, operator, page, deliver,
                                                                             monkeypatch):
    deliver(customer_message(page.meta_page_id), process=False)
    delivery = Delivery.objects.get()
    Delivery.objects.filter(pk=delivery.pk).update(attempts=Delivery.MAX_ATTEMPTS, last_error="boom")
    monkeypatch.setattr(ingestion, "apply_event", lambda event, *, received_at: 1 / 0)
    response = client.post(reverse("admin:inbox_delivery_changelist"),
                           {"action": "reprocess", "_selected_action": [delivery.pk]}, follow=True)
    assert response.status_code == 200
    assert "1 delivery failed again" in response.content.decode()
    delivery.refresh_from_db()
    assert (delivery.processed_at, delivery.attempts) == (None, 1)
    assert "ZeroDivisionError" in delivery.last_error

    monkeypatch.undo()
    client.post(reverse("admin:inbox_delivery_changelist"),
                {"action": "reprocess", "_selected_action": [delivery.pk]})
    delivery.refresh_from_db()
    assert delivery.processed_at is not None
    assert Message.objects.count() == 1


def test_a_delivery_shows_its_raw_body_and_cannot_be_edited_or_deleted(client, operator, page, deliver):
    deliver(customer_message(page.meta_page_id, text="Crème brûlée ?"))
    delivery = Delivery.objects.get()
    url = reverse("admin:inbox_delivery_change", args=[delivery.pk])
    response = client.get(url)
    assert "Cr\\u00e8me br\\u00fbl\\u00e9e" in response.content.decode()  # the bytes Meta signed
    assert client.post(url, {}).status_code == 403
    assert client.post(reverse("admin:inbox_delivery_delete", args=[delivery.pk]), {"post": "yes"}).status_code == 403
    assert Delivery.objects.count() == 1


def test_messages_are_read_only(client, operator, page, deliver):
    deliver(customer_message(page.meta_page_id, text="Bonjour"))
    message = Message.objects.get()
    url = reverse("admin:inbox_message_change", args=[message.pk])
    page_html = client.get(url).content.decode()
    assert 'name="_save"' not in page_html
    assert client.post(url, {"text": "rewritten"}).status_code == 403
    assert client.get(reverse("admin:inbox_message_add")).status_code == 403
    assert client.post(reverse("admin:inbox_message_delete", args=[message.pk]), {"post": "yes"}).status_code == 403
    changelist = client.post(reverse("admin:inbox_message_changelist"),
                             {"action": "delete_selected", "_selected_action": [message.pk], "post": "yes"})
    assert changelist.status_code in (200, 302)
    message.refresh_from_db()
    assert message.text == "Bonjour"


def test_changing_a_conversation_goes_through_the_services(client, operator, page, bob, deliver):
    deliver(customer_message(page.meta_page_id))
    conversation = Message.objects.get().conversation
    url = reverse("admin:inbox_conversation_change", args=[conversation.pk])
    response = client.post(url, {"status": "done", "assignee": bob.pk, "snoozed_until_0": "", "snoozed_until_1": "",
                                 "messages-TOTAL_FORMS": "1", "messages-INITIAL_FORMS": "1",
                                 "messages-MIN_NUM_FORMS": "0", "messages-MAX_NUM_FORMS": "1000",
                                 "messages-0-id": Message.objects.get().pk,
                                 "messages-0-conversation": conversation.pk})
    assert response.status_code == 302, response.content.decode()[:2000]
    conversation.refresh_from_db()
    assert (conversation.status, conversation.assignee) == ("done", bob)
    kinds = set(ConversationEvent.objects.filter(conversation=conversation, actor=operator)
                .values_list("kind", flat=True))
    assert kinds == {"status", "assigned"}


def test_snoozing_from_the_admin_needs_a_time_in_the_future(client, operator, page, deliver):
    deliver(customer_message(page.meta_page_id))
    conversation = Message.objects.get().conversation
    response = client.post(reverse("admin:inbox_conversation_change", args=[conversation.pk]), {
        "status": "snoozed", "assignee": "", "snoozed_until_0": "2020-01-01", "snoozed_until_1": "10:00:00",
        "messages-TOTAL_FORMS": "1", "messages-INITIAL_FORMS": "1", "messages-MIN_NUM_FORMS": "0",
        "messages-MAX_NUM_FORMS": "1000", "messages-0-id": Message.objects.get().pk,
        "messages-0-conversation": conversation.pk})
    assert response.status_code == 200  # the form again, with the error
    assert "Snoozing needs a time in the future." in response.content.decode()
    conversation.refresh_from_db()
    assert conversation.status == "open"


def test_the_page_token_is_never_shown_in_the_admin(client, operator, page):
    html = client.get(reverse("admin:inbox_page_change", args=[page.pk])).content.decode()
    assert "page-token" not in html
    assert "access_token" not in html


def test_agents_cannot_open_the_admin(client, bob):
    client.force_login(bob)
    response = client.get(reverse("admin:inbox_delivery_changelist"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]

"""GET /api/v1/pages/<meta_page_id>/conversations (CONTRACT.md "HTTP")."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from inbox import simulation
from inbox.models import ApiToken, Contact, Conversation, ConversationStatus, ResponseOpportunity
from inbox.services import assign_conversation

pytestmark = pytest.mark.django_db


def token_for(user) -> str:
    key = ApiToken.generate_key()
    ApiToken.objects.create(user=user, prefix=key[:10], key_hash=ApiToken.hash_key(key))
    return key


def get(client, key, meta_page_id="1042", **params):
    extra = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
    return client.get(f"/api/v1/pages/{meta_page_id}/conversations", params, **extra)


def test_it_lists_open_conversations_in_the_contract_shape(client, page, alice, bob, deliver):
    now = time.time()
    deliver(simulation.envelope(page.meta_page_id, messaging=[
        simulation.message(page.meta_page_id, "psid-waiting", now - 120, "Bonjour ?")]))
    deliver(simulation.envelope(page.meta_page_id, messaging=[
        simulation.message(page.meta_page_id, "psid-answered", now - 600, "Merci"),
        simulation.echo(page.meta_page_id, "psid-answered", now - 500, "Avec plaisir")]))
    Contact.objects.filter(external_id="psid-waiting").update(name="Camille Martin")
    waiting = Conversation.objects.get(contact__external_id="psid-waiting")
    assign_conversation(conversation=waiting, assignee=bob, actor=alice)

    response = get(client, token_for(alice), status="open")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"results", "next"}
    assert body["next"] is None
    first, second = body["results"]
    assert set(first) == {"id", "kind", "status", "contact", "last_customer_message_at", "open_ro", "assignee"}
    # Most urgent first: the one with an open response opportunity.
    ro = ResponseOpportunity.objects.get(conversation=waiting, closed_at__isnull=True)
    assert first == {
        "id": waiting.pk,
        "kind": "private",
        "status": "open",
        "contact": {"id": "psid-waiting", "name": "Camille Martin"},
        "last_customer_message_at": waiting.last_customer_message_at.isoformat(),
        "open_ro": {"opened_at": ro.opened_at.isoformat(), "clock_start": ro.clock_start.isoformat(),
                    "due_at": ro.due_at.isoformat()},
        "assignee": {"id": bob.pk, "username": "bob"},
    }
    assert parse_datetime(first["open_ro"]["due_at"]) == ro.due_at
    assert second["contact"]["id"] == "psid-answered"
    assert second["open_ro"] is None
    assert second["assignee"] is None


def test_it_filters_by_status(client, page, alice, deliver):
    deliver(simulation.envelope(page.meta_page_id, messaging=[
        simulation.message(page.meta_page_id, "psid-1", time.time() - 60, "Bonjour")]))
    Conversation.objects.update(status=ConversationStatus.DONE)
    key = token_for(alice)
    assert get(client, key, status="open").json()["results"] == []
    assert [r["status"] for r in get(client, key, status="done").json()["results"]] == ["done"]
    assert get(client, key).json()["results"] == []  # open by default
    assert get(client, key, status="closed").status_code == 400


def test_it_paginates_with_next_through_every_conversation_once(client, page, alice,
                                                                django_assert_max_num_queries):
    now = timezone.now()
    contacts = Contact.objects.bulk_create(
        Contact(page=page, external_id=f"psid-{n:03d}", name=f"Client {n}") for n in range(120))
    Conversation.objects.bulk_create(
        Conversation(page=page, kind="private", contact=contact, status="open",
                     # Ties and conversations with nothing due, to test the keyset.
                     due_at=None if n % 7 == 0 else now + timedelta(minutes=n // 3))
        for n, contact in enumerate(contacts))
    key = token_for(alice)
    seen: list[int] = []
    url = "/api/v1/pages/1042/conversations?status=open"
    pages = 0
    while url:
        with django_assert_max_num_queries(8):
            response = client.get(url, HTTP_AUTHORIZATION=f"Bearer {key}")
        assert response.status_code == 200
        body = response.json()
        assert len(body["results"]) <= 50
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
        if url:
            assert url.startswith("http://testserver/api/v1/pages/1042/conversations?status=open&after=")
        pages += 1
    assert pages == 3
    assert len(seen) == len(set(seen)) == 120
    expected = list(Conversation.objects.order_by("due_at", "id").values_list("id", flat=True))
    assert seen == expected  # nulls last, then by id


def test_it_refuses_a_bad_cursor(client, page, alice):
    assert get(client, token_for(alice), after="not-a-cursor!").status_code == 400


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer wrong-key", "Token {key}", "{key}"])
def test_it_needs_a_valid_bearer_token(client, page, alice, header):
    key = token_for(alice)
    extra = {} if header is None else {"HTTP_AUTHORIZATION": header.format(key=key)}
    response = client.get("/api/v1/pages/1042/conversations", **extra)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json() == {"error": "authentication required"}


def test_a_revoked_token_or_inactive_user_is_refused(client, page, alice):
    key = token_for(alice)
    assert get(client, key).status_code == 200
    ApiToken.objects.update(revoked_at=timezone.now())
    assert get(client, key).status_code == 401
    ApiToken.objects.update(revoked_at=None)
    type(alice).objects.filter(pk=alice.pk).update(is_active=False)
    assert get(client, key).status_code == 401


def test_it_records_when_a_token_was_last_used(client, page, alice):
    key = token_for(alice)
    get(client, key)
    assert ApiToken.objects.get().last_used_at is not None


def test_an_outsider_gets_a_404(client, page, charlie):
    # charlie is admin of another Page: this one does not exist for him.
    response = get(client, token_for(charlie))
    assert response.status_code == 404
    assert response.json() == {"error": "not found"}
    assert get(client, token_for(charlie), meta_page_id="2084").status_code == 200


def test_an_unknown_page_is_a_404(client, page, alice):
    response = get(client, token_for(alice), meta_page_id="999999")
    assert response.status_code == 404
    assert response.json() == {"error": "not found"}


def test_it_only_answers_get(client, page, alice):
    response = client.post("/api/v1/pages/1042/conversations", HTTP_AUTHORIZATION=f"Bearer {token_for(alice)}")
    assert response.status_code == 405

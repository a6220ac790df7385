"""GET/POST /webhooks/meta and turning deliveries into messages (CONTRACT.md, META.md)."""

from __future__ import annotations

import json

import pytest

from inbox import simulation
from inbox.meta_events import sign
from inbox.models import (
    Contact,
    Conversation,
    ConversationEvent,
    ConversationKind,
    Delivery,
    Direction,
    Message,
    SendStatus,
)
from inbox.services import ingestion

from .conftest import at

pytestmark = pytest.mark.django_db

T0 = at("2026-11-20 10:00:00").timestamp()


def test_it_answers_the_subscription_handshake(client):
    response = client.get("/webhooks/meta", {"hub.mode": "subscribe", "hub.verify_token": "test-verify-token",
                                             "hub.challenge": "1158201444"})
    assert response.status_code == 200
    assert response.content == b"1158201444"


@pytest.mark.parametrize("token", ["wrong", ""])
def test_it_refuses_a_handshake_with_the_wrong_token(client, token):
    response = client.get("/webhooks/meta", {"hub.mode": "subscribe", "hub.verify_token": token,
                                             "hub.challenge": "42"})
    assert response.status_code == 403


@pytest.mark.parametrize("header", [None, "", "sha256=" + "0" * 64, "sha1=abc", "garbage"])
def test_it_refuses_a_missing_or_wrong_signature_and_stores_nothing(client, page, header):
    body = simulation.encode(simulation.envelope(page.meta_page_id, messaging=[
        simulation.message(page.meta_page_id, "psid1", T0, "hello")]))
    extra = {} if header is None else {"HTTP_X_HUB_SIGNATURE_256": header}
    response = client.post("/webhooks/meta", data=body, content_type="application/json", **extra)
    assert response.status_code == 403
    assert Delivery.objects.count() == 0


def test_it_stores_a_signed_delivery_and_answers_200(client, page):
    body, signature = simulation.signed(simulation.envelope(page.meta_page_id, messaging=[
        simulation.message(page.meta_page_id, "psid1", T0, "hello")]), "test-app-secret")
    response = client.post("/webhooks/meta", data=body, content_type="application/json",
                           HTTP_X_HUB_SIGNATURE_256=signature)
    assert response.status_code == 200
    delivery = Delivery.objects.get()
    assert bytes(delivery.body) == body
    assert delivery.processed_at is None


def test_it_stores_a_delivery_with_one_statement_and_a_retry_once(client, page, django_assert_num_queries):
    # The webhook's cost is per request: one INSERT … ON CONFLICT, no
    # transaction of its own (a get_or_create took five statements).
    body, signature = simulation.signed(simulation.envelope(page.meta_page_id, messaging=[
        simulation.message(page.meta_page_id, "psid1", T0, "hello")]), "test-app-secret")

    def post():
        return client.post("/webhooks/meta", data=body, content_type="application/json",
                           HTTP_X_HUB_SIGNATURE_256=signature)

    with django_assert_num_queries(1):
        assert post().status_code == 200
    # Meta's retry of the same bytes: nothing inserted, the stored row found.
    with django_assert_num_queries(2):
        assert post().status_code == 200
    delivery = Delivery.objects.get()
    assert (bytes(delivery.body), delivery.attempts, delivery.last_error) == (body, 0, "")
    again, created = ingestion.store_delivery(body=body)
    assert (again.pk, created) == (delivery.pk, False)


def test_it_checks_the_signature_on_escaped_unicode_bytes_as_meta_signs_them(client, page, deliver):
    # Meta signs the body with non-ASCII escaped (äöå → \u00e4\u00f6\u00e5).
    body = (
        b'{"object":"page","entry":[{"id":"1042","time":1,"messaging":[{"sender":{"id":"p1"},'
        b'"recipient":{"id":"1042"},"timestamp":1763632800000,"message":{"mid":"m_accents",'
        b'"text":"\\u00e4\\u00f6\\u00e5 cr\\u00e8me br\\u00fbl\\u00e9e"}}]}]}'
    )
    response = client.post("/webhooks/meta", data=body, content_type="application/json",
                           HTTP_X_HUB_SIGNATURE_256=sign(body, "test-app-secret"))
    assert response.status_code == 200
    # Signing the decoded UTF-8 text instead gives another signature: refused.
    decoded = json.dumps(json.loads(body), ensure_ascii=False).encode()
    refused = client.post("/webhooks/meta", data=body, content_type="application/json",
                          HTTP_X_HUB_SIGNATURE_256=sign(decoded, "test-app-secret"))
    assert refused.status_code == 403
    ingestion.process_delivery(delivery_id=Delivery.objects.get().pk)
    assert Message.objects.get().text == "äöå crème brûlée"


@pytest.mark.parametrize("body", [b"", b"not json", b"[]", b'{"object":"page","entry":"x"}',
                                  b'{"object":"page","entry":[{"id":"1042","messaging":[{"message":7}]}]}',
                                  b"\xff\xfe", b'{"object":"instagram","entry":[]}', b"[" * 5000])
def test_it_never_fails_on_a_malformed_body(client, page, body):
    response = client.post("/webhooks/meta", data=body, content_type="application/json",
                           HTTP_X_HUB_SIGNATURE_256=sign(body, "test-app-secret"))
    assert response.status_code == 200
    delivery = Delivery.objects.get()
    assert ingestion.process_delivery(delivery_id=delivery.pk) is True
    delivery.refresh_from_db()
    assert delivery.processed_at is not None
    assert Message.objects.count() == 0


def test_the_same_delivery_twice_is_one_message(page, deliver):
    payload = simulation.envelope(page.meta_page_id, messaging=[
        simulation.message(page.meta_page_id, "psid1", T0, "hello", mid="m_1")])
    deliver(payload)
    deliver(payload)
    assert Delivery.objects.count() == 1
    assert Message.objects.count() == 1


def test_the_same_message_in_two_different_deliveries_is_one_message(page, deliver):
    item = simulation.message(page.meta_page_id, "psid1", T0, "hello", mid="m_1")
    deliver(simulation.envelope(page.meta_page_id, messaging=[item], time_ms=1))
    deliver(simulation.envelope(page.meta_page_id, messaging=[item], time_ms=2))
    assert Delivery.objects.count() == 2
    assert Message.objects.count() == 1


def test_processing_a_delivery_twice_changes_nothing(page, deliver):
    deliver(simulation.envelope(page.meta_page_id, messaging=[
        simulation.message(page.meta_page_id, "psid1", T0, "hello", mid="m_1")]))
    delivery = Delivery.objects.get()
    Delivery.objects.update(processed_at=None)
    ingestion.process_delivery(delivery_id=delivery.pk)
    assert Message.objects.count() == 1
    assert Conversation.objects.count() == 1


def test_a_batch_of_mixed_events_is_applied_in_full(page, deliver):
    pid = page.meta_page_id
    payload = {"object": "page", "entry": [
        {"id": pid, "time": 1, "messaging": [
            simulation.message(pid, "p1", T0, "first", mid="m_a"),
            simulation.message(pid, "p2", T0 + 1, "second", mid="m_b",
                               attachments=[{"type": "image", "payload": {"url": "https://example.com/a.png"}}]),
        ]},
        {"id": pid, "time": 2, "messaging": [
            {"sender": {"id": "p1"}, "recipient": {"id": pid}, "timestamp": simulation.ms(T0 + 5),
             "postback": {"mid": "m_pb", "title": "Parler à un humain", "payload": "HANDOFF"}},
            simulation.read(pid, "p1", T0 + 6, T0 + 5),
            {"sender": {"id": "p9"}, "recipient": {"id": pid}, "timestamp": 1, "unknown_thing": {}},
        ], "changes": [simulation.comment(pid, at=T0 + 10, text="Prix ?", from_id="c1", from_name="Jane Doe",
                                          post_id=f"{pid}_98765", comment_id=f"{pid}_555")]},
    ]}
    deliver(payload)
    assert set(Message.objects.values_list("mid", flat=True)) == {"m_a", "m_b", "m_pb", f"{pid}_555"}
    image = Message.objects.get(mid="m_b")
    assert image.attachments == [{"type": "image", "url": "https://example.com/a.png", "title": ""}]
    postback = Message.objects.get(mid="m_pb")
    assert (postback.postback_payload, postback.direction) == ("HANDOFF", Direction.INBOUND)
    assert Conversation.objects.get(contact__external_id="p1").contact_read_up_to == at("2026-11-20 10:00:05")
    public = Conversation.objects.get(kind=ConversationKind.PUBLIC)
    assert public.contact.name == "Jane Doe"
    delivery = Delivery.objects.get()
    assert (delivery.event_count, delivery.ignored_count) == (5, 1)


def test_messages_carry_platform_timestamps_in_ms_or_s_numbers_or_strings(page, deliver):
    pid = page.meta_page_id
    items = []
    for n, stamp in enumerate([1763632800000, "1763632800000", 1763632800, "1763632800"]):
        items.append({"sender": {"id": "p1"}, "recipient": {"id": pid}, "timestamp": stamp,
                      "message": {"mid": f"m_{n}", "text": "x"}})
    deliver(simulation.envelope(pid, messaging=items))
    assert set(Message.objects.values_list("timestamp", flat=True)) == {at("2025-11-20 10:00:00")}


def test_out_of_order_deliveries_end_in_timestamp_order(page, deliver):
    pid = page.meta_page_id
    deliver(simulation.envelope(pid, messaging=[simulation.message(pid, "p1", T0 + 20, "third", mid="m3")]))
    deliver(simulation.envelope(pid, messaging=[simulation.message(pid, "p1", T0, "first", mid="m1")]))
    deliver(simulation.envelope(pid, messaging=[simulation.message(pid, "p1", T0 + 10, "second", mid="m2")]))
    conversation = Conversation.objects.get()
    texts = list(conversation.messages.order_by("timestamp", "id").values_list("text", flat=True))
    assert texts == ["first", "second", "third"]
    assert conversation.preview == "third"
    assert conversation.last_customer_message_at == at("2026-11-20 10:00:20")


def test_an_echo_from_elsewhere_is_a_page_reply(page, deliver):
    pid = page.meta_page_id
    deliver(simulation.envelope(pid, messaging=[simulation.message(pid, "p1", T0, "hello", mid="m1")]))
    deliver(simulation.envelope(pid, messaging=[simulation.echo(pid, "p1", T0 + 30, "hi!", mid="m2")]))
    reply = Message.objects.get(mid="m2")
    assert (reply.direction, reply.send_status) == (Direction.OUTBOUND, SendStatus.EXTERNAL)
    assert reply.conversation.contact.external_id == "p1"
    assert reply.is_page_reply


def test_standby_messages_are_customer_messages(page, deliver):
    pid = page.meta_page_id
    deliver(simulation.envelope(pid, standby=[simulation.message(pid, "p1", T0, "hi", mid="m_sb")]))
    assert Message.objects.get(mid="m_sb").is_customer_message


def test_an_edit_changes_the_text_and_keeps_the_old_one(page, deliver):
    pid = page.meta_page_id
    deliver(simulation.envelope(pid, messaging=[simulation.message(pid, "p1", T0, "Lyon ?", mid="m1")]))
    deliver(simulation.envelope(pid, messaging=[{
        "sender": {"id": "p1"}, "recipient": {"id": pid}, "timestamp": simulation.ms(T0 + 60),
        "message_edit": {"mid": "m1", "text": "Paris ?", "num_edit": "1"}}]))
    message = Message.objects.get(mid="m1")
    assert message.text == "Paris ?"
    assert message.edit_history[0]["text"] == "Lyon ?"
    assert Message.objects.count() == 1


def test_a_reaction_is_recorded_on_the_message_not_as_a_message(page, deliver):
    pid = page.meta_page_id
    deliver(simulation.envelope(pid, messaging=[simulation.echo(pid, "p1", T0, "Yes, 2-3 days", mid="m_d")]))
    reaction = {"sender": {"id": "p1"}, "recipient": {"id": pid}, "timestamp": simulation.ms(T0 + 5),
                "reaction": {"reaction": "love", "emoji": "❤️", "action": "react", "mid": "m_d"}}
    deliver(simulation.envelope(pid, messaging=[reaction]))
    assert Message.objects.count() == 1
    assert Message.objects.get().reactions[0]["reaction"] == "love"
    unreact = {**reaction, "timestamp": simulation.ms(T0 + 9),
               "reaction": {**reaction["reaction"], "action": "unreact"}}
    deliver(simulation.envelope(pid, messaging=[unreact]))
    assert Message.objects.get().reactions == []


def test_a_delivery_receipt_and_a_referral_are_recorded(page, deliver):
    pid = page.meta_page_id
    deliver(simulation.envelope(pid, messaging=[simulation.message(pid, "p1", T0, "hi", mid="m1")]))
    deliver(simulation.envelope(pid, messaging=[
        {"sender": {"id": "p1"}, "recipient": {"id": pid}, "delivery": {"mids": ["m_x"], "watermark": simulation.ms(T0 + 3)}},
        {"sender": {"id": "p1"}, "recipient": {"id": pid}, "timestamp": simulation.ms(T0 + 4),
         "referral": {"ref": "spring_promo", "source": "SHORTLINK", "type": "OPEN_THREAD"}},
    ]))
    conversation = Conversation.objects.get()
    assert conversation.contact_delivered_up_to == at("2026-11-20 10:00:03")
    assert ConversationEvent.objects.get(kind="referral").data["ref"] == "spring_promo"
    assert Message.objects.count() == 1


def test_a_deleted_message_is_kept_and_marked(page, deliver):
    pid = page.meta_page_id
    deliver(simulation.envelope(pid, messaging=[simulation.message(pid, "p1", T0, "oops", mid="m1")]))
    deleted = simulation.message(pid, "p1", T0 + 5, "", mid="m1")
    deleted["message"]["is_deleted"] = True
    deliver(simulation.envelope(pid, messaging=[deleted]))
    message = Message.objects.get()
    assert message.removed_at is not None
    assert message.text == "oops"


def test_comments_build_public_threads_with_edits_removals_and_hides(page, deliver):
    pid = page.meta_page_id
    post = f"{pid}_98765"
    top = f"{pid}_1"

    def change(verb, **kw):
        fields = {"at": T0, "text": "Prix ?", "from_id": "c1", "from_name": "Jane Doe", "post_id": post,
                  "comment_id": top, **kw}
        return simulation.envelope(pid, changes=[simulation.comment(pid, verb=verb, **fields)])

    deliver(change("add"))
    deliver(change("add", comment_id=f"{pid}_2", parent_id=top, from_id=pid, from_name="Dupain",
                   text="12 €", at=T0 + 60))
    deliver(change("add", comment_id=f"{pid}_3", parent_id=top, from_id="c2", from_name="Paul",
                   text="Moi aussi ?", at=T0 + 90))
    deliver(change("edited", text="Prix en boutique ?"))
    deliver(change("hide"))
    deliver(change("remove", comment_id=f"{pid}_3", parent_id=top, from_id="c2", from_name="Paul"))
    conversation = Conversation.objects.get(kind=ConversationKind.PUBLIC)
    assert conversation.root_comment_id == top
    assert conversation.contact.name == "Jane Doe"
    messages = {m.mid: m for m in conversation.messages.all()}
    assert len(messages) == 3
    assert messages[top].text == "Prix en boutique ?" and messages[top].is_hidden
    assert messages[f"{pid}_2"].direction == Direction.OUTBOUND  # the Page's own comment
    assert messages[f"{pid}_3"].removed_at is not None
    # The same feed event again (dedupe on comment id + verb + time) changes nothing.
    deliver(change("add"))
    assert conversation.messages.count() == 3


def test_a_reply_comment_before_its_parent_lands_in_the_same_thread(page, deliver):
    pid = page.meta_page_id
    post, top = f"{pid}_98765", f"{pid}_1"
    deliver(simulation.envelope(pid, changes=[simulation.comment(
        pid, at=T0 + 60, text="Et en 42 ?", from_id="c2", from_name="Paul", post_id=post,
        comment_id=f"{pid}_2", parent_id=top)]))
    deliver(simulation.envelope(pid, changes=[simulation.comment(
        pid, at=T0, text="Prix ?", from_id="c1", from_name="Jane Doe", post_id=post, comment_id=top)]))
    conversation = Conversation.objects.get()
    assert conversation.messages.count() == 2
    assert conversation.contact.name == "Jane Doe"


def test_events_for_an_unconnected_page_are_kept_and_ignored(page, deliver):
    deliver(simulation.envelope("999", messaging=[simulation.message("999", "p1", T0, "hi")]))
    delivery = Delivery.objects.get()
    assert delivery.processed_at is not None and delivery.ignored_count == 1
    assert Message.objects.count() == Contact.objects.count() == 0


def test_processing_a_message_loads_the_page_once_and_locks_the_thread_once(
    page, deliver, django_assert_max_num_queries
):
    deliver(simulation.envelope(page.meta_page_id, messaging=[
        simulation.message(page.meta_page_id, "psid1", T0, "hello", mid="m_1")]))
    deliver(simulation.envelope(page.meta_page_id, messaging=[
        simulation.message(page.meta_page_id, "psid1", T0 + 60, "still there?", mid="m_2")]), process=False)
    delivery = Delivery.objects.get(processed_at__isnull=True)
    # The test's transaction adds a savepoint; a past day's rollup is marked
    # stale. Before: the Page loaded three times, the thread fetched twice,
    # the delivery and the thread updated twice each (22 statements).
    with django_assert_max_num_queries(15) as captured:
        assert ingestion.process_delivery(delivery_id=delivery.pk) is True
    statements = [q["sql"] for q in captured.captured_queries]
    assert sum('FROM "inbox_page"' in sql for sql in statements) == 1
    assert sum("FOR NO KEY UPDATE" in sql and 'FROM "inbox_conversation"' in sql for sql in statements) == 1
    assert sum(sql.startswith('UPDATE "inbox_delivery"') for sql in statements) == 1
    assert sum(sql.startswith('UPDATE "inbox_conversation"') for sql in statements) == 1
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.event_count) == (1, 1)
    conversation = Conversation.objects.get()
    assert (conversation.preview, conversation.due_at) == ("still there?", at("2026-11-20 10:05:00"))


# --- The production WSGI application (config/wsgi.py) --------------------------


def _wsgi(method: str, path: str, body: bytes = b"", **headers: str) -> tuple[str, dict[str, str], bytes]:
    """One request through config.wsgi.application, as gunicorn makes it."""
    import io
    from wsgiref.util import setup_testing_defaults

    from config.wsgi import application

    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "CONTENT_LENGTH": str(len(body)),
               "CONTENT_TYPE": "application/json", "wsgi.input": io.BytesIO(body), "HTTP_HOST": "localhost",
               **{f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()}}
    setup_testing_defaults(environ)
    started: dict[str, object] = {}

    def start_response(status, response_headers, exc_info=None):
        started.update(status=status, headers=dict(response_headers))

    result = application(environ, start_response)
    try:
        content = b"".join(result)
    finally:
        getattr(result, "close", lambda: None)()
    return started["status"], started["headers"], content  # type: ignore[return-value]


@pytest.mark.django_db(transaction=True)
def test_meta_deliveries_skip_the_browsers_middleware_and_everything_else_keeps_it(page, settings):
    body, signature = simulation.signed(simulation.envelope(page.meta_page_id, messaging=[
        simulation.message(page.meta_page_id, "psid-wsgi", 1_763_290_000, "Bonjour")]), settings.META_APP_SECRET)
    status, headers, content = _wsgi("POST", "/webhooks/meta", body, X_Hub_Signature_256=signature)
    assert (status, content) == ("200 OK", b"EVENT_RECEIVED")
    assert Delivery.objects.get().body_sha256
    # None of the middleware's headers: the chain was not run.
    assert "X-Frame-Options" not in headers and "Vary" not in headers

    status, headers, _ = _wsgi("POST", "/webhooks/meta", body, X_Hub_Signature_256="sha256=" + "0" * 64)
    assert status.startswith("403")
    assert Delivery.objects.count() == 1

    # The subscription handshake (a GET) and every page go through it.
    status, headers, _ = _wsgi("GET", "/accounts/login/")
    assert status == "200 OK"
    assert headers["X-Frame-Options"] == "DENY"
    assert "Content-Security-Policy" in headers


@pytest.mark.django_db(transaction=True)
def test_a_webhook_that_raises_is_a_logged_500_on_the_short_path(page, settings, monkeypatch, caplog):
    from inbox import webhooks

    def broken(*, body):
        raise RuntimeError("a bug")

    monkeypatch.setattr(webhooks, "store_delivery", broken)
    body, signature = simulation.signed(simulation.envelope(page.meta_page_id, messaging=[]), settings.META_APP_SECRET)
    status, _headers, _ = _wsgi("POST", "/webhooks/meta", body, X_Hub_Signature_256=signature)
    assert status.startswith("500")
    assert "a bug" in caplog.text

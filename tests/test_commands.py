"""The operator's commands (CONTRACT.md "Commands")."""

from __future__ import annotations

import hashlib
import re
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from inbox import simulation, tasks
from inbox.meta_events import signature_is_valid
from inbox.models import (
    ApiToken,
    Conversation,
    Delivery,
    Membership,
    Message,
    Page,
    ResponseOpportunity,
    Role,
)
from inbox.services import ingestion

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def stored_token(page: Page) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT access_token FROM {Page._meta.db_table} WHERE id = %s", [page.pk])  # noqa: S608
        return cursor.fetchone()[0]


# --- connect_page ------------------------------------------------------------


def test_it_connects_a_page_with_its_token_encrypted_at_rest():
    output = run("connect_page", "--page-id", "777001", "--name", "Fleurs Lila", "--access-token",
                 "EAAB-page-token-secret", "--timezone", "America/Montreal")
    assert "Created Page 777001" in output
    page = Page.objects.get(meta_page_id="777001")
    assert (page.name, page.timezone, page.access_token) == ("Fleurs Lila", "America/Montreal",
                                                            "EAAB-page-token-secret")
    raw = stored_token(page)
    assert raw != "EAAB-page-token-secret"
    assert "page-token-secret" not in raw
    assert Fernet(b"cmVhY3RpZi10ZXN0LWtleS0zMi1ieXRlcy0xMjM0NTY=").decrypt(raw.encode()) == b"EAAB-page-token-secret"


def test_connect_page_is_idempotent_and_updates_the_page():
    run("connect_page", "--page-id", "777001", "--name", "Fleurs", "--access-token", "old-token")
    Page.objects.filter(meta_page_id="777001").update(needs_reconnect=True)
    output = run("connect_page", "--page-id", "777001", "--name", "Fleurs Lila", "--access-token", "new-token")
    assert "Updated Page 777001" in output
    page = Page.objects.get()
    assert (page.name, page.access_token, page.timezone) == ("Fleurs Lila", "new-token", "Europe/Paris")
    # A new token is the reconnection Meta's 190 asked for.
    assert page.needs_reconnect is False


@pytest.mark.parametrize("args,message", [
    (["--page-id", "not-a-number"], "numeric"),
    (["--page-id", "777001", "--timezone", "Mars/Olympus"], "Unknown time zone"),
])
def test_connect_page_refuses_bad_input(args, message):
    with pytest.raises(CommandError, match=message):
        run("connect_page", "--name", "X", "--access-token", "t", *args)
    assert not Page.objects.exists()


# --- rotate_page_tokens --------------------------------------------------------


def test_rotate_page_tokens_re_encrypts_every_token_with_the_first_key(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEY = old
    first = Page.objects.create(meta_page_id="1", name="One", access_token="token-one")
    second = Page.objects.create(meta_page_id="2", name="Two", access_token="token-two")
    empty = Page.objects.create(meta_page_id="3", name="Three", access_token="")
    before = stored_token(first)

    settings.FIELD_ENCRYPTION_KEY = f"{new},{old}"  # step 1: new key first, old still reads
    assert "2 Pages" in run("rotate_page_tokens")
    assert stored_token(first) != before
    assert Fernet(new.encode()).decrypt(stored_token(first).encode()) == b"token-one"
    assert stored_token(empty) == ""

    settings.FIELD_ENCRYPTION_KEY = new  # step 3: the old key is gone
    assert Page.objects.get(pk=first.pk).access_token == "token-one"
    assert Page.objects.get(pk=second.pk).access_token == "token-two"


def test_rotate_page_tokens_names_the_pages_no_key_can_read(settings):
    lost, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEY = lost
    Page.objects.create(meta_page_id="424", name="Lost", access_token="t")
    settings.FIELD_ENCRYPTION_KEY = new
    with pytest.raises(CommandError, match="424"):
        run("rotate_page_tokens")


# --- add_member and create_api_token ------------------------------------------------


def test_add_member_gives_and_changes_a_role(page):
    user = get_user_model().objects.create_user("dora", password="dora-password-2026")
    assert "dora is agent of Boulangerie Dupain" in run("add_member", "dora", page.meta_page_id, "--role", "agent")
    run("add_member", "dora", page.meta_page_id, "--role", "admin")
    assert Membership.objects.get(user=user, page=page).role == Role.ADMIN
    assert Membership.objects.count() == 1


def test_add_member_refuses_an_unknown_user_or_page(page):
    get_user_model().objects.create_user("dora")
    with pytest.raises(CommandError, match="No user"):
        run("add_member", "nobody", page.meta_page_id, "--role", "agent")
    with pytest.raises(CommandError, match="No connected Page"):
        run("add_member", "dora", "999", "--role", "agent")
    with pytest.raises(CommandError):
        run("add_member", "dora", page.meta_page_id, "--role", "owner")
    assert not Membership.objects.exists()


def test_create_api_token_prints_a_key_and_stores_only_its_hash(alice, client):
    key = run("create_api_token", "alice", "--name", "reporting").strip()
    assert re.fullmatch(r"rk_[A-Za-z0-9_-]{40,}", key)
    token = ApiToken.objects.get()
    assert token.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert (token.user, token.name) == (alice, "reporting")
    assert key not in {token.prefix, token.key_hash, token.name}
    response = client.get(f"/api/v1/pages/{alice.memberships.get().page.meta_page_id}/conversations",
                          HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200
    # A second token is a different key.
    assert run("create_api_token", "alice").strip() != key


def test_create_api_token_refuses_an_unknown_or_inactive_user(alice):
    get_user_model().objects.filter(pk=alice.pk).update(is_active=False)
    for username in ("alice", "nobody"):
        with pytest.raises(CommandError):
            run("create_api_token", username)
    assert not ApiToken.objects.exists()


# --- simulate, seed_demo, rebuild_responsiveness ------------------------------------


@pytest.mark.django_db(transaction=True)
def test_simulate_sends_realistic_signed_deliveries_to_a_running_server(page, live_server, monkeypatch):
    monkeypatch.setattr(tasks, "_publish", lambda task, *args, countdown=0: None)  # no worker here
    started = time.monotonic()
    output = run("simulate", "--url", f"{live_server.url}/webhooks/meta", "--rate", "100", "--duration", "2",
                 "--seed", "7")
    assert time.monotonic() - started < 5
    sent = int(re.search(r"sent (\d+) deliveries, 0 failed", output).group(1))
    assert sent >= 10  # ~40 on a quiet machine; the floor allows for a loaded CI runner
    assert Delivery.objects.count() == sent  # every one signed correctly (else 403, not stored)
    for delivery_id in Delivery.objects.values_list("pk", flat=True):
        ingestion.process_delivery(delivery_id=delivery_id)
    assert not Delivery.objects.filter(processed_at__isnull=True).exists()
    assert Message.objects.filter(page=page).count() >= sent // 2
    assert Conversation.objects.filter(page=page, kind="public").exists()


def test_simulate_keeps_its_rate_when_the_server_answers_slowly(page):
    """Meta does not wait for a slow endpoint before sending the next
    delivery; neither does simulate (up to --concurrency in flight)."""
    received: list[bool] = []

    class SlowWebhook(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(signature_is_valid(body, self.headers["X-Hub-Signature-256"], "test-app-secret"))
            time.sleep(0.5)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowWebhook)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    try:
        output = run("simulate", "--url", f"http://127.0.0.1:{server.server_address[1]}/webhooks/meta",
                     "--rate", "20", "--duration", "1", "--concurrency", "20")
    finally:
        server.shutdown()
        server.server_close()
    # One at a time, 0.5 s each, would be 2; 20 on a quiet machine.
    assert len(received) >= 8, output
    assert all(received)
    assert f"sent {len(received)} deliveries, 0 failed" in output


def test_simulate_refuses_to_run_without_the_app_secret(page, settings):
    settings.META_APP_SECRET = ""
    with pytest.raises(CommandError, match="META_APP_SECRET"):
        run("simulate", "--url", "http://127.0.0.1:9/webhooks/meta", "--duration", "1")


def test_seed_demo_seeds_once(monkeypatch):
    monkeypatch.setattr(tasks, "_publish", lambda task, *args, countdown=0: None)
    output = run("seed_demo")
    assert "logins marie / hugo / admin" in output
    page = Page.objects.get()
    assert set(page.memberships.values_list("user__username", "role")) == {("marie", "admin"), ("hugo", "agent")}
    messages = Message.objects.count()
    assert Conversation.objects.filter(page=page, kind="private").count() >= 20
    assert ResponseOpportunity.objects.filter(page=page).exists()
    # Business hours, away messages and saved replies to show, all valid.
    from inbox.models import AwayMessage, OpeningInterval
    from inbox.services import hours
    from templates_app.models import SavedReply
    from templates_app.services import variable_problems

    assert OpeningInterval.objects.filter(page=page).count() == 7
    assert hours.schedule_for(page).is_available(datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Europe/Paris")))
    assert not hours.schedule_for(page).is_available(datetime(2026, 11, 24, 23, 0, tzinfo=ZoneInfo("Europe/Paris")))
    assert set(AwayMessage.objects.filter(page=page, enabled=True).values_list("language", flat=True)) == {"fr", "en"}
    replies = list(SavedReply.objects.filter(page=page))
    assert len(replies) == 5 and all(not variable_problems(reply.body) for reply in replies)
    run("seed_demo")
    assert Message.objects.count() == messages
    assert Page.objects.count() == 1
    assert SavedReply.objects.count() == 5 and OpeningInterval.objects.count() == 7


def test_rebuild_responsiveness_recomputes_the_opportunities(page, deliver):
    t0 = time.time() - 3600
    deliver(simulation.envelope(page.meta_page_id, messaging=[
        simulation.message(page.meta_page_id, "psid-r", t0, "Bonjour ?")]))
    deliver(simulation.envelope(page.meta_page_id, messaging=[
        simulation.echo(page.meta_page_id, "psid-r", t0 + 120, "Bonjour ! — Bob")]))
    before = list(ResponseOpportunity.objects.values_list("status", "response_seconds"))
    assert before == [("on_time", 120)]
    ResponseOpportunity.objects.all().delete()
    assert "1 conversations" in run("rebuild_responsiveness", page.meta_page_id)
    assert list(ResponseOpportunity.objects.values_list("status", "response_seconds")) == before
    with pytest.raises(CommandError):
        run("rebuild_responsiveness", "999")

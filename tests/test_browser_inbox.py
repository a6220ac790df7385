"""The inbox in a real browser (Debian's Chromium through Playwright), on the
live server, with a real Celery worker on the real Redis and the fake Graph
API: a new agent signs in, sees a message arrive without a reload, opens it,
answers with Ctrl+Enter, watches the reply leave, and the conversation leaves
the queue. Outsiders get a 404; hostile messages render inert.

`tab` fails any test whose page raises a JavaScript error or opens a dialog.

Screenshots of the queue and a conversation (fr/en, desktop/phone) are taken
with realistic data into $REACTIF_SCREENSHOT_DIR (var/screenshots by
default); `REACTIF_SCREENSHOT_DIR=docs/screenshots` refreshes the committed
ones."""

from __future__ import annotations

import os
import re
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connections
from django.utils import timezone
from playwright.sync_api import expect

from inbox import simulation
from inbox.models import (
    AwayPeriod,
    Channel,
    Contact,
    Conversation,
    ConversationStatus,
    Direction,
    Membership,
    Message,
    Role,
    SendStatus,
)
from inbox.services import hours

from .conftest import sign_in
from .inbox_helpers import customer_comments, customer_writes, local_cache  # noqa: F401 - fixture

# Live versions and presence live in the cache. The suite's Redis is shared
# with concurrent test runs whose teardown flushes it (several times a second
# during a full run), which would reset them at random: these tests keep a
# cache of their own; tests/test_tasks.py and the stack tests exercise Redis.
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("local_cache")]

SCREENSHOTS = Path(os.environ.get("REACTIF_SCREENSHOT_DIR", "var/screenshots"))
# The inbox promises a new message within 3 s; the poll runs every 2 s.
LIVE_PROMISE_MS = 3000


@pytest.fixture
def worker(transactional_db):
    """What the Celery worker does, in a thread that finds its work in the
    database (as the beat sweeps do) rather than on the broker: the suite's
    Redis is shared with concurrent runs whose teardown flushes it, which
    would drop a queued task at random. tests/test_tasks.py drives the real
    Celery worker."""
    import threading

    from inbox.models import Delivery
    from inbox.services import ingestion, sending

    stop = threading.Event()

    def work() -> None:
        try:
            while not stop.is_set():
                for pk in Delivery.objects.filter(processed_at__isnull=True).values_list("pk", flat=True):
                    ingestion.process_delivery(delivery_id=pk)
                for pk in Message.objects.filter(send_status=SendStatus.QUEUED).values_list("pk", flat=True):
                    sending.perform_send(message_id=pk)
                stop.wait(0.05)
        finally:
            connections.close_all()

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=10)


@pytest.fixture
def marie(page):
    """A new agent, on her first day."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(
        username="marie", password="marie-password-2026", first_name="Marie", email="marie@example.com")
    Membership.objects.create(user=user, page=page, role=Role.AGENT)
    return user


def post_to_webhook(live_server, payload: dict) -> None:
    """Meta's delivery, signed, over HTTP to the running server."""
    body, signature = simulation.signed(payload, django_settings.META_APP_SECRET)
    request = urllib.request.Request(  # noqa: S310 - the live server's URL
        f"{live_server.url}/webhooks/meta", data=body, method="POST",
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature})
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - the live server's URL
        assert response.status == 200


def wait_for(condition, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_a_new_agent_answers_a_message_that_arrives_live(tab, live_server, page, marie, fake_graph, worker):
    sign_in(tab, "marie")
    tab.goto("/")
    expect(tab.locator(".queue-empty")).to_be_visible()
    tab.evaluate("window.__sameDocument = true")

    t = time.time()
    post_to_webhook(live_server, simulation.envelope(page.meta_page_id, messaging=[
        simulation.message(page.meta_page_id, "psid-camille", t, "Bonjour, vous livrez à Lyon ?")],
        time_ms=simulation.ms(t)))
    posted = time.monotonic()
    row = tab.locator(".queue-row", has_text="Bonjour, vous livrez à Lyon ?")
    expect(row).to_be_visible(timeout=LIVE_PROMISE_MS + 2000)
    arrived_after = time.monotonic() - posted
    assert tab.evaluate("window.__sameDocument") is True  # no reload
    assert arrived_after < LIVE_PROMISE_MS / 1000 + 0.5, f"arrived after {arrived_after:.1f} s"
    conversation = Conversation.objects.get(page=page, contact__external_id="psid-camille")
    assert "min" in row.locator(".js-countdown").inner_text()  # 4 min 59 s left, ticking

    # The keyboard: j selects the first row, Enter opens it.
    tab.keyboard.press("j")
    expect(row).to_have_class(re.compile(r"is-selected"))
    tab.keyboard.press("Enter")
    tab.wait_for_url(f"**/c/{conversation.pk}/")
    expect(tab.locator(".msg-in")).to_contain_text("Bonjour, vous livrez à Lyon ?")
    expect(tab.locator(".side-window")).to_contain_text("23 h")

    # r focuses the reply; Ctrl+Enter sends it.
    tab.keyboard.press("r")
    expect(tab.locator("#composer-text")).to_be_focused()
    tab.keyboard.type("Oui, en 48 h ! Bonne journée, Marie")
    tab.keyboard.press("Control+Enter")
    reply = tab.locator(".msg-out", has_text="Oui, en 48 h !")
    expect(reply).to_be_visible()
    expect(tab.locator("#composer-text")).to_have_value("")
    # The worker sends it through the (fake) Graph API; the thread shows it sent, live.
    expect(reply.locator(".msg-status")).to_have_class(re.compile(r"is-sent"), timeout=8000)
    stats = fake_graph.stats()
    assert stats["sends"] == 1 and stats["double_sends"] == 0
    assert fake_graph.sends[0]["text"] == "Oui, en 48 h ! Bonne journée, Marie"
    message = Message.objects.get(conversation=conversation, direction=Direction.OUTBOUND)
    assert message.send_status == SendStatus.SENT and message.author == marie
    conversation.refresh_from_db()
    assert conversation.assignee == marie  # replying took the conversation

    # Answered: it has left the queue.
    tab.click(".back-link")
    tab.wait_for_url(f"{live_server.url}/")
    expect(tab.locator(".queue-empty")).to_be_visible()
    expect(tab.locator(f'[data-conversation="{conversation.pk}"]')).to_have_count(0)


def test_an_outsider_gets_a_404(tab, chromium, live_server, page, charlie, deliver):
    conversation = customer_writes(deliver, page, "p1", "Confidentiel", name="Camille Martin")
    sign_in(tab, "charlie")
    response = tab.goto(f"/c/{conversation.pk}/")
    assert response.status == 404
    tab.goto("/?status=open")
    expect(tab.locator("body")).not_to_contain_text("Camille Martin")


def test_a_hostile_message_renders_inert(tab, live_server, page, bob, deliver):
    payload = ('<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"> '
               '<a href="javascript:window.__pwned=3">clic</a> javascript:window.__pwned=4 '
               "https://example.com/ok")
    conversation = customer_writes(deliver, page, "p-evil", payload, attachments=[
        {"type": "image", "payload": {"url": "javascript:window.__pwned=5"}},
        {"type": "file", "payload": {"url": "javascript:window.__pwned=6"}},
        {"type": "image", "payload": {"url": "data:image/svg+xml,<svg onload='window.__pwned=7'/>"}},
    ])
    Contact.objects.filter(pk=conversation.contact_id).update(name='<img src=y onerror="window.__pwned=8">')
    sign_in(tab, "bob")
    tab.goto("/")
    expect(tab.locator(".row-contact")).to_have_text('<img src=y onerror="window.__pwned=8">')
    tab.goto(f"/c/{conversation.pk}/")
    text = tab.locator(".msg-in .msg-text")
    expect(text).to_contain_text("<script>window.__pwned = 1</script>")
    for link in tab.locator("#thread a").all():
        href = link.get_attribute("href") or ""
        assert href.startswith(("https://", "http://", "/")), href
    assert tab.locator("#thread img").count() == 0
    external = tab.locator('#thread a[href="https://example.com/ok"]')
    assert external.get_attribute("rel") == "noopener noreferrer nofollow"
    tab.wait_for_timeout(300)
    assert tab.evaluate("window.__pwned") is None


def test_a_closed_windows_send_button_looks_unusable(tab, live_server, page, bob, deliver):
    """More than 24 hours after the customer's last message (and no
    HUMAN_AGENT), Send is disabled: it must not look like a button that works."""
    closed = customer_writes(deliver, page, "p-old", "Bonjour ?", seconds_ago=2 * 86400)
    fresh = customer_writes(deliver, page, "p-new", "Bonjour !", seconds_ago=60)
    sign_in(tab, "bob")
    tab.goto(f"/c/{closed.pk}/")
    send = tab.locator("#composer-send")
    expect(send).to_be_disabled()
    assert float(send.evaluate("e => getComputedStyle(e).opacity")) < 0.7
    assert send.evaluate("e => getComputedStyle(e).cursor") == "not-allowed"
    tab.goto(f"/c/{fresh.pk}/")
    expect(send).to_be_enabled()
    assert float(send.evaluate("e => getComputedStyle(e).opacity")) == 1


def test_the_help_lists_the_keys_and_e_marks_done(tab, live_server, page, bob, deliver):
    conversation = customer_writes(deliver, page, "p1", "Bonjour", name="Camille Martin")
    sign_in(tab, "bob")
    tab.goto("/")
    tab.keyboard.press("?")
    expect(tab.locator("#keys-help")).to_be_visible()
    tab.keyboard.press("Escape")
    expect(tab.locator("#keys-help")).to_be_hidden()
    tab.keyboard.press("/")
    expect(tab.locator("#queue-search")).to_be_focused()
    tab.keyboard.press("Escape")
    tab.keyboard.press("j")
    tab.keyboard.press("a")
    expect(tab.locator(".row-assignee.is-me")).to_be_visible()
    tab.keyboard.press("j")
    tab.keyboard.press("e")
    expect(tab.locator(".queue-empty")).to_be_visible()
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.DONE and conversation.assignee == bob


# --- Screenshots with realistic data --------------------------------------------------


def realistic_inbox(deliver, page, alice, bob) -> tuple[Conversation, Conversation]:
    """A morning at a bakery's Page: a comment from while it was closed, one
    message missed, one at risk, others on time, public comments under a post."""
    AwayPeriod.objects.create(page=page, start=timezone.now() - timedelta(hours=10),
                              until=timezone.now() - timedelta(minutes=11), created_by=alice)
    hours.hours_changed(page)
    people = [
        ("p-camille", "Camille Martin", "Bonjour, vous livrez à Lyon ? J'aimerais commander un fraisier pour samedi.", 620),
        ("p-hugo", "Hugo Dubois", "Ma commande n'est toujours pas arrivée… n° 4471", 265),
        ("p-lea", "Léa Bernard", "Est-ce que le pain aux noix existe sans gluten ?", 130),
        ("p-ines", "Inès Moreau", "Merci pour votre réponse rapide !", 40),
    ]
    conversations = {}
    for psid, name, text, ago in people:
        conversations[psid] = customer_writes(deliver, page, psid, text, seconds_ago=ago, name=name)
    Conversation.objects.filter(pk=conversations["p-hugo"].pk).update(assignee=alice)
    customer_comments(deliver, page, from_id="c-jules", name="Jules Petit", text="C'est livré en combien de temps ?",
                      post="318", seconds_ago=1500)
    customer_comments(deliver, page, from_id="c-zoe", name="Zoé Leroy", text="Trop beau ! Dispo dimanche ?",
                      post="318", seconds_ago=300)
    # A long-running thread for the conversation screenshot.
    camille = conversations["p-camille"]
    Message.objects.create(
        page=page, conversation=camille, direction=Direction.OUTBOUND, channel=Channel.NOTE, author=alice,
        timestamp=timezone.now() - timedelta(seconds=500),
        text="Cliente fidèle : elle a commandé trois fraisiers l'an dernier.")
    customer_writes(deliver, page, "p-camille", "C'est pour 12 personnes, avec une inscription « Joyeux anniversaire Paul ».",
                    seconds_ago=480, attachments=[{"type": "file", "payload": {
                        "url": "https://cdn.example.com/modele-gateau.pdf"}, "title": "modele-gateau.pdf"}])
    return camille, conversations["p-hugo"]


def shot(tab, name: str, *, full_page: bool = False) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


def assert_fits_the_screen(tab) -> None:
    overflow = tab.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the screen"


@pytest.mark.parametrize("language", ["fr", "en"])
def test_screenshots_of_the_queue_and_a_conversation(tab, live_server, page, alice, bob, deliver, language):
    camille, _hugo = realistic_inbox(deliver, page, alice, bob)
    sign_in(tab, "bob")
    tab.context.add_cookies([{"name": "django_language", "value": language, "url": live_server.url}])
    for width, height, suffix in [(1280, 820, ""), (390, 844, "-phone")]:
        tab.set_viewport_size({"width": width, "height": height})
        tab.goto("/")
        expect(tab.locator(".queue-row").first).to_be_visible()
        assert tab.locator("html").get_attribute("lang") == language
        tab.keyboard.press("j")
        assert_fits_the_screen(tab)
        shot(tab, f"queue-{language}{suffix}")
        tab.goto(f"/c/{camille.pk}/")
        expect(tab.locator(".msg-note")).to_be_visible()
        tab.fill("#composer-text", "Bonjour Camille, oui nous livrons à Lyon le samedi matin." if language == "fr"
                 else "Hello Camille, yes we deliver in Lyon on Saturday mornings.")
        assert_fits_the_screen(tab)
        shot(tab, f"conversation-{language}{suffix}")


def test_two_agents_on_one_conversation_see_each_other(tab, chromium, live_server, page, alice, bob, deliver):
    conversation = customer_writes(deliver, page, "p1", "Bonjour, une question", name="Camille Martin")
    second = chromium.new_context(base_url=live_server.url, locale="fr-FR", timezone_id="Europe/Paris")
    other = second.new_page()
    errors: list[str] = []
    other.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        sign_in(tab, "bob")
        sign_in(other, "alice")
        tab.goto(f"/c/{conversation.pk}/")
        other.goto(f"/c/{conversation.pk}/")
        expect(tab.locator("#presence")).to_contain_text("Alice", timeout=6000)
        other.fill("#composer-text", "")
        other.locator("#composer-text").press_sequentially("Je m'en occupe")
        expect(tab.locator("#presence .is-typing")).to_contain_text("Alice", timeout=6000)
        expect(other.locator("#presence")).to_contain_text("Bob", timeout=6000)
    finally:
        second.close()
    assert errors == []

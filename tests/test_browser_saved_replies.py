"""Saved replies in a real browser: the composer's "/" picker, the
confirmation before sending a contact the same saved reply again, and an
admin told about a typo'd variable before saving. Screenshots (fr/en,
desktop/phone) go to $REACTIF_SCREENSHOT_DIR (var/screenshots by default)."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from inbox.models import Channel, Direction, Message, SendStatus
from templates_app.models import SavedReply

from .conftest import sign_in
from .inbox_helpers import customer_writes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(os.environ.get("REACTIF_SCREENSHOT_DIR", "var/screenshots"))
HOURS_BODY = (
    "Bonjour {{ contact.first_name }}, nous sommes ouverts du mardi au samedi, de 8 h à 19 h, sans "
    "interruption. {{ cursor }}\n— {{ agent.first_name }}"
)


def shot(tab, name: str, *, full_page: bool = True) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


def use_language(tab, code: str) -> None:
    tab.context.add_cookies([{"name": "django_language", "value": code, "url": tab.url}])


@pytest.fixture
def hours(page):
    SavedReply.objects.create(page=page, title="Livraison", shortcut="livraison", language="fr",
                              body="Nous livrons en 48 h dans toute la France.\n— {{ agent.first_name }}")
    return SavedReply.objects.create(page=page, title="Opening hours", shortcut="horaires", language="fr",
                                     body=HOURS_BODY, tags="boutique")


def test_it_inserts_a_saved_reply_asks_before_repeating_it_then_sends_it_adapted(tab, page, bob, hours, deliver):
    conversation = customer_writes(deliver, page, "psid-marie", "Vous êtes ouverts demain ?", name="Marie Curie")
    # Marie already received the opening hours, as they are, three days ago.
    Message.objects.create(
        page=page, conversation=conversation, direction=Direction.OUTBOUND, channel=Channel.MESSENGER,
        timestamp=timezone.now() - timedelta(days=3), author=bob, send_status=SendStatus.SENT, mid="m-earlier",
        text="Bonjour Marie, nous sommes ouverts du mardi au samedi, de 8 h à 19 h, sans interruption. \n— Bob",
        saved_reply=hours, saved_reply_similarity=1.0, is_unedited_saved_reply=True,
    )
    sign_in(tab, "bob")
    tab.goto(f"/c/{conversation.pk}/")
    composer = tab.locator("#composer-text")
    composer.click()
    composer.press_sequentially("/hor")
    option = tab.locator("#sr-picker-list [role=option]").first
    option.wait_for()
    assert tab.locator("#sr-picker-list [role=option]").count() == 1
    assert "Opening hours" in option.inner_text()
    assert option.get_attribute("aria-selected") == "true"
    composer.press("Enter")
    expect(composer).to_have_value(re.compile(r"^Bonjour Marie, nous sommes ouverts"))
    assert tab.locator("#sr-picker").is_hidden()
    value = composer.input_value()
    assert value.endswith("\n— Bob") and "{{" not in value
    caret = tab.evaluate("document.getElementById('composer-text').selectionStart")
    assert caret == value.index("\n— Bob"), "the caret waits where the reply is to be adapted"
    assert tab.locator("#composer-saved-reply").input_value() == str(hours.pk)
    # Live guidance, before anything is sent.
    tab.locator('#composer-guidance [data-warning="repeat_contact"]').wait_for()
    shot(tab, "composer-guidance-fr")

    tab.locator("#composer-send").click()
    # The send view refuses until Bob confirms, and says why.
    expect(tab.locator("button.warn-button")).to_be_visible()
    confirm = tab.locator('#composer-guidance [data-warning="repeat_contact"][data-kind="confirm"]')
    expect(confirm).to_contain_text(re.compile("already received this saved reply|reçu"))
    shot(tab, "composer-confirmation-fr")
    assert not Message.objects.filter(conversation=conversation, direction=Direction.OUTBOUND,
                                      timestamp__gte=timezone.now() - timedelta(hours=1)).exists()

    # Bob adapts the reply where the caret was left, and the warning goes.
    composer.click()
    tab.evaluate("""() => { const t = document.getElementById('composer-text');
                            const at = t.value.indexOf('\\n— Bob'); t.setSelectionRange(at, at); }""")
    composer.press_sequentially("Oui, demain samedi nous serons là dès 8 h !")
    expect(tab.locator('#composer-guidance [data-warning="repeat_contact"]')).to_have_count(0)
    tab.locator("button.warn-button").click()
    expect(composer).to_have_value("")
    reply = Message.objects.get(conversation=conversation, direction=Direction.OUTBOUND,
                                timestamp__gte=timezone.now() - timedelta(hours=1))
    assert "demain samedi nous serons là dès 8 h" in reply.text
    assert reply.saved_reply == hours and reply.is_unedited_saved_reply is False
    assert reply.saved_reply_similarity < 0.90


def test_it_drives_the_picker_with_the_keyboard_and_escape_closes_it(tab, page, bob, hours, deliver):
    conversation = customer_writes(deliver, page, "psid-paul", "Bonjour", name="Paul")
    sign_in(tab, "bob")
    tab.goto(f"/c/{conversation.pk}/")
    composer = tab.locator("#composer-text")
    composer.click()
    composer.press_sequentially("Bonjour, /")
    tab.locator("#sr-picker-list [role=option]").nth(1).wait_for()
    composer.press("ArrowDown")
    assert tab.locator("#sr-picker-list [role=option]").nth(1).get_attribute("aria-selected") == "true"
    composer.press("Escape")
    assert tab.locator("#sr-picker").is_hidden()
    assert composer.input_value() == "Bonjour, /"
    # Escape closed the picker, not the composer, and this "/" stays a plain
    # slash while typing on; a new "/" opens the picker again.
    composer.press_sequentially("l")
    tab.wait_for_timeout(400)
    assert tab.locator("#sr-picker").is_hidden()
    composer.press("Backspace")
    composer.press("Backspace")
    composer.press_sequentially("/liv")
    tab.locator("#sr-picker-list [role=option]").first.wait_for()
    assert "Livraison" in tab.locator("#sr-picker-list").inner_text()
    composer.press("Enter")
    expect(composer).to_have_value(re.compile("Nous livrons en 48 h"))
    assert composer.input_value() == "Bonjour, Nous livrons en 48 h dans toute la France.\n— Bob"


def test_it_tells_an_admin_about_a_typo_in_a_variable_before_saving(tab, page, alice):
    sign_in(tab, "alice")
    tab.goto(f"/saved-replies/page/{page.pk}/new/")
    tab.fill("#id_title", "Opening hours")
    tab.fill("#id_shortcut", "horaires")
    tab.locator("#id_body").click()
    tab.locator("#id_body").press_sequentially("Bonjour {{ contact.firstname }}, nous ouvrons à 8 h.")
    problem = tab.locator("#saved-reply-preview [data-preview-problems]")
    problem.wait_for()
    assert "contact.firstname" in problem.inner_text() and "contact.first_name" in problem.inner_text()
    assert SavedReply.objects.count() == 0
    shot(tab, "saved-reply-typo-fr")
    # Saving anyway is refused with the same explanation, nothing saved.
    tab.locator("#saved-reply-form button[type=submit]").click()
    tab.locator(".field-error").first.wait_for()
    assert "contact.first_name" in tab.locator(".field-error").first.inner_text()
    assert SavedReply.objects.count() == 0
    # Fixed with the variable button; the preview renders for the sample contact.
    body = tab.locator("#id_body")
    body.fill("Bonjour , nous ouvrons à 8 h.")
    tab.evaluate("() => document.getElementById('id_body').setSelectionRange(8, 8)")
    tab.locator('[data-insert-variable="contact.first_name"]').click()
    expect(tab.locator("#saved-reply-preview [data-preview-text]")).to_have_text(
        re.compile(r"^Bonjour Camille, nous ouvrons")
    )
    assert tab.locator("#saved-reply-preview [data-preview-problems]").count() == 0
    tab.locator("#saved-reply-form button[type=submit]").click()
    tab.wait_for_url(re.compile(rf"/saved-replies/page/{page.pk}/$"))
    assert SavedReply.objects.get().body == "Bonjour {{ contact.first_name }}, nous ouvrons à 8 h."


@pytest.mark.parametrize("language", ["fr", "en"])
def test_it_screenshots_the_list_and_the_picker(tab, page, alice, hours, deliver, language):
    conversation = customer_writes(deliver, page, "psid-lea", "Vous livrez à Lyon ?", name="Léa")
    Message.objects.create(
        page=page, conversation=conversation, direction=Direction.OUTBOUND, channel=Channel.MESSENGER,
        timestamp=timezone.now() - timedelta(days=2), author=alice, send_status=SendStatus.SENT, mid="m-old",
        text="…", saved_reply=hours, is_unedited_saved_reply=True,
    )
    stale = SavedReply.objects.create(page=page, title="Soldes d'été", shortcut="soldes", body="Les soldes…")
    SavedReply.objects.filter(pk=stale.pk).update(created_at=timezone.now() - timedelta(days=200))
    sign_in(tab, "alice")
    use_language(tab, language)
    for width, height, device in ((1280, 800, "desktop"), (390, 844, "phone")):
        tab.set_viewport_size({"width": width, "height": height})
        tab.goto(f"/saved-replies/page/{page.pk}/")
        assert tab.locator(".sr-row").count() == 3
        shot(tab, f"saved-replies-list-{device}-{language}")
        tab.goto(f"/c/{conversation.pk}/")
        composer = tab.locator("#composer-text")
        composer.click()
        composer.fill("")  # the inbox keeps drafts across visits
        composer.press_sequentially("/")
        tab.locator("#sr-picker-list [role=option]").nth(2).wait_for()
        composer.press("ArrowDown")
        tab.locator("#composer").scroll_into_view_if_needed()
        shot(tab, f"composer-picker-{device}-{language}", full_page=False)

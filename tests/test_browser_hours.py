"""Business hours in a real browser: an admin builds a split-shift week and a
holiday; a customer who writes at night gets the away message with the
right next opening in French, and the inbox shows the conversation as
received while closed. Screenshots of the settings page (desktop and phone
widths, the inbox header) go to $REACTIF_SCREENSHOT_DIR (var/screenshots by
default); `REACTIF_SCREENSHOT_DIR=docs/screenshots` refreshes the committed
hours-{fr,en}.png."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from inbox import simulation
from inbox.models import ClosureDate, Message, OpeningInterval, SendStatus
from inbox.services import sending

from .conftest import sign_in
from .hours_fixtures import clock_fixture, office_hours, paris  # noqa: F401 - a fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(os.environ.get("REACTIF_SCREENSHOT_DIR", "var/screenshots"))
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1360, "height": 900}


def shot(tab, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # The sticky topbar belongs at the top of a full-page picture.
    tab.evaluate("window.scrollTo(0, 0)")
    tab.screenshot(path=str(path), full_page=True)


def use_language(tab, code: str) -> None:
    tab.context.add_cookies([{"name": "django_language", "value": code, "url": tab.url}])


def add_interval(tab, weekday: int, start: str, end: str) -> None:
    day = tab.locator(f"#day-{weekday}")
    day.locator("input[name=start]").fill(start)
    day.locator("input[name=end]").fill(end)
    day.locator(".interval-add button[type=submit]").click()


def test_an_admin_builds_a_split_shift_week_and_a_holiday(tab, page, alice, clock):
    clock.set(paris(2026, 11, 24, 10, 0))  # a Tuesday morning
    tab.set_viewport_size(DESKTOP)
    sign_in(tab, "alice")
    tab.goto("/")
    tab.locator(".mainnav a[href='/settings/']").click()
    tab.wait_for_url(f"**/pages/{page.pk}/settings/")

    add_interval(tab, 0, "09:00", "12:00")
    expect(tab.locator('#day-0 [data-interval="09:00-12:00"]')).to_be_visible()
    add_interval(tab, 0, "14h", "18:00")
    expect(tab.locator('#day-0 [data-interval="14:00-18:00"]')).to_be_visible()
    # The status card follows out of band: hours on Mondays only, so closed this Tuesday.
    expect(tab.locator("#now")).to_have_attribute("data-availability", "closed")

    # An overlap is refused in place, what was typed kept.
    add_interval(tab, 0, "11:30", "13:00")
    expect(tab.locator("#day-0 .form-error")).to_contain_text("09:00\N{EN DASH}12:00")
    expect(tab.locator("#day-0 input[name=start]")).to_have_value("11:30")

    # Copy Monday to the other weekdays with the "Weekdays" shortcut.
    monday = tab.locator("#day-0")
    monday.locator(".copy-day summary").click()
    monday.locator("[data-check-days='0,1,2,3,4']").click()
    expect(monday.locator("input[name=to][value='4']")).to_be_checked()
    expect(monday.locator("input[name=to][value='5']")).not_to_be_checked()
    monday.locator(".copy-day button[type=submit]").click()
    expect(tab.locator('#day-4 [data-interval="14:00-18:00"]')).to_be_visible()
    expect(tab.locator("#day-5 .closed-day")).to_be_visible()
    expect(tab.locator("#now")).to_have_attribute("data-availability", "open")
    expect(tab.locator("#topbar-availability .avail-pill")).to_have_attribute("data-availability", "open")

    # Saturday morning, to 24:00 would be allowed too.
    add_interval(tab, 5, "10:00", "13:00")
    expect(tab.locator('#day-5 [data-interval="10:00-13:00"]')).to_be_visible()

    # A one-off closure, then France's public holidays in one click.
    tab.fill("#id_day", "2026-12-24")
    tab.fill("#id_label", "Réveillon")
    tab.locator(".closure-add button[type=submit]").click()
    expect(tab.locator('[data-closure="2026-12-24"]')).to_contain_text("Réveillon")
    tab.locator("[data-holidays='2026']").click()
    expect(tab.locator('[data-closure="yearly-12-25"]')).to_be_visible()
    expect(tab.locator("[data-holidays='2026']")).to_be_disabled()

    assert sorted((i.weekday, i.start_minute, i.end_minute) for i in OpeningInterval.objects.filter(page=page)) == [
        *[(day, start, end) for day in range(5) for start, end in ((540, 720), (840, 1080))], (5, 600, 780)]
    # Eight yearly holidays: Easter Monday, Ascension and Whit Monday 2026 are past.
    assert ClosureDate.objects.filter(page=page).count() == 9
    expect(tab.locator("#changes tbody tr").first).to_be_visible()

    shot(tab, SCREENSHOTS / "hours-fr.png")
    use_language(tab, "en")
    tab.reload()
    expect(tab.locator("html")).to_have_attribute("lang", "en")
    shot(tab, SCREENSHOTS / "hours-en.png")
    tab.set_viewport_size(PHONE)
    shot(tab, SCREENSHOTS / "hours-settings-en-phone.png")
    use_language(tab, "fr")
    tab.reload()
    shot(tab, SCREENSHOTS / "hours-settings-fr-phone.png")
    for section in ("now", "hours", "closures", "away_messages"):
        tab.locator(f"#{section}").screenshot(path=str(SCREENSHOTS / f"hours-settings-{section}-fr-phone.png"))


def test_a_customer_writing_at_night_gets_the_away_message_and_waits_in_the_inbox(
    tab, page, alice, bob, deliver, fake_graph, clock
):
    office_hours(page, "mon-fri 09:00-12:00,14:00-18:00")
    friday_night = paris(2026, 11, 20, 22, 0)
    clock.set(friday_night)

    # Alice turns the French away message on: the suggested text is already there.
    sign_in(tab, "alice")
    tab.goto(f"/pages/{page.pk}/settings/#away_messages")
    french = tab.locator(".away-message[data-language=fr]")
    expect(french.locator(".preview")).to_contain_text("nous vous répondrons lundi à 9 h.")
    french.locator("input[type=checkbox]").check()
    french.locator("button[type=submit]").click()
    expect(tab.locator(".away-message[data-language=fr] .badge.ok")).to_be_visible()

    # A customer writes on Messenger on Friday at 22:00.
    clock.set(friday_night + timedelta(seconds=2))
    deliver(simulation.envelope(page.meta_page_id, messaging=[simulation.message(
        page.meta_page_id, "psid-lea", friday_night.timestamp(), "Bonsoir, le gâteau sera prêt samedi ?")]))
    for queued in Message.objects.filter(page=page, send_status=SendStatus.QUEUED):
        sending.perform_send(message_id=queued.pk)
    [sent] = fake_graph.sends
    assert sent["recipient"] == {"id": "psid-lea"}
    assert sent["text"] == ("Bonjour, merci pour votre message ! Nous sommes fermés pour le moment : "
                            "nous vous répondrons lundi à 9 h.")

    # Saturday morning, Bob looks at the inbox.
    clock.set(paris(2026, 11, 21, 10, 0))
    tab.context.clear_cookies()
    sign_in(tab, "bob")
    tab.set_viewport_size(DESKTOP)
    tab.goto("/")
    header = tab.locator("#hours-header .hours-page")
    expect(header).to_have_attribute("data-availability", "closed")
    expect(header).to_contain_text("lundi à 09:00")
    expect(header.locator(".hours-rush")).to_have_attribute("data-waiting", "1")
    row = tab.locator(".badge.closed").first
    expect(row).to_be_visible()
    shot(tab, SCREENSHOTS / "hours-inbox-header-fr.png")
    tab.set_viewport_size(PHONE)
    shot(tab, SCREENSHOTS / "hours-inbox-header-fr-phone.png")

    # Bob switches the Page away from the inbox header, then back.
    tab.set_viewport_size(DESKTOP)
    tab.locator("#hours-header select[name=duration]").select_option("custom")
    expect(tab.locator("#hours-header .away-until")).to_be_visible()
    tab.locator("#hours-header select[name=duration]").select_option("60")
    expect(tab.locator("#hours-header .away-until")).to_be_hidden()
    tab.locator("#hours-header .away-form button[type=submit]").click()
    expect(tab.locator("#hours-header .hours-page")).to_have_attribute("data-availability", "away")
    expect(tab.locator("#hours-header .hours-who")).to_contain_text("Bob")
    expect(tab.locator("#topbar-availability .avail-pill")).to_have_attribute("data-availability", "away")
    shot(tab, SCREENSHOTS / "hours-inbox-header-away-fr.png")
    tab.locator("#hours-header .away-form button[type=submit]").click()
    expect(tab.locator("#hours-header .hours-page")).to_have_attribute("data-availability", "closed")


def test_an_agent_has_no_settings_link_and_gets_404_on_settings(tab, page, bob):
    sign_in(tab, "bob")
    tab.goto("/")
    expect(tab.locator(".mainnav a[href='/settings/']")).to_have_count(0)
    response = tab.goto(f"/pages/{page.pk}/settings/")
    assert response is not None and response.status == 404


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("width", [1024, 1360])
def test_the_weeks_bars_never_run_under_the_days_tools(tab, page, alice, language, width):
    OpeningInterval.objects.create(page=page, weekday=0, start_minute=20 * 60, end_minute=24 * 60)
    tab.set_viewport_size({"width": width, "height": 900})
    sign_in(tab, "alice")
    use_language(tab, language)
    tab.goto(f"/pages/{page.pk}/settings/")
    scale = tab.locator(".week-scale").bounding_box()
    for weekday in range(7):
        bar = tab.locator(f"#day-{weekday} .day-bar").bounding_box()
        tools = tab.locator(f"#day-{weekday} .interval-add").bounding_box()
        # The 24 h bar ends before the opening/closing fields begin (Monday's
        # late evening, 20:00-24:00, stays visible)…
        assert bar["x"] + bar["width"] <= tools["x"], (weekday, bar, tools)
        # …and the 0 h-24 h scale spans the bars exactly.
        assert abs(scale["x"] - bar["x"]) <= 1 and abs(scale["width"] - bar["width"]) <= 1, (scale, bar)

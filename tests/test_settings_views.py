"""A Page's settings (admins only), the away switch (any member) and the
business-hours status in the topbar and the inbox header."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.urls import reverse

from inbox import simulation
from inbox.models import AuditLog, AwayMessage, AwayPeriod, ClosureDate, OpeningInterval, Page
from inbox.services import hours

from .hours_fixtures import clock_fixture, office_hours, paris  # noqa: F401 - a fixture

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def english(client):
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def url(name, page, *args):
    return reverse(f"inbox:{name}", args=[page.pk, *args])


def signed_in(client, user):
    client.force_login(user)
    return client


def intervals(page):
    return [(i.weekday, i.start_minute, i.end_minute) for i in OpeningInterval.objects.filter(page=page)]


# --- Who may see what ----------------------------------------------------------------


def test_it_shows_the_settings_page_to_an_admin(client, english, alice, page):
    response = signed_in(client, alice).get(url("page_settings", page))
    assert response.status_code == 200
    html = response.content.decode()
    for section in ('id="now"', 'id="hours"', 'id="closures"', 'id="away_messages"', 'id="general"',
                    'id="changes"'):
        assert section in html
    assert "Changing the hours changes the figures of new conversations only" in html
    assert 'aria-current="page">Settings</a>' in html


def test_it_answers_404_to_agents_and_outsiders_on_every_settings_url(client, alice, bob, charlie, page):
    interval = hours.add_interval(page=page, weekday=0, start=540, end=720, actor=alice)
    closure = hours.add_closure(page=page, day=date(2030, 5, 2), yearly=False, label="", actor=alice)
    gets = [url("page_settings", page)]
    posts = [
        url("settings_general", page), url("settings_timezone", page), url("interval_add", page),
        url("interval_remove", page, interval.pk), url("day_copy", page), url("closure_add", page),
        url("closure_remove", page, closure.pk), url("holidays_add", page), url("away_message_save", page, "fr"),
    ]
    for user in (bob, charlie):
        signed_in(client, user)
        for target in gets:
            assert client.get(target).status_code == 404, (user, target)
        for target in posts:
            assert client.post(target, {"weekday": 0, "start": "13:00", "end": "14:00"}, **HTMX).status_code == 404
    assert intervals(page) == [(0, 540, 720)]
    assert ClosureDate.objects.filter(page=page).count() == 1


def test_it_sends_anonymous_visitors_to_sign_in(client, page):
    response = client.get(url("page_settings", page))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_settings_index_leads_an_admin_to_their_page_and_refuses_agents(client, alice, bob, page):
    assert signed_in(client, alice).get(reverse("inbox:settings")).url == url("page_settings", page)
    assert signed_in(client, bob).get(reverse("inbox:settings")).status_code == 404


def test_the_settings_index_lists_the_pages_of_an_admin_of_several(client, english, alice, page):
    from inbox.models import Membership

    second = Page.objects.create(meta_page_id="3126", name="Fromagerie Lemoine")
    Membership.objects.create(user=alice, page=second, role="admin")
    response = signed_in(client, alice).get(reverse("inbox:settings"))
    assert response.status_code == 200
    assert url("page_settings", page) in response.content.decode()
    assert url("page_settings", second) in response.content.decode()


def test_the_settings_link_shows_only_for_admins(client, alice, bob, page):
    link = f'href="{reverse("inbox:settings")}"'
    assert link in signed_in(client, alice).get(reverse("inbox:queue")).content.decode()
    assert link not in signed_in(client, bob).get(reverse("inbox:queue")).content.decode()


# --- The week ----------------------------------------------------------------------------


def test_an_admin_builds_split_shifts_with_htmx(client, english, alice, page):
    signed_in(client, alice)
    for start, end in (("09:00", "12:00"), ("14h", "18:00")):
        response = client.post(url("interval_add", page), {"weekday": 0, "start": start, "end": end}, **HTMX)
        assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="hours"')
    assert 'id="now"' in html and 'hx-swap-oob="true"' in html, "the status card follows out of band"
    assert 'data-interval="09:00-12:00"' in html and 'data-interval="14:00-18:00"' in html
    assert intervals(page) == [(0, 540, 720), (0, 840, 1080)]
    assert AuditLog.objects.filter(page=page, action="opening_interval_added", actor=alice).count() == 2
    page.refresh_from_db()
    assert page.hours_changed_at is not None


def test_a_week_without_hours_reads_as_always_open_not_as_seven_closed_days(client, english, alice, page):
    signed_in(client, alice)
    html = client.get(url("page_settings", page)).content.decode()
    assert html.count("Open all day: no hours set") == 7
    assert 'class="closed-day muted">Closed' not in html and "is-closed" not in html
    response = client.post(url("interval_add", page), {"weekday": 0, "start": "09:00", "end": "12:00"}, **HTMX)
    html = response.content.decode()
    # Hours on Monday: the other six days are closed now.
    assert "Open all day" not in html
    assert html.count('class="closed-day muted">Closed') == 6 and html.count("is-closed") == 6


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("11:00", "13:00", "This overlaps 09:00\N{EN DASH}12:00 on the same day."),
        ("08:00", "09:30", "This overlaps 09:00\N{EN DASH}12:00 on the same day."),
        ("22:00", "02:00", "An interval may not cross midnight"),
        ("12:00", "12:00", "The end must come after the start."),
        ("25:00", "26:00", "Write a time between 00:00 and 24:00."),
        ("noon", "14:00", "Write a time such as 09:00."),
    ],
)
def test_it_refuses_overlaps_midnight_crossings_and_bad_times(client, english, alice, page, start, end, message):
    hours.add_interval(page=page, weekday=2, start=540, end=720, actor=alice)
    response = signed_in(client, alice).post(
        url("interval_add", page), {"weekday": 2, "start": start, "end": end}, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert message in html
    assert f'value="{start}"' in html, "what was typed stays in the form"
    assert intervals(page) == [(2, 540, 720)]


def test_it_lets_24_00_end_an_interval(client, alice, page):
    signed_in(client, alice).post(url("interval_add", page), {"weekday": 5, "start": "18:00", "end": "24:00"}, **HTMX)
    assert intervals(page) == [(5, 1080, 1440)]


def test_it_copies_a_day_to_other_days_replacing_theirs(client, alice, page):
    hours.add_interval(page=page, weekday=0, start=540, end=720, actor=alice)
    hours.add_interval(page=page, weekday=0, start=840, end=1080, actor=alice)
    hours.add_interval(page=page, weekday=3, start=600, end=660, actor=alice)
    response = signed_in(client, alice).post(url("day_copy", page), {"weekday": 0, "to": [1, 2, 3, 4]}, **HTMX)
    assert response.status_code == 200
    assert sorted(intervals(page)) == sorted(
        (day, start, end) for day in range(5) for start, end in ((540, 720), (840, 1080))
    )
    assert AuditLog.objects.get(page=page, action="opening_day_copied").data["to"] == [1, 2, 3, 4]


def test_it_asks_which_days_to_copy_to(client, english, alice, page):
    response = signed_in(client, alice).post(url("day_copy", page), {"weekday": 0}, **HTMX)
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()


def test_it_removes_an_interval_but_not_another_pages(client, alice, charlie, page, other_page):
    mine = hours.add_interval(page=page, weekday=0, start=540, end=720, actor=alice)
    theirs = hours.add_interval(page=other_page, weekday=0, start=540, end=720, actor=charlie)
    signed_in(client, alice)
    assert client.post(url("interval_remove", page, theirs.pk), **HTMX).status_code == 404
    assert client.post(url("interval_remove", page, mine.pk), **HTMX).status_code == 200
    assert intervals(page) == []
    assert intervals(other_page) == [(0, 540, 720)]


def test_it_changes_the_time_zone(client, alice, page):
    response = signed_in(client, alice).post(url("settings_timezone", page), {"timezone": "America/New_York"}, **HTMX)
    assert response.status_code == 200
    page.refresh_from_db()
    assert page.timezone == "America/New_York"
    assert AuditLog.objects.get(page=page, action="timezone_changed").data == {
        "previous": "Europe/Paris", "timezone": "America/New_York"}
    refused = client.post(url("settings_timezone", page), {"timezone": "Mars/Olympus_Mons"}, **HTMX)
    assert refused.status_code == 200
    page.refresh_from_db()
    assert page.timezone == "America/New_York"


def test_without_htmx_a_change_redirects_back_to_its_section(client, alice, page):
    response = signed_in(client, alice).post(url("interval_add", page), {"weekday": 1, "start": "9", "end": "17"})
    assert response.status_code == 302
    assert response["Location"] == url("page_settings", page) + "#hours"
    refused = client.post(url("interval_add", page), {"weekday": 1, "start": "10", "end": "11"})
    assert refused.status_code == 400


# --- Closure dates ----------------------------------------------------------------------


def test_it_adds_one_off_and_yearly_closures_and_removes_them(client, english, alice, page, clock):
    clock.set(paris(2026, 11, 20, 10, 0))
    signed_in(client, alice)
    client.post(url("closure_add", page), {"day": "2026-12-26", "label": "Inventaire"}, **HTMX)
    client.post(url("closure_add", page), {"day": "2026-08-16", "yearly": "on", "label": "Fête du village"}, **HTMX)
    rows = {(c.day, c.yearly, c.label) for c in ClosureDate.objects.filter(page=page)}
    assert rows == {(date(2026, 12, 26), False, "Inventaire"), (date(2026, 8, 16), True, "Fête du village")}

    duplicate = client.post(url("closure_add", page), {"day": "2026-12-26"}, **HTMX)
    assert "already closed on that date" in duplicate.content.decode()
    past = client.post(url("closure_add", page), {"day": "2026-01-05"}, **HTMX)
    assert "This date is past" in past.content.decode()
    assert ClosureDate.objects.filter(page=page).count() == 2

    closure = ClosureDate.objects.get(page=page, yearly=False)
    response = client.post(url("closure_remove", page, closure.pk), **HTMX)
    assert response.status_code == 200
    assert 'data-closure="2026-12-26"' not in response.content.decode()
    assert 'data-closure="yearly-08-16"' in response.content.decode()
    assert ClosureDate.objects.filter(page=page).count() == 1


def test_it_adds_frances_public_holidays_in_one_click(client, alice, page, clock):
    clock.set(paris(2026, 1, 10, 10, 0))
    signed_in(client, alice)
    response = client.post(url("holidays_add", page), {"year": 2026}, **HTMX)
    assert response.status_code == 200
    closures = ClosureDate.objects.filter(page=page)
    assert closures.count() == 11
    # Fixed dates come back every year; Easter-based ones are that year's.
    assert {c.day for c in closures.filter(yearly=False)} == {
        date(2026, 4, 6), date(2026, 5, 14), date(2026, 5, 25)}
    assert closures.filter(yearly=True, day=date(2026, 12, 25), label="Noël").exists()
    assert hours.schedule_for(page).is_available(paris(2027, 12, 25, 10, 0)) is False

    assert client.post(url("holidays_add", page), {"year": 2026}, **HTMX).status_code == 200
    assert closures.count() == 11, "a second click adds nothing"
    client.post(url("holidays_add", page), {"year": 2027}, **HTMX)
    assert closures.count() == 14, "next year only adds Easter Monday, Ascension and Whit Monday"
    assert client.post(url("holidays_add", page), {"year": 2031}, **HTMX).status_code == 200
    assert closures.count() == 14


def test_it_leaves_out_movable_holidays_already_past(client, alice, page, clock):
    clock.set(paris(2026, 11, 20, 10, 0))
    signed_in(client, alice).post(url("holidays_add", page), {"year": 2026}, **HTMX)
    closures = ClosureDate.objects.filter(page=page)
    assert closures.count() == 8 and not closures.filter(yearly=False).exists()


# --- Away messages and general settings -----------------------------------------------------


def test_it_saves_an_away_message_and_refuses_unknown_variables(client, english, alice, page):
    signed_in(client, alice)
    body = "Fermé ! Réponse {{ page.next_opening }}."
    response = client.post(url("away_message_save", page, "fr"),
                           {"away-fr-body": body, "away-fr-enabled": "on"}, **HTMX)
    assert response.status_code == 200
    saved = AwayMessage.objects.get(page=page, language="fr")
    assert (saved.body, saved.enabled) == (body, True)

    refused = client.post(url("away_message_save", page, "fr"),
                          {"away-fr-body": "Réponse {{ page.next_openning }}", "away-fr-enabled": "on"}, **HTMX)
    assert "Unknown variable: {{ page.next_openning }}" in refused.content.decode()
    saved.refresh_from_db()
    assert saved.body == body
    assert client.post(url("away_message_save", page, "de"), {}, **HTMX).status_code == 404


def test_it_previews_the_away_message_with_the_next_opening(client, alice, page, clock):
    office_hours(page)
    clock.set(paris(2026, 11, 20, 22, 0))
    response = signed_in(client, alice).get(url("page_settings", page))
    assert "nous vous répondrons lundi à 9 h." in response.content.decode()


def test_it_saves_read_receipts_human_agent_and_targets(client, alice, page):
    response = signed_in(client, alice).post(url("settings_general", page), {
        "language": "fr", "read_receipts": "never", "human_agent_enabled": "on",
        "private_target_minutes": 10, "public_target_minutes": 120, "target_share_percent": 95,
        "at_risk_seconds": 120,
    }, **HTMX)
    assert response.status_code == 200
    page.refresh_from_db()
    assert (page.read_receipts, page.human_agent_enabled, page.private_target_seconds,
            page.public_target_seconds, page.target_share_permille, page.at_risk_seconds) == (
        "never", True, 600, 7200, 950, 120)
    assert AuditLog.objects.get(page=page, action="page_settings_changed").data["after"]["read_receipts"] == "never"


def test_it_refuses_impossible_targets(client, alice, page):
    response = signed_in(client, alice).post(url("settings_general", page), {
        "language": "fr", "read_receipts": "never", "private_target_minutes": 0,
        "public_target_minutes": 60, "target_share_percent": 120, "at_risk_seconds": 60}, **HTMX)
    assert response.status_code == 200
    page.refresh_from_db()
    assert page.private_target_seconds == 300 and page.target_share_permille == 900


# --- The away switch and the inbox header ---------------------------------------------------


def test_an_agent_switches_away_from_the_inbox_header_and_back(client, english, bob, page, clock):
    office_hours(page)
    clock.set(paris(2026, 11, 24, 11, 0))  # Tuesday, open
    signed_in(client, bob)
    response = client.post(reverse("inbox:away_switch", args=[page.pk]),
                           {"action": "start", "duration": "60"}, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="hours-header"')
    assert 'data-availability="away"' in html
    assert "switched on by Bob" in html
    assert '<span id="topbar-availability" class="topbar-availability" hx-swap-oob="true">' in html
    period = AwayPeriod.objects.get(page=page)
    assert (period.created_by, period.start, period.until) == (
        bob, paris(2026, 11, 24, 11, 0), paris(2026, 11, 24, 12, 0))
    assert AuditLog.objects.get(page=page, action="away_started").actor == bob
    assert hours.schedule_for(Page.objects.get(pk=page.pk)).is_available(paris(2026, 11, 24, 11, 30)) is False

    clock.set(paris(2026, 11, 24, 11, 20))
    back = client.post(reverse("inbox:away_switch", args=[page.pk]), {"action": "end"}, **HTMX)
    assert 'data-availability="open"' in back.content.decode()
    period.refresh_from_db()
    assert period.until == paris(2026, 11, 24, 11, 20)
    assert AuditLog.objects.get(page=page, action="away_ended").actor == bob


def test_the_away_switch_takes_an_end_time_in_the_pages_time_zone(client, bob, page, clock):
    clock.set(paris(2026, 11, 24, 11, 0))
    signed_in(client, bob).post(reverse("inbox:away_switch", args=[page.pk]),
                                {"action": "start", "duration": "custom", "until": "2026-11-24T15:30"}, **HTMX)
    assert AwayPeriod.objects.get(page=page).until == paris(2026, 11, 24, 15, 30)


def test_the_away_switch_refuses_an_end_in_the_past(client, english, bob, page, clock):
    clock.set(paris(2026, 11, 24, 11, 0))
    response = signed_in(client, bob).post(
        reverse("inbox:away_switch", args=[page.pk]),
        {"action": "start", "duration": "custom", "until": "2026-11-24T10:30"}, **HTMX)
    assert "The end of an away period must be in the future." in response.content.decode()
    assert not AwayPeriod.objects.exists()


@pytest.mark.parametrize("given, lands_on", [
    ("/?status=open", "/?status=open"),
    ("0", None), (":", None), ("inbox:queue", None), ("https://evil.example/", None), ("//evil.example/", None),
    ("", None),
])
def test_the_away_switch_without_htmx_goes_back_to_a_page_of_this_site_only(client, bob, page, clock, given,
                                                                           lands_on):
    clock.set(paris(2026, 11, 24, 11, 0))
    response = signed_in(client, bob).post(reverse("inbox:away_switch", args=[page.pk]),
                                           {"action": "end", "next": given})
    assert response.status_code == 302
    assert response["Location"] == (lands_on or reverse("inbox:queue"))


def test_an_outsider_cannot_switch_a_page_away(client, charlie, page):
    response = signed_in(client, charlie).post(reverse("inbox:away_switch", args=[page.pk]),
                                               {"action": "start"}, **HTMX)
    assert response.status_code == 404
    assert not AwayPeriod.objects.exists()


def test_the_away_switch_without_htmx_goes_back_where_it_was(client, bob, page):
    response = signed_in(client, bob).post(reverse("inbox:away_switch", args=[page.pk]),
                                           {"action": "start", "next": "/?status=open"})
    assert response["Location"] == "/?status=open"
    hostile = client.post(reverse("inbox:away_switch", args=[page.pk]),
                          {"action": "end", "next": "https://evil.example/"})
    assert hostile["Location"] == reverse("inbox:queue")


def test_the_inbox_header_shows_the_opening_rush(client, deliver, bob, page, clock):
    office_hours(page)
    friday_night = paris(2026, 11, 20, 22, 0)
    clock.set(friday_night)
    for n in range(3):
        deliver(simulation.envelope(page.meta_page_id, messaging=[
            simulation.message(page.meta_page_id, f"psid-{n}", (friday_night + timedelta(minutes=n)).timestamp(),
                               "Bonjour")]))
    clock.set(paris(2026, 11, 21, 10, 0))  # Saturday
    response = signed_in(client, bob).get(reverse("inbox:hours_header"), HTTP_ACCEPT_LANGUAGE="fr", **HTMX)
    html = response.content.decode()
    assert 'data-availability="closed"' in html
    assert 'data-waiting="3"' in html
    assert "lundi à 09:00" in html, "in French, in the Page's time zone"


def test_the_inbox_header_refresh_costs_a_handful_of_queries(client, bob, page, django_assert_max_num_queries):
    office_hours(page)
    signed_in(client, bob)
    client.get(reverse("inbox:hours_header"))  # warms the schedule cache
    # Session and user, memberships, the opening rush.
    with django_assert_max_num_queries(4):
        response = client.get(reverse("inbox:hours_header"), **HTMX)
    assert response.status_code == 200


def test_the_topbar_says_open_closed_or_away(client, english, alice, page, clock):
    office_hours(page)
    signed_in(client, alice)
    clock.set(paris(2026, 11, 24, 11, 0))
    html = client.get(reverse("inbox:queue")).content.decode()
    assert 'class="avail-pill avail-open"' in html and "· until 18:00</span>" in html
    clock.set(paris(2026, 11, 24, 19, 0))
    html = client.get(reverse("inbox:queue")).content.decode()
    assert 'class="avail-pill avail-closed"' in html and "opens tomorrow 09:00" in html
    hours.start_away(page=page, actor=alice, until=paris(2026, 11, 24, 21, 0), now=paris(2026, 11, 24, 19, 0))
    html = client.get(reverse("inbox:queue")).content.decode()
    assert 'class="avail-pill avail-away"' in html and "back tomorrow 09:00" in html
    hours.end_away(page=page, actor=alice, now=paris(2026, 11, 24, 19, 0))
    hours.start_away(page=page, actor=alice, now=paris(2026, 11, 24, 19, 0))
    html = client.get(reverse("inbox:queue")).content.decode()
    assert 'class="avail-pill avail-away"' in html and "back " not in html, "no end: no time to promise"

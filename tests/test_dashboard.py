"""The responsiveness dashboard, its CSV export and the live SLA banner."""

from __future__ import annotations

import csv
import io
import os
import re
from datetime import timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from inbox import charts, dashboard, fragments
from inbox.models import AuditLog, Conversation, ConversationStatus

from . import ro_helpers as meta
from .dashboard_data import open_monday_to_saturday, seed_history

pytestmark = pytest.mark.django_db


def url(page, **params):
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return f"/dashboard/{page.pk}/" + (f"?{query}" if query else "")


def answer(page, deliver, psid, opened, seconds):
    pid = page.meta_page_id
    deliver(meta.messaging(pid, meta.customer(pid, psid, opened)))
    if seconds is not None:
        deliver(meta.messaging(pid, meta.echo(pid, psid, opened + timedelta(seconds=seconds))))


@pytest.fixture
def nine_of_ten(page, deliver):
    """9 answered in 1 min, 1 in 10 min, over the last 2 days."""
    now = timezone.now()
    for n in range(10):
        answer(page, deliver, f"p{n}", now - timedelta(hours=3 + n), 600 if n == 0 else 60)
    return page


# --- Access ---------------------------------------------------------------------


def test_it_asks_to_sign_in(client, page):
    for path in ("/dashboard/", url(page), f"/dashboard/{page.pk}/export.csv"):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_it_is_a_404_for_an_outsider(client, page, charlie):
    client.force_login(charlie)

    assert client.get(url(page)).status_code == 404
    assert client.get(url(page), HTTP_HX_REQUEST="true").status_code == 404
    assert client.get(f"/dashboard/{page.pk}/export.csv").status_code == 404
    assert not AuditLog.objects.filter(action="export").exists()


def test_it_never_takes_an_outsider_to_a_page_through_the_selector(client, page, other_page, charlie):
    client.force_login(charlie)

    response = client.get("/dashboard/", {"page": page.pk})

    assert response["Location"] == url(other_page)


def test_it_opens_the_chosen_page_or_the_last_one_seen(client, page, other_page, alice):
    from inbox.models import Membership

    Membership.objects.create(user=alice, page=other_page, role="agent")
    client.force_login(alice)
    # Pages in name order: "Boulangerie Dupain" then "Garage Martin".
    assert client.get("/dashboard/")["Location"] == url(page)
    assert client.get("/dashboard/", {"page": other_page.pk, "kind": "public", "days": "30"})["Location"] == (
        url(other_page, kind="public", days=30))
    client.get(url(other_page))
    assert client.get("/dashboard/")["Location"] == url(other_page)


def test_it_says_so_when_the_user_has_no_page(client, db):
    from django.contrib.auth import get_user_model

    nobody = get_user_model().objects.create_user("dora", password="dora-password-2026")
    client.force_login(nobody)

    response = client.get("/dashboard/", HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    assert b"not a member of any Page" in response.content


# --- What it shows ----------------------------------------------------------------


def test_it_shows_the_share_against_90_percent_with_the_miss_budget(client, alice, nine_of_ten):
    client.force_login(alice)

    response = client.get(url(nine_of_ten), HTTP_ACCEPT_LANGUAGE="en")

    html = response.content.decode()
    assert response.status_code == 200
    assert response.context["figures"].share_on_time == Fraction(9, 10)
    assert response.context["standing"] == "at_risk"  # met, but the next miss loses it
    assert 'class="hero-share">90%</p>' in html
    assert "The next miss takes you below 90%." in html
    assert "9 of 10 on time" in html
    assert "Target at risk" in html


def test_it_counts_down_the_misses_that_keep_the_target(client, alice, page, deliver):
    now = timezone.now()
    for n in range(20):
        answer(page, deliver, f"p{n}", now - timedelta(hours=2 + n), 60)
    client.force_login(alice)

    html = client.get(url(page), HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "2 more misses in this window still keep you at 90% or above." in html
    assert "Target kept" in html


def test_it_says_what_it_takes_to_recover_and_when_misses_leave(client, alice, page, deliver):
    now = timezone.now()
    oldest = (now - timedelta(days=6, hours=1)).replace(microsecond=0)  # Meta's are milliseconds
    answer(page, deliver, "late1", oldest, 900)
    answer(page, deliver, "late2", now - timedelta(days=3), 900)
    for n in range(6):
        answer(page, deliver, f"p{n}", now - timedelta(hours=2 + n), 60)
    client.force_login(alice)

    response = client.get(url(page), HTTP_ACCEPT_LANGUAGE="en")
    html = response.content.decode()

    # 6 of 8: ⌈(0.9 x 8 - 6) / 0.1⌉ = 12.
    assert "Answer the next 12 on time in a row to be back at 90%." in html
    assert "Target lost" in html
    [first, second] = response.context["departures"]
    assert first.leaves_at == oldest + timedelta(days=7)
    assert second.opened_at > first.opened_at
    paris = ZoneInfo("Europe/Paris")
    assert f'<time datetime="{first.leaves_at.astimezone(paris).isoformat()}">' in html


def test_it_lists_misses_with_links_to_their_conversations(client, alice, page, deliver):
    now = timezone.now()
    answer(page, deliver, "late", now - timedelta(hours=5), 1000)
    answer(page, deliver, "waiting", now - timedelta(hours=2), None)
    answer(page, deliver, "fine", now - timedelta(hours=1), 30)
    client.force_login(alice)

    response = client.get(url(page), HTTP_ACCEPT_LANGUAGE="en")

    misses = response.context["misses"]
    contacts = [Conversation.objects.get(pk=miss.conversation_id).contact.external_id for miss in misses]
    assert contacts == ["waiting", "late"]
    html = response.content.decode()
    for miss in misses:
        assert f'href="/c/{miss.conversation_id}/"' in html
    assert "still waiting" in html and "16 min 40 s" in html


def test_the_latest_misses_are_one_statement_with_the_names_their_lines_show(
    page, alice, bob, deliver, django_assert_num_queries
):
    from django.utils import translation

    from inbox.models import Contact, ResponseOpportunity

    now = timezone.now()
    for psid, hours_ago in (("by-alice", 5), ("by-bob", 4), ("outside", 3), ("nameless", 2), ("no-contact", 1)):
        answer(page, deliver, psid, now - timedelta(hours=hours_ago), 1000)
    ros = {ro.conversation.contact.external_id: ro for ro in ResponseOpportunity.objects.select_related(
        "conversation__contact")}
    ResponseOpportunity.objects.filter(pk=ros["by-alice"].pk).update(responder=alice)
    bob.first_name = ""
    bob.save()
    ResponseOpportunity.objects.filter(pk=ros["by-bob"].pk).update(responder=bob)
    Contact.objects.filter(external_id="nameless").update(name="", first_name="", last_name="")
    Conversation.objects.filter(pk=ros["no-contact"].conversation_id).update(contact=None)
    Contact.objects.filter(external_id="by-alice").update(name="", first_name="Jeanne", last_name="Roux")
    Contact.objects.filter(external_id="by-bob").update(name="Paul Dumas", first_name="Paul")
    Contact.objects.filter(external_id="outside").update(name="", first_name="", last_name="Lefèvre")
    win = dashboard.window(page=page, kind="private", days=7, now=now)

    with translation.override("fr"), django_assert_num_queries(1):
        misses = dashboard.recent_misses(win)

    assert [(miss.customer, miss.answered_by) for miss in misses] == [
        ("", ""), ("Utilisateur Facebook", ""), ("Lefèvre", ""), ("Paul Dumas", "bob"), ("Jeanne Roux", "Alice"),
    ]
    by_conversation = {miss.conversation_id: miss for miss in misses}
    for ro in ros.values():
        miss = by_conversation[ro.conversation_id]
        assert (miss.opened_at, miss.clock_start, miss.closed_at, miss.response_seconds) == (
            ro.opened_at, ro.clock_start, ro.closed_at, ro.response_seconds)


def test_a_miss_line_follows_its_content_language_and_time_zone(client, alice, page, deliver):
    from zoneinfo import ZoneInfo

    pid = page.meta_page_id
    opened = timezone.now() - timedelta(hours=2)
    answer(page, deliver, "waiting", opened, None)
    client.force_login(alice)

    def line(language):
        html = client.get(url(page), HTTP_ACCEPT_LANGUAGE=language).content.decode()
        body = html[html.index('<table class="misses">'):]
        return body[body.index("<tbody>"):body.index("</tbody>")]

    fragments.cache_clear()
    for _ in range(2):  # rendered, then from the cache
        assert "still waiting" in line("en") and "attend toujours" in line("fr")
    assert fragments.cache_info().hits
    assert f"{opened.astimezone(ZoneInfo('Europe/Paris')):%H:%M}" in line("en")
    # Answered from Meta's inbox: the same miss, another line.
    deliver(meta.messaging(pid, meta.echo(pid, "waiting", opened + timedelta(seconds=1000))))
    answered = line("en")
    assert "still waiting" not in answered and "outside Réactif" in answered and "16 min 40 s" in answered
    assert "hors de Réactif" in line("fr")
    # Times read in the Page's zone, whatever was cached for another.
    page.timezone = "America/New_York"
    page.save(update_fields=["timezone"])
    assert f"{opened.astimezone(ZoneInfo('America/New_York')):%H:%M}" in line("en")


def test_it_shows_metas_figures_and_both_clocks(client, alice, nine_of_ten):
    client.force_login(alice)

    response = client.get(url(nine_of_ten), HTTP_ACCEPT_LANGUAGE="en")
    html = response.content.decode()

    figures = response.context["figures"]
    assert (figures.meta_response_rate, figures.meta_response_time_seconds, figures.meta_badge) == (1, 60, True)
    assert "Very responsive" in html
    assert "In opening hours" in html and "In calendar time" in html
    assert "Mean of the fastest 90%" in html


def test_it_breaks_figures_down_by_agent_with_their_unedited_saved_replies(client, alice, bob, page, deliver):
    from inbox.models import Message, SendStatus
    from inbox.services import ingestion, sending

    now = timezone.now()
    pid = page.meta_page_id
    for n, (agent, seconds, unedited) in enumerate([(alice, 60, True), (alice, 500, False), (bob, 90, True)]):
        opened = now - timedelta(hours=n + 1)
        deliver(meta.messaging(pid, meta.customer(pid, f"p{n}", opened)))
        conversation = Conversation.objects.get(contact__external_id=f"p{n}")
        reply = sending.send_reply(conversation=conversation, author=agent, text="Bonjour", now=opened)
        Message.objects.filter(pk=reply.pk).update(is_unedited_saved_reply=unedited)
        deliver(meta.messaging(pid, meta.echo(pid, f"p{n}", opened + timedelta(seconds=seconds),
                                              metadata=ingestion.metadata_for(reply), app_id="424242")))
    assert Message.objects.filter(send_status=SendStatus.SENT).count() == 3
    client.force_login(bob)

    response = client.get(url(page), HTTP_ACCEPT_LANGUAGE="en")

    rows = {row.user.username: row for row in response.context["agents"]}
    assert (rows["alice"].answered, rows["alice"].on_time, rows["alice"].median_seconds) == (2, 1, 60)
    assert (rows["alice"].replies, rows["alice"].unedited) == (2, 1)
    assert (rows["bob"].answered, rows["bob"].p90_seconds, rows["bob"].unedited_share) == (1, 90, 1)
    html = response.content.decode()
    assert re.search(r"<th scope=\"row\">Alice</th>\s*<td class=\"num\">2</td>\s*<td class=\"num\">50%</td>", html)


def test_it_switches_kind_and_window_with_htmx(client, alice, page, deliver):
    pid = page.meta_page_id
    opened = timezone.now() - timedelta(days=10)
    deliver(meta.comment(pid, opened, from_id="c1", comment_id=f"{pid}_1_5"))
    deliver(meta.comment(pid, opened + timedelta(minutes=20), from_id=pid, parent_id=f"{pid}_1_5"))
    client.force_login(alice)

    response = client.get(url(page, kind="public", days=30), HTTP_HX_REQUEST="true", HTTP_ACCEPT_LANGUAGE="en")

    html = response.content.decode()
    assert "<html" not in html and html.lstrip().startswith('<div class="dash" id="dashboard">')
    assert response.context["figures"].opportunities == 1
    assert 'aria-current="page">Public comments' in html
    assert 'aria-current="page">30 days' in html
    assert "within 1 h, last 30 days" in html


def test_it_falls_back_to_defaults_on_odd_parameters(client, alice, page):
    client.force_login(alice)

    response = client.get(url(page, kind="email", days="9999"))

    assert response.status_code == 200
    assert (response.context["kind"], response.context["days"]) == ("private", 7)


def test_it_draws_real_charts_without_style_attributes(client, alice, page):
    now = timezone.now()
    seed_history(page, [alice], now=now, days=28, per_day=10)
    client.force_login(alice)

    response = client.get(url(page), HTTP_ACCEPT_LANGUAGE="fr")
    html = response.content.decode()

    assert html.count('<svg class="chart') == 3  # gauge, trend, heatmap
    assert 'class="chart trend"' in html and 'class="chart heatmap"' in html
    assert " style=" not in html  # CSP: style-src 'self', no inline styles
    assert html.count('class="heat ') == 7 * 24
    assert "lundi" in html and "dimanche" in html  # the heatmap's rows, in French
    assert len(response.context["history"].trend) == 28


def test_it_keeps_its_queries_bounded_whatever_the_history(client, alice, page, django_assert_max_num_queries):
    now = timezone.now()
    seed_history(page, [alice], now=now, days=40, per_day=30)
    client.force_login(alice)
    client.get(url(page))  # warm the session

    # The user, their memberships with their Pages (the access check, the
    # Page picker, the nav, the banner), one read of rollups and one of ROs
    # for the window and its four weeks, the replies of the days read raw,
    # the agents, the misses and their oldest (unless the days read raw hold
    # them), the banner (two), and when Meta's "fastest 90 %" cut falls inside
    # a second's bucket, that bucket's times (in opening hours and in calendar
    # time: two at most). No session write.
    with django_assert_max_num_queries(12):
        response = client.get(url(page, days=30))

    assert response.status_code == 200


def test_it_remembers_the_last_page_per_session_without_writing_the_session(
    client, alice, page, other_page, settings, django_assert_max_num_queries
):
    from django.test import Client

    from inbox.models import Membership

    Membership.objects.create(user=alice, page=other_page, role="agent")
    first, second = sorted([page, other_page], key=lambda p: p.name)
    client.force_login(alice)
    client.get(url(first))

    # Going from Page to Page writes no session (a database write with cached_db).
    with django_assert_max_num_queries(12) as queries:
        response = client.get(url(second))
    assert not any("django_session" in query["sql"] for query in queries.captured_queries)
    assert settings.SESSION_COOKIE_NAME not in response.cookies  # the session was not saved

    assert client.get("/dashboard/")["Location"] == url(second)
    client.get(url(first))
    assert client.get("/dashboard/")["Location"] == url(first)
    client.get(url(second))
    assert client.get("/dashboard/")["Location"] == url(second)
    # Per session: another sign-in of the same user starts at the first Page.
    elsewhere = Client()
    elsewhere.force_login(alice)
    assert elsewhere.get("/dashboard/")["Location"] == url(first)
    # A Page asked for wins over the one remembered.
    assert client.get(f"/dashboard/?page={first.pk}")["Location"] == url(first)


def test_a_remembered_page_the_user_has_left_is_not_used(client, alice, page, other_page):
    from inbox.models import Membership

    membership = Membership.objects.create(user=alice, page=other_page, role="agent")
    client.force_login(alice)
    client.get(url(other_page))
    membership.delete()

    assert client.get("/dashboard/")["Location"] == url(page)


@pytest.mark.parametrize("kind", ["private", "public"])
def test_the_window_and_its_four_weeks_read_together_as_each_reads_alone(page, alice, bob, kind):
    from inbox.models import DailyRollup
    from inbox.services.rollups import local_day

    now = timezone.now()
    seed_history(page, [alice, bob], now=now, days=35, per_day=14)
    today = local_day(page.timezone, now)
    # A stale day inside the window and one only in the four weeks: read raw.
    DailyRollup.objects.filter(page=page, day__in=[today - timedelta(days=3), today - timedelta(days=20)]).update(
        stale=True)

    def read_apart():
        return {days: (dashboard.window(page=page, kind=kind, days=days, now=now),
                       dashboard.history(page=page, kind=kind, now=now)) for days in (1, 7, 30)}

    def same(a, b):
        (win_a, history_a), (win_b, history_b) = a, b
        assert (win_a.figures, win_a.calendar) == (win_b.figures, win_b.calendar)
        assert win_a.tally.hours.responders == win_b.tally.hours.responders
        assert win_a.replies == win_b.replies
        assert history_a.trend == history_b.trend and history_a.heatmap == history_b.heatmap

    apart = read_apart()
    for days in (1, 7, 30):
        same(dashboard.window_and_history(page=page, kind=kind, days=days, now=now), apart[days])
    # The replies of the days read raw are counted per author by the database.
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert dashboard.window(page=page, kind=kind, days=7, now=now).replies == apart[7][0].replies
    [counting] = [q["sql"] for q in queries.captured_queries if '"inbox_message"' in q["sql"]]
    assert "GROUP BY" in counting and "COUNT(" in counting
    assert apart[7][0].figures.opportunities and apart[30][0].replies and any(p.opportunities for p in apart[7][1].trend)
    # And the rollups say what the ROs say.
    DailyRollup.objects.all().delete()
    raw = read_apart()
    for days in (1, 7, 30):
        same(raw[days], apart[days])


def test_the_trend_only_days_are_read_as_their_hours_alone(page, alice):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from inbox import tallies
    from inbox.models import DailyRollup

    now = timezone.now()
    seed_history(page, [alice], now=now, days=35, per_day=10)
    dashboard._parsed_rollup.cache_clear()
    spans = [dashboard._window_span(7, now), dashboard._history_span(page, now, 28)]

    with CaptureQueriesContext(connection) as queries:
        window_days, history_days = dashboard.read_days(page=page, kind="private", spans=spans, now=now)

    # One statement: the window's days whole, the others' `tally->'hours'` alone.
    (rollups,) = [query["sql"] for query in queries.captured_queries if "inbox_dailyrollup" in query["sql"]]
    assert "CASE WHEN" in rollups and "->" in rollups
    stored = {row.day: row for row in DailyRollup.objects.filter(page=page, kind="private")}
    trend_only = [day for day, tally in history_days.items() if tally.piece is None and day not in window_days]
    assert len(trend_only) >= 20
    for day in trend_only:
        tally = history_days[day]
        assert tally.hours == tallies.Tally.from_json(stored[day].tally["hours"], trend_only=True)
        assert (tally.calendar, tally.replies) == (tallies.Tally(), {})
    whole = [day for day, tally in window_days.items() if tally.piece is None]
    assert len(whole) >= 5
    for day in whole:
        assert history_days[day] is window_days[day]  # parsed once, whole
        assert window_days[day] == dashboard.DayTally.from_rollup(stored[day].tally, stored[day].replies)
        assert window_days[day].calendar.opportunities and window_days[day].replies


def test_a_rollup_day_is_parsed_once_per_content_and_never_read_stale(page, alice):
    from inbox.models import DailyRollup
    from inbox.services.rollups import local_day

    now = timezone.now()
    seed_history(page, [alice], now=now, days=28, per_day=10)
    dashboard._parsed_rollup.cache_clear()
    dashboard._rolled_up_sum.cache_clear()
    first, first_history = dashboard.window_and_history(page=page, kind="private", days=7, now=now)
    parsed = dashboard._parsed_rollup.cache_info()
    again, again_history = dashboard.window_and_history(page=page, kind="private", days=7, now=now)

    # The second read parses nothing: every day it reads is a hit, and the
    # whole days of the window and of the four weeks are added up once.
    assert parsed.misses >= 20 and dashboard._parsed_rollup.cache_info().misses == parsed.misses
    assert dashboard._rolled_up_sum.cache_info().hits == 2
    # Today's ROs (read raw) are added to a copy: the shared sums stay as they were.
    assert first.tally.hours.pending and again.figures == first.figures
    assert (again.tally.hours, again.tally.calendar) == (first.tally.hours, first.tally.calendar)
    assert again_history.heatmap == first_history.heatmap and again_history.trend == first_history.trend
    # A day computed again (here by hand, with the same computed_at) is
    # another text, so another key: the figures follow at once.
    row = DailyRollup.objects.get(page=page, kind="private", day=local_day(page.timezone, now) - timedelta(days=3))
    row.tally["hours"]["on_time"] = row.tally["hours"].get("on_time", 0) + 1000
    row.save()
    changed, _ = dashboard.window_and_history(page=page, kind="private", days=7, now=now)
    assert changed.figures.on_time == first.figures.on_time + 1000


def test_the_charts_speak_the_language_of_each_request(client, alice, page):
    from django.utils import translation

    now = timezone.now()
    seed_history(page, [alice], now=now, days=28, per_day=10)
    _, history = dashboard.window_and_history(page=page, kind="private", days=7, now=now)
    with translation.override("fr"):
        french = str(charts.heatmap(history.heatmap))
    with translation.override("en"):
        english = str(charts.heatmap(history.heatmap))
    with translation.override("fr"):
        assert str(charts.heatmap(history.heatmap)) == french

    assert "lundi" in french and "Monday" not in french and "à traiter" in french
    assert "Monday" in english and "lundi" not in english and "to answer" in english
    assert english.count("<title>") == 7 * 24 and english.count('class="heat ') == 7 * 24

    # The trend's days and bars too: each language's words, each time.
    def trend(language):
        with translation.override(language):
            rows = charts.trend_rows(history.trend)
            return rows, str(charts.trend(rows, Fraction(9, 10)))

    (fr_rows, fr_svg), (en_rows, en_svg), (fr_again, _) = trend("fr"), trend("en"), trend("fr")
    monday = next(n for n, point in enumerate(history.trend) if point.day.weekday() == 0)
    assert fr_rows[monday].day.startswith("lun") and en_rows[monday].day.startswith("Mon")
    assert fr_again == fr_rows and "dans les temps" in fr_svg
    assert "on time" in en_svg and "on time" not in fr_svg and en_svg.count("<title>") == 28


# --- CSV export ---------------------------------------------------------------------


def test_it_exports_the_windows_opportunities_as_csv(client, bob, page, deliver):
    now = timezone.now()
    answer(page, deliver, "p1", now - timedelta(hours=3), 60)
    answer(page, deliver, "p2", now - timedelta(hours=2), 900)
    answer(page, deliver, "p3", now - timedelta(days=9), 60)  # outside 7 days
    from inbox.models import Contact

    Contact.objects.filter(external_id="p2").update(name="=HYPERLINK(\"http://evil\")")
    client.force_login(bob)

    response = client.get(f"/dashboard/{page.pk}/export.csv", {"days": 7}, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:4] == ["Customer wrote at", "Clock started at", "Answered at", "Response time (s)"]
    assert [row[3] for row in rows[1:]] == ["60", "900"]
    assert [row[5] for row in rows[1:]] == ["on time", "missed"]
    assert rows[2][7].startswith("'=")  # never a formula
    first = Conversation.objects.get(contact__external_id="p1")
    assert rows[1][9] == f"http://testserver/c/{first.pk}/"
    log = AuditLog.objects.get(action="export")
    assert (log.actor, log.page, log.data["days"]) == (bob, page, 7)


def test_it_separates_csv_cells_with_semicolons_in_french(client, alice, page, deliver):
    answer(page, deliver, "p1", timezone.now() - timedelta(hours=3), 60)
    client.force_login(alice)

    response = client.get(f"/dashboard/{page.pk}/export.csv", HTTP_ACCEPT_LANGUAGE="fr")

    header = b"".join(response.streaming_content).decode("utf-8-sig").splitlines()[0]
    assert header.count(";") == 9


# --- The live SLA banner ---------------------------------------------------------------


def _waiting(page, deliver, psid, age_seconds):
    pid = page.meta_page_id
    deliver(meta.messaging(pid, meta.customer(pid, psid, timezone.now() - timedelta(seconds=age_seconds))))
    Conversation.objects.filter(contact__external_id=psid).update(status=ConversationStatus.OPEN)


def test_the_banner_counts_customers_late_and_about_to_be(client, alice, page, other_page, deliver):
    _waiting(page, deliver, "late", 400)
    _waiting(page, deliver, "soon", 270)
    _waiting(page, deliver, "fine", 10)
    _waiting(other_page, deliver, "not-mine", 400)
    client.force_login(alice)

    response = client.get("/dashboard/sla-banner", HTTP_HX_REQUEST="true", HTTP_ACCEPT_LANGUAGE="en")

    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-sla-missed="1"' in html and 'data-sla-at-risk="1"' in html
    assert "1 customer waiting past the deadline" in html
    late = Conversation.objects.get(contact__external_id="late")
    assert f'href="/c/{late.pk}/"' in html
    assert re.search(r"late by 1 min \d\d s", html)


def test_the_banner_answers_204_while_nothing_changed(client, alice, page, deliver):
    _waiting(page, deliver, "late", 400)
    client.force_login(alice)
    fingerprint = dashboard.sla_status(user=alice).fingerprint

    unchanged = client.get("/dashboard/sla-banner", {"fp": fingerprint}, HTTP_HX_REQUEST="true")
    _waiting(page, deliver, "later", 500)
    changed = client.get("/dashboard/sla-banner", {"fp": fingerprint}, HTTP_HX_REQUEST="true")

    assert unchanged.status_code == 204
    assert changed.status_code == 200
    assert 'data-sla-missed="2"' in changed.content.decode()


def test_the_banner_sends_a_signed_out_poll_to_the_login_page(client, page):
    response = client.get("/dashboard/sla-banner", HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL="http://testserver/")

    assert response.status_code == 200
    assert response["HX-Redirect"].startswith("/accounts/login/")


def test_the_banner_sits_at_the_top_of_the_inbox_queue_and_loads_itself(client, alice, page, deliver):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _waiting(page, deliver, "late", 400)
    client.force_login(alice)

    with CaptureQueriesContext(connection) as queue_queries:
        html = client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    # The queue keeps its one query on the conversations; the banner asks for itself.
    assert re.search(r'<div id="sla-banner"[^>]*hx-get="/dashboard/sla-banner" hx-trigger="load, every 4s', html)
    assert not [q for q in queue_queries.captured_queries if "COUNT(" in q["sql"]]
    banner = client.get("/dashboard/sla-banner", HTTP_HX_REQUEST="true", HTTP_ACCEPT_LANGUAGE="en")
    assert "1 customer waiting past the deadline" in banner.content.decode()


def test_the_dashboard_shows_the_banner_at_once(client, alice, page, deliver):
    _waiting(page, deliver, "late", 400)
    client.force_login(alice)

    html = client.get(url(page), HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "1 customer waiting past the deadline" in html


def test_the_banner_names_the_most_urgent_customer_and_page_in_two_statements(
    alice, page, deliver, django_assert_num_queries
):
    from inbox.models import Contact

    _waiting(page, deliver, "late", 400)
    _waiting(page, deliver, "later", 500)
    Contact.objects.filter(external_id="later").update(name="", first_name="Anne", last_name="Morel")
    later = Conversation.objects.get(contact__external_id="later")

    with django_assert_num_queries(2) as queries:  # the counts, then the most urgent
        sla = dashboard.sla_status(user=alice, pages=[page])
    # The most urgent found by its deadline (on the index), not by sorting them all.
    assert "ORDER BY" not in queries.captured_queries[0]["sql"]
    assert '"inbox_conversation"."due_at" = ' in queries.captured_queries[1]["sql"]

    assert (sla.missed, sla.at_risk) == (2, 0)
    assert sla.most_urgent == (later.pk, later.due_at, "Anne Morel", "Boulangerie Dupain")
    Conversation.objects.filter(pk=later.pk).update(contact=None)
    assert dashboard.sla_status(user=alice, pages=[page]).most_urgent.customer == ""


def test_the_banner_names_the_next_customer_when_the_most_urgent_is_answered_meanwhile(alice, page, deliver):
    from django.db import connection

    _waiting(page, deliver, "first", 500)
    _waiting(page, deliver, "second", 450)
    _waiting(page, deliver, "third", 400)
    first = Conversation.objects.get(contact__external_id="first")
    statements = []

    def answered_after_the_counts(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        statements.append(sql)
        if len(statements) == 1:  # another request answers the most urgent one
            Conversation.objects.filter(pk=first.pk).update(status=ConversationStatus.DONE)
        return result

    with connection.execute_wrapper(answered_after_the_counts):
        sla = dashboard.sla_status(user=alice, pages=[page])

    assert (sla.missed, sla.at_risk) == (3, 0)  # counted before the answer
    assert sla.most_urgent.pk == Conversation.objects.get(contact__external_id="second").pk


def test_the_banner_judges_each_page_by_its_own_warning_time(alice, page, other_page, deliver):
    from inbox.models import Membership

    Membership.objects.create(user=alice, page=other_page, role="agent")
    other_page.at_risk_seconds = 600
    other_page.save(update_fields=["at_risk_seconds"])
    _waiting(page, deliver, "soon", 270)  # 30 s left: at risk on both
    _waiting(page, deliver, "mid", 100)  # 200 s left: not yet with 60 s
    _waiting(other_page, deliver, "mid-other", 100)  # 200 s left: at risk with 600 s
    _waiting(other_page, deliver, "late-other", 400)

    read_here = dashboard.sla_status(user=alice)
    given = dashboard.sla_status(user=alice, pages=[page, other_page])

    for sla in (read_here, given):
        assert (sla.missed, sla.at_risk) == (1, 2)
        assert Conversation.objects.get(pk=sla.most_urgent.pk).contact.external_id == "late-other"
        assert sla.most_urgent.page_name == other_page.name
    assert dashboard.sla_status(user=alice, pages=[page]).at_risk == 1


def test_the_dashboard_reads_the_users_pages_once(client, alice, page, other_page, deliver):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from inbox.models import Membership

    Membership.objects.create(user=alice, page=other_page, role="agent")
    _waiting(other_page, deliver, "late-other", 400)
    client.force_login(alice)
    client.get(url(page))

    with CaptureQueriesContext(connection) as queries:
        html = client.get(url(page), HTTP_ACCEPT_LANGUAGE="en").content.decode()

    # The layout's memberships serve the access check, the Page selector, the
    # banner and the topbar: no other statement reads the Pages or memberships.
    reading_pages = [q["sql"] for q in queries.captured_queries
                     if 'FROM "inbox_page"' in q["sql"] or re.search(rf'"user_id" = {alice.pk}\b', q["sql"])]
    assert len(reading_pages) == 1, reading_pages
    assert "1 customer waiting past the deadline" in html
    assert html.count('<option value="') == 2 + 2  # the two Pages, and the two languages
    assert client.get(url(other_page)).status_code == 200


def test_the_nav_links_to_the_dashboard(client, alice):
    client.force_login(alice)

    html = client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert '<a href="/dashboard/"' in html


# --- Formatting ---------------------------------------------------------------------------


def test_percentages_round_down_so_89_99_never_shows_as_90():
    from fractions import Fraction

    from django.utils import translation

    with translation.override("en"):
        assert charts.percent(Fraction(8999, 10000)) == "89.9%"
        assert charts.percent(Fraction(9, 10), 0) == "90%"
        assert charts.percent(None) == "\N{EN DASH}"


def test_durations_read_with_two_units():
    from django.utils import translation

    with translation.override("en"):
        assert [charts.duration(s) for s in (42, 250, 300, 3600, 3900, 2 * 86400 + 7200, 86400)] == [
            "42 s", "4 min 10 s", "5 min", "1 h", "1 h 05 min", "2 d 2 h", "1 d"]


# --- In the browser -------------------------------------------------------------------------

SCREENSHOTS = os.environ.get("REACTIF_SCREENSHOTS", "")


def _open_now(page):
    """Mon-Sat 08:00-19:00, plus today until midnight so that "now" is open
    (the screenshots show customers waiting right now)."""
    from inbox.models import OpeningInterval
    from inbox.services import hours

    open_monday_to_saturday(page)
    local = timezone.now().astimezone(ZoneInfo(page.timezone))
    if local.weekday() == 6 or not 8 <= local.hour < 19:
        OpeningInterval.objects.filter(page=page, weekday=local.weekday()).delete()
        OpeningInterval.objects.create(page=page, weekday=local.weekday(), start_minute=0, end_minute=1440)
        hours.hours_changed(page)


@pytest.mark.browser
@pytest.mark.parametrize("language", ["fr", "en"])
def test_it_reads_well_in_french_and_english_on_a_desk_and_a_phone(chromium, live_server, page, alice, bob,
                                                                    tmp_path, language):
    from django.contrib.auth import get_user_model

    from .conftest import sign_in

    chloe = get_user_model().objects.create_user("chloe", password="chloe-password-2026", first_name="Chloé")
    from inbox.models import Membership

    Membership.objects.create(user=chloe, page=page, role="agent")
    _open_now(page)
    seed_history(page, [alice, bob, chloe], now=timezone.now(), days=30, per_day=26)
    context = chromium.new_context(base_url=live_server.url, locale=f"{language}-FR" if language == "fr" else "en-GB",
                                   timezone_id="Europe/Paris", viewport={"width": 1440, "height": 900})
    context.add_cookies([{"name": "django_language", "value": language, "url": live_server.url}])
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    sign_in(tab, "alice")
    tab.goto("/dashboard/")
    tab.wait_for_selector(".hero-share")
    out = SCREENSHOTS or str(tmp_path)
    os.makedirs(out, exist_ok=True)
    tab.screenshot(path=f"{out}/dashboard-{language}.png", full_page=True)
    assert tab.locator("svg.chart.trend rect.bar").count() >= 25
    assert tab.locator("svg.chart.heatmap rect.heat").count() == 168
    assert tab.locator("table.agents tbody tr").count() == 3
    # Switching to public comments swaps the body in place.
    tab.click(".dash-tabs a[href*='kind=public']")
    tab.wait_for_url("**kind=public**")
    assert "kind=public" in tab.locator("nav.dash-tabs").first.locator("a[aria-current='page']").get_attribute("href")
    tab.set_viewport_size({"width": 390, "height": 844})
    tab.goto("/dashboard/")
    tab.wait_for_selector(".hero-share")
    tab.screenshot(path=f"{out}/dashboard-{language}-phone.png", full_page=True)
    tab.screenshot(path=f"{out}/dashboard-{language}-phone-top.png")
    scroll_width = tab.evaluate("document.documentElement.scrollWidth")
    too_wide = tab.evaluate("""[...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > 391 && e.parentElement.getBoundingClientRect().right <= 391)
        .slice(0, 8).map(e => e.tagName + '.' + e.getAttribute('class') + ' ' + Math.round(e.getBoundingClientRect().right))
        .concat([document.body.scrollWidth, document.querySelector('main').scrollWidth,
                 document.querySelector('#dashboard').scrollWidth, document.querySelector('header.topbar').scrollWidth])""")
    context.close()
    assert scroll_width <= 390, f"the page scrolls sideways on a phone: {too_wide}"
    assert errors == []


@pytest.mark.browser
def test_the_banner_shows_a_deadline_within_5_seconds_of_it_passing(tab, live_server, page, alice):
    from inbox.models import Message
    from inbox.services import ingestion

    from .conftest import sign_in

    contact_payload = meta.messaging(page.meta_page_id, meta.customer(
        page.meta_page_id, "p-soon", timezone.now() - timedelta(seconds=296)))
    from inbox import simulation

    delivery, _ = ingestion.store_delivery(body=simulation.encode(contact_payload))
    ingestion.process_delivery(delivery_id=delivery.pk)
    due = Conversation.objects.get().due_at
    assert Message.objects.count() == 1
    sign_in(tab, "alice")
    tab.goto("/")
    tab.wait_for_selector("#sla-banner[data-sla-missed='0']")

    tab.wait_for_selector("#sla-banner[data-sla-missed='1']", timeout=15000)

    shown = timezone.now()
    assert shown - due <= timedelta(seconds=5), f"shown {shown - due} after the deadline"


@pytest.mark.browser
@pytest.mark.parametrize("where", ["queue", "dashboard"])
def test_the_banner_looks_and_works_the_same_on_the_queue_and_the_dashboard(tab, live_server, page, alice, where):
    from inbox import simulation
    from inbox.services import ingestion

    from .conftest import sign_in

    payload = meta.messaging(page.meta_page_id, meta.customer(
        page.meta_page_id, "p-late", timezone.now() - timedelta(minutes=10)))
    delivery, _ = ingestion.store_delivery(body=simulation.encode(payload))
    ingestion.process_delivery(delivery_id=delivery.pk)
    path = "/" if where == "queue" else f"/dashboard/{page.pk}/"
    sign_in(tab, "alice")
    tab.goto(path)
    banner = tab.wait_for_selector("#sla-banner[data-sla-missed='1']")
    # Styled as a late deadline: the red box and its dot (--danger-bg, --danger).
    assert banner.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(253, 232, 232)"
    assert banner.evaluate("e => getComputedStyle(e.querySelector('.sla-dot')).backgroundColor") == "rgb(185, 28, 28)"
    # "Notify me" is offered only while the browser has not been asked yet…
    asked = tab.evaluate("Notification.permission") != "default"
    assert tab.locator("[data-sla-notify]").is_visible() is not asked
    # …and is gone once notifications are allowed.
    tab.context.grant_permissions(["notifications"])
    tab.goto(path)
    tab.wait_for_selector("#sla-banner[data-sla-missed='1']")
    tab.wait_for_function("document.querySelector('[data-sla-notify]').hidden")
    assert not tab.locator("[data-sla-notify]").is_visible()


def test_the_oldest_misses_come_from_the_days_read_raw_with_no_query(page, alice, bob):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from inbox.models import DailyRollup

    now = timezone.now()
    seed_history(page, [alice, bob], now=now, days=35, per_day=30)

    def departures(win, limit):
        expected = list(
            dashboard._misses_within(win, limit=limit, newest=False).values_list("opened_at", flat=True)[:limit])
        with CaptureQueriesContext(connection) as queries:
            found = [departure.opened_at for departure in dashboard.departures(win, limit=limit)]
        assert found == expected
        return len(queries)

    # The window's first day cut at every few hours (rollups computed before
    # then, so the whole days come from them).
    for hours_later in range(0, 24, 3):
        for days in (1, 7, 30):
            win = dashboard.window(page=page, kind="private", days=days, now=now + timedelta(hours=hours_later))
            departures(win, 3)
    later = now + timedelta(hours=1)
    # More misses asked for than the raw days hold: the rollups' days are asked.
    win = dashboard.window(page=page, kind="private", days=30, now=later)
    assert win.tally.hours.missed > 20
    assert departures(win, win.tally.hours.missed) == 1
    # Every day read raw: their misses are known, no query.
    DailyRollup.objects.update(stale=True)
    win = dashboard.window(page=page, kind="private", days=30, now=later)
    assert departures(win, 3) == departures(win, win.tally.hours.missed) == 0


def test_it_finds_the_newest_and_oldest_misses_across_days(page, deliver, django_assert_num_queries):
    now = timezone.now()
    openings = [now - timedelta(days=day, hours=hour) for day in range(1, 6) for hour in (2, 5)]
    for n, opened in enumerate(openings):
        answer(page, deliver, f"late{n}", opened, 900)
        answer(page, deliver, f"fine{n}", opened + timedelta(minutes=30), 30)
    win = dashboard.window(page=page, kind="private", days=7, now=now)
    ms = sorted(opened.replace(microsecond=opened.microsecond // 1000 * 1000) for opened in openings)

    assert [ro.opened_at for ro in dashboard.recent_misses(win, limit=3)] == ms[::-1][:3]
    assert [d.opened_at for d in dashboard.departures(win, limit=3)] == ms[:3]
    assert [d.leaves_at for d in dashboard.departures(win, limit=1)] == [ms[0] + timedelta(days=7)]
    # Given the latest misses: all ten of them hold the oldest (no query); three do not.
    every = dashboard.recent_misses(win)
    with django_assert_num_queries(0):
        assert [d.opened_at for d in dashboard.departures(win, limit=3, misses=every)] == ms[:3]
    latest = dashboard.recent_misses(win, limit=3)
    assert [d.opened_at for d in dashboard.departures(win, limit=3, misses=latest)] == ms[:3]

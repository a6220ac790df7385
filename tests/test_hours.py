"""Business hours in the app: the services that change them, the cached
schedule the worker reads, and what they do to response opportunities,
read receipts and Meta's 24 h rules. The pure rules themselves (DST, split
shifts, closures, away periods, the next-opening property) are in
test_availability.py."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from fractions import Fraction

import pytest

from inbox import responsiveness, simulation
from inbox.availability import parse_hours
from inbox.models import (
    AuditLog,
    AwayPeriod,
    Conversation,
    Message,
    Page,
    ReadReceipts,
    ResponseOpportunity,
)
from inbox.services import conversations, hours
from templates_app import guidance

from .hours_fixtures import clock_fixture, office_hours, paris  # noqa: F401 - a fixture

pytestmark = pytest.mark.django_db

FRIDAY_NIGHT = paris(2026, 11, 20, 22, 0)
MONDAY_OPENING = paris(2026, 11, 23, 9, 0)


def customer_writes(deliver, page, when, psid="psid-camille"):
    deliver(simulation.envelope(page.meta_page_id, messaging=[
        simulation.message(page.meta_page_id, psid, when.timestamp(), "Bonjour ?")]))
    return Message.objects.filter(page=page, direction="in", conversation__contact__external_id=psid).latest("pk")


def fresh(page: Page) -> Page:
    return Page.objects.get(pk=page.pk)


# --- The clock start, through the real ingestion path ----------------------------------


def test_a_friday_22_00_message_starts_its_clock_on_monday_at_09_00_paris(page, deliver, clock):
    office_hours(page, "mon-fri 09:00-18:00")
    clock.set(FRIDAY_NIGHT)
    question = customer_writes(deliver, page, FRIDAY_NIGHT)
    ro = ResponseOpportunity.objects.get(opened_by=question)
    assert ro.opened_at == FRIDAY_NIGHT
    assert ro.clock_start == MONDAY_OPENING == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    assert ro.due_at == MONDAY_OPENING + timedelta(seconds=300)
    assert Conversation.objects.get(pk=question.conversation_id).received_while_closed


def test_a_message_during_opening_hours_starts_its_clock_at_once(page, deliver, clock):
    office_hours(page, "mon-fri 09:00-12:00,14:00-18:00")
    tuesday = paris(2026, 11, 24, 10, 30)
    clock.set(tuesday)
    question = customer_writes(deliver, page, tuesday)
    assert ResponseOpportunity.objects.get(opened_by=question).clock_start == tuesday
    assert not Conversation.objects.get(pk=question.conversation_id).received_while_closed
    lunch = paris(2026, 11, 24, 12, 30)
    clock.set(lunch)
    other = customer_writes(deliver, page, lunch, psid="psid-hugo")
    assert ResponseOpportunity.objects.get(opened_by=other).clock_start == paris(2026, 11, 24, 14, 0)


def test_changing_the_hours_changes_new_opportunities_only(page, deliver, clock, alice):
    office_hours(page, "mon-fri 09:00-18:00")
    clock.set(FRIDAY_NIGHT)
    first = customer_writes(deliver, page, FRIDAY_NIGHT)

    # The Page now stays open until midnight on Fridays.
    hours.remove_interval(page=page, interval_id=page.opening_intervals.get(weekday=4).pk, actor=alice)
    hours.add_interval(page=page, weekday=4, start=9 * 60, end=24 * 60, actor=alice)

    # The stored RO keeps its clock start, even when a new message in the
    # same burst makes the worker recompute it.
    later = FRIDAY_NIGHT + timedelta(minutes=10)
    clock.set(later)
    customer_writes(deliver, page, later)
    assert ResponseOpportunity.objects.get(opened_by=first).clock_start == MONDAY_OPENING
    # A new conversation is timed with the new hours.
    newcomer = customer_writes(deliver, page, later, psid="psid-hugo")
    assert ResponseOpportunity.objects.get(opened_by=newcomer).clock_start == later


# --- The cached schedule --------------------------------------------------------------


def test_the_schedule_is_cached_until_the_hours_change(page, alice, django_assert_num_queries):
    office_hours(page)
    page = fresh(page)
    schedule = hours.schedule_for(page)
    with django_assert_num_queries(0):
        assert hours.schedule_for(page) is schedule
    hours.add_interval(page=page, weekday=5, start=600, end=780, actor=alice)
    assert hours.schedule_for(page) is not schedule, "the Page passed in knows its new hours_changed_at"
    assert hours.schedule_for(fresh(page)).is_available(paris(2026, 11, 21, 10, 0))


def test_two_changes_in_the_same_instant_still_refresh_the_schedule(page, alice, clock):
    clock.set(paris(2026, 11, 24, 11, 0))
    hours.add_interval(page=page, weekday=1, start=540, end=1080, actor=alice)
    assert hours.schedule_for(fresh(page)).is_available(paris(2026, 11, 24, 11, 0))
    hours.start_away(page=page, actor=alice)  # same frozen instant
    assert not hours.schedule_for(fresh(page)).is_available(paris(2026, 11, 24, 11, 0))


# --- Weekly intervals, closures, away ------------------------------------------------------


def test_it_refuses_an_overlapping_interval_even_without_the_form(page, alice):
    hours.add_interval(page=page, weekday=0, start=540, end=720, actor=alice)
    with pytest.raises(hours.HoursRefused, match="overlaps"):
        hours.add_interval(page=page, weekday=0, start=700, end=800, actor=alice)
    hours.add_interval(page=page, weekday=0, start=720, end=800, actor=alice)  # touching is fine
    assert page.opening_intervals.count() == 2


def test_one_off_and_yearly_closures_close_the_whole_local_day(page, alice):
    office_hours(page, "mon-sun 00:00-24:00")
    hours.add_closure(page=page, day=date(2026, 12, 24), yearly=False, label="Inventaire", actor=alice)
    hours.add_closure(page=page, day=date(2026, 5, 1), yearly=True, label="Fête du Travail", actor=alice)
    schedule = hours.schedule_for(fresh(page))
    assert not schedule.is_available(paris(2026, 12, 24, 0, 0))
    assert schedule.is_available(paris(2026, 12, 23, 23, 59))
    assert schedule.is_available(paris(2027, 12, 24, 12, 0)), "one-off: only in 2026"
    assert not schedule.is_available(paris(2030, 5, 1, 12, 0)), "yearly: every year"
    assert schedule.next_opening(paris(2026, 12, 24, 15, 0)) == paris(2026, 12, 25, 0, 0)
    with pytest.raises(hours.HoursRefused):
        hours.add_closure(page=page, day=date(2031, 5, 1), yearly=False, label="", actor=alice)
    assert {a.action for a in AuditLog.objects.filter(page=page)} >= {"closure_added"}


def test_away_runs_until_its_end_or_until_switched_off(page, bob, clock):
    office_hours(page)
    tuesday = paris(2026, 11, 24, 10, 0)
    clock.set(tuesday)
    hours.start_away(page=page, actor=bob, until=paris(2026, 11, 24, 11, 0))
    schedule = hours.schedule_for(fresh(page))
    assert not schedule.is_available(paris(2026, 11, 24, 10, 59))
    assert schedule.is_available(paris(2026, 11, 24, 11, 0))
    assert schedule.next_opening(tuesday) == paris(2026, 11, 24, 11, 0)

    # Switching away on again replaces the running period.
    clock.set(paris(2026, 11, 24, 10, 30))
    hours.start_away(page=page, actor=bob)
    assert hours.schedule_for(fresh(page)).next_opening(paris(2026, 11, 24, 10, 31)) is None
    clock.set(paris(2026, 11, 24, 10, 45))
    assert hours.end_away(page=page, actor=bob) == 1
    assert hours.end_away(page=page, actor=bob) == 0, "nothing left to end"
    periods = list(AwayPeriod.objects.filter(page=page).order_by("start").values_list("start", "until"))
    assert periods == [
        (tuesday, paris(2026, 11, 24, 10, 30)),
        (paris(2026, 11, 24, 10, 30), paris(2026, 11, 24, 10, 45)),
    ]
    assert hours.schedule_for(fresh(page)).is_available(paris(2026, 11, 24, 10, 45))
    assert [a.action for a in AuditLog.objects.filter(page=page, actor=bob).order_by("at", "pk")] == [
        "away_started", "away_started", "away_ended"]


def test_away_refuses_an_end_in_the_past_or_months_away(page, bob, clock):
    clock.set(paris(2026, 11, 24, 10, 0))
    with pytest.raises(hours.HoursRefused):
        hours.start_away(page=page, actor=bob, until=paris(2026, 11, 24, 9, 0))
    with pytest.raises(hours.HoursRefused):
        hours.start_away(page=page, actor=bob, until=paris(2027, 6, 1, 9, 0))
    assert not AwayPeriod.objects.exists()


def test_french_holidays_are_added_once(page, alice):
    new_year = date(2026, 1, 1)
    assert hours.add_french_public_holidays(page=page, year=2026, actor=alice, today=new_year) == 11
    assert hours.add_french_public_holidays(page=page, year=2026, actor=alice, today=new_year) == 0
    assert [day for day, _, _ in hours.french_holidays_to_add(page=page, year=2027, today=new_year)] == [
        date(2027, 3, 29), date(2027, 5, 6), date(2027, 5, 17)]


# --- Read receipts: "on open in hours" ----------------------------------------------------


def test_read_receipts_on_open_are_only_sent_during_opening_hours(page, deliver, clock):
    office_hours(page)
    assert page.read_receipts == ReadReceipts.ON_OPEN_IN_HOURS
    clock.set(FRIDAY_NIGHT)
    question = customer_writes(deliver, page, FRIDAY_NIGHT)
    conversation = Conversation.objects.select_related("page").get(pk=question.conversation_id)
    assert conversations.conversation_opened(conversation=conversation, now=FRIDAY_NIGHT) is False
    assert conversations.conversation_opened(conversation=conversation, now=MONDAY_OPENING) is True
    hours.start_away(page=page, actor=None, now=MONDAY_OPENING)
    conversation = Conversation.objects.select_related("page").get(pk=question.conversation_id)
    assert conversations.conversation_opened(conversation=conversation, now=MONDAY_OPENING) is False


# --- Meta's 24 h rules across a closed weekend ------------------------------------------------


def test_metas_24_hours_to_answer_start_at_the_opening_across_a_closed_weekend():
    """Meta times a message received while away from when the Page is
    available again: answered Monday 10:00, a Friday 22:00 message took one
    hour, not 60, and counts as answered within 24 h."""
    from inbox.availability import Schedule

    schedule = Schedule(intervals=parse_hours("mon-fri 09:00-18:00"))
    events = [
        responsiveness.ThreadEvent(key="q", at=FRIDAY_NIGHT, kind=responsiveness.EventKind.CUSTOMER),
        responsiveness.ThreadEvent(key="a", at=paris(2026, 11, 23, 10, 0), kind=responsiveness.EventKind.PAGE_REPLY),
    ]
    [ro] = responsiveness.compute_opportunities(events, schedule.clock_start)
    assert ro.clock_start == MONDAY_OPENING
    assert ro.response_time() == timedelta(hours=1)
    figures = responsiveness.compute_figures([ro], now=paris(2026, 11, 24, 12, 0))
    assert figures.meta_response_rate == Fraction(1)
    assert figures.meta_response_time_seconds == 3600
    # In calendar time the same answer took 60 h: not within Meta's 24 h.
    calendar = responsiveness.compute_opportunities(events, lambda opened_at: opened_at)
    assert responsiveness.compute_figures(calendar, now=paris(2026, 11, 24, 12, 0)).meta_response_rate == 0


def test_the_24_hour_messaging_window_runs_in_calendar_time_across_a_closed_weekend():
    """The Send API's window is not business time: on Monday at 09:00, 59 h
    after a Friday 22:00 message, only a Human Agent reply is allowed."""
    on_monday = guidance.check_window(now=MONDAY_OPENING, last_customer_message_at=FRIDAY_NIGHT,
                                      human_agent_enabled=False)
    assert not on_monday.allowed and on_monday.reason == "human_agent_disabled"
    with_human_agent = guidance.check_window(now=MONDAY_OPENING, last_customer_message_at=FRIDAY_NIGHT,
                                             human_agent_enabled=True)
    assert (with_human_agent.messaging_type, with_human_agent.tag) == ("MESSAGE_TAG", "HUMAN_AGENT")
    # A Saturday 10:00 message can still be answered normally until Sunday 10:00 only.
    saturday = paris(2026, 11, 21, 10, 0)
    assert guidance.check_window(now=saturday + timedelta(hours=23, minutes=59), last_customer_message_at=saturday,
                                 human_agent_enabled=False).messaging_type == "RESPONSE"

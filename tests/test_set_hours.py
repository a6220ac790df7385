"""`set_hours PAGE_ID [--timezone TZ] [--hours SPEC]… [--closed YYYY-MM-DD]… [--clear]` (CONTRACT.md)."""

from __future__ import annotations

from datetime import date
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from inbox.models import AuditLog, ClosureDate, OpeningInterval
from inbox.services import hours

from .hours_fixtures import paris

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("set_hours", *args, stdout=out)
    return out.getvalue()


def weekly(page):
    return sorted((i.weekday, i.start_minute, i.end_minute) for i in OpeningInterval.objects.filter(page=page))


def closed_days(page):
    return sorted(c.day for c in ClosureDate.objects.filter(page=page))


def test_it_sets_split_shifts_saturday_morning_and_closures(page):
    output = run(page.meta_page_id, "--timezone", "Europe/Paris", "--hours", "mon-fri 09:00-12:00,14:00-18:00",
                 "--hours", "sat 10:00-13:00", "--closed", "2026-12-24", "--closed", "2026-12-31")
    assert weekly(page) == [
        *[(day, start, end) for day in range(5) for start, end in ((540, 720), (840, 1080))],
        (5, 600, 780),
    ]
    assert closed_days(page) == [date(2026, 12, 24), date(2026, 12, 31)]
    assert "Mon 09:00-12:00, 14:00-18:00" in output and "Sun closed" in output
    assert "closed 2026-12-24" in output
    page.refresh_from_db()
    schedule = hours.schedule_for(page)
    assert schedule.is_available(paris(2026, 11, 23, 9, 0))
    assert not schedule.is_available(paris(2026, 11, 23, 12, 30))
    assert not schedule.is_available(paris(2026, 12, 24, 10, 0))
    assert AuditLog.objects.get(page=page, action="hours_replaced").actor is None


def test_it_replaces_the_weekly_hours_and_keeps_closures_it_was_not_given(page):
    run(page.meta_page_id, "--hours", "mon-fri 09:00-18:00", "--closed", "2026-12-24")
    run(page.meta_page_id, "--hours", "tue-sat 10:00-19:00")
    assert weekly(page) == [(day, 600, 1140) for day in range(1, 6)]
    assert closed_days(page) == [date(2026, 12, 24)]
    run(page.meta_page_id, "--closed", "2027-01-02")
    assert closed_days(page) == [date(2027, 1, 2)]
    assert len(weekly(page)) == 5


def test_clear_makes_the_page_always_open(page):
    run(page.meta_page_id, "--hours", "mon-fri 09:00-18:00", "--closed", "2026-12-24")
    output = run(page.meta_page_id, "--clear")
    assert weekly(page) == [] and closed_days(page) == []
    assert "always open" in output
    page.refresh_from_db()
    assert hours.schedule_for(page).is_available(paris(2026, 12, 24, 3, 0))


def test_clear_then_new_hours_in_one_go(page):
    run(page.meta_page_id, "--hours", "mon-sun 08:00-20:00", "--closed", "2026-12-24")
    run(page.meta_page_id, "--clear", "--hours", "sat 10:00-24:00")
    assert weekly(page) == [(5, 600, 1440)]
    assert closed_days(page) == []


def test_it_changes_only_the_time_zone(page):
    run(page.meta_page_id, "--hours", "mon-fri 09:00-18:00")
    run(page.meta_page_id, "--timezone", "America/New_York")
    page.refresh_from_db()
    assert page.timezone == "America/New_York"
    assert len(weekly(page)) == 5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--hours", "mon-fri 09:00-12:00,11:00-14:00"], "overlaps"),
        (["--hours", "mon 22:00-02:00"], "may not cross midnight"),
        (["--hours", "lun-xyz 09:00-12:00"], "unknown day"),
        (["--hours", "mon 9-12"], "expected a time such as 09:00"),
        (["--hours", "mon-fri 09:00-12:00", "--hours", "fri 11:00-13:00"], "overlaps"),
        (["--closed", "24/12/2026"], "expected a date such as 2026-12-24"),
        (["--timezone", "Europe/Pariss"], "Unknown time zone 'Europe/Pariss'"),
        ([], "Nothing to do"),
    ],
)
def test_it_explains_bad_input_and_changes_nothing(page, args, message):
    run(page.meta_page_id, "--hours", "mon-fri 09:00-18:00")
    with pytest.raises(CommandError, match=message):
        run(page.meta_page_id, *args)
    assert weekly(page) == [(day, 540, 1080) for day in range(5)]
    page.refresh_from_db()
    assert page.timezone == "Europe/Paris"


def test_it_names_an_unknown_page():
    with pytest.raises(CommandError, match="No connected Page '999'"):
        run("999", "--clear")

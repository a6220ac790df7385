"""Business hours (DOMAIN.md, "Availability"): pure module, no database.

Expected instants are worked out by hand: Europe/Paris is UTC+1 in winter and
UTC+2 in summer (2026: from Sunday 29 March to Sunday 25 October);
America/New_York is UTC-5 / UTC-4 (2026: from Sunday 8 March to Sunday
1 November).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inbox.availability import (
    AwayPeriod,
    Closure,
    OpeningInterval,
    Schedule,
    format_next_opening,
    french_public_holidays,
    parse_hours,
    validate_intervals,
)

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
OFFICE_HOURS = parse_hours("mon-fri 09:00-18:00")
SPLIT_SHIFTS = parse_hours("mon-fri 09:00-12:00,14:00-18:00")


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def paris(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0,
    microsecond: int = 0,
) -> datetime:  # fmt: skip
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=PARIS)


# --- Weekly intervals --------------------------------------------------------


def test_it_opens_split_shifts_with_start_included_and_end_excluded() -> None:
    schedule = Schedule(intervals=SPLIT_SHIFTS)
    # Tuesday 13 January 2026, winter: local = UTC + 1.
    assert not schedule.is_available(paris(2026, 1, 13, 8, 59, 59))
    assert schedule.is_available(paris(2026, 1, 13, 9, 0))
    assert schedule.is_available(paris(2026, 1, 13, 11, 59, 59))
    assert not schedule.is_available(paris(2026, 1, 13, 12, 0))
    assert not schedule.is_available(paris(2026, 1, 13, 13, 59))
    assert schedule.is_available(paris(2026, 1, 13, 14, 0))
    assert not schedule.is_available(paris(2026, 1, 13, 18, 0))


def test_it_finds_the_afternoon_shift_as_next_opening_over_lunch() -> None:
    schedule = Schedule(intervals=SPLIT_SHIFTS)
    assert schedule.next_opening(paris(2026, 1, 13, 12, 30)) == utc(2026, 1, 13, 13, 0)
    assert schedule.next_closing(paris(2026, 1, 13, 10, 0)) == utc(2026, 1, 13, 11, 0)


def test_it_looks_past_an_interval_that_just_ended() -> None:
    schedule = Schedule(intervals=SPLIT_SHIFTS)
    assert schedule.next_opening(paris(2026, 1, 13, 12, 0)) == utc(2026, 1, 13, 13, 0)
    assert schedule.next_opening(paris(2026, 1, 16, 18, 0)) == utc(2026, 1, 19, 8, 0)


def test_it_starts_the_clock_of_a_friday_night_message_on_monday_morning() -> None:
    schedule = Schedule(intervals=OFFICE_HOURS)
    opened_at = paris(2026, 1, 9, 22, 0)  # Friday
    clock_start = schedule.clock_start(opened_at)
    assert clock_start == utc(2026, 1, 12, 8, 0)  # Monday 09:00 CET
    assert clock_start.utcoffset() == timedelta(0)
    assert schedule.clock_start(paris(2026, 1, 12, 10, 15)) == utc(2026, 1, 12, 9, 15)


def test_it_returns_the_instant_itself_as_next_opening_when_open() -> None:
    schedule = Schedule(intervals=OFFICE_HOURS)
    t = paris(2026, 1, 12, 10, 15, 30, 123)
    assert schedule.next_opening(t) == t
    assert schedule.next_opening(t).tzinfo is UTC  # type: ignore[union-attr]


def test_it_keeps_an_interval_ending_at_midnight_open_until_the_next_day() -> None:
    late = Schedule(intervals=parse_hours("sat 18:00-24:00"))
    assert late.is_available(paris(2026, 1, 10, 23, 59, 59))
    assert not late.is_available(paris(2026, 1, 11, 0, 0))
    assert late.next_closing(paris(2026, 1, 10, 20, 0)) == utc(2026, 1, 10, 23, 0)

    through_the_night = Schedule(intervals=parse_hours("sat 18:00-24:00; sun 00:00-02:00"))
    # One unbroken opening: it closes at Sunday 02:00 CET, not at midnight.
    assert through_the_night.next_closing(paris(2026, 1, 10, 20, 0)) == utc(2026, 1, 11, 1, 0)


def test_it_is_always_open_without_intervals() -> None:
    schedule = Schedule()
    t = utc(2026, 7, 14, 3, 17)
    assert schedule.is_available(t)
    assert schedule.next_opening(t) == t
    assert schedule.next_closing(t) is None
    assert schedule.clock_start(t) == t


def test_it_closes_an_always_open_page_at_local_midnight_of_a_closure() -> None:
    schedule = Schedule(closures=(Closure(date(2026, 8, 15)),))
    # Assumption 2026: Paris is UTC+2, so the date begins at 22:00 UTC the day before.
    assert schedule.next_closing(utc(2026, 8, 10, 12, 0)) == utc(2026, 8, 14, 22, 0)
    assert schedule.next_opening(utc(2026, 8, 15, 9, 0)) == utc(2026, 8, 15, 22, 0)


# --- Closures ----------------------------------------------------------------


def test_it_stays_closed_on_a_one_off_closure() -> None:
    schedule = Schedule(intervals=OFFICE_HOURS, closures=(Closure(date(2026, 1, 13)),))
    assert schedule.is_available(paris(2026, 1, 12, 10, 0))
    assert not schedule.is_available(paris(2026, 1, 13, 10, 0))
    assert schedule.next_opening(paris(2026, 1, 13, 10, 0)) == utc(2026, 1, 14, 8, 0)
    assert schedule.next_closing(paris(2026, 1, 12, 10, 0)) == utc(2026, 1, 12, 17, 0)


def test_it_repeats_a_yearly_closure_every_year() -> None:
    christmas = Closure(date(2020, 12, 25), yearly=True)
    schedule = Schedule(intervals=OFFICE_HOURS, closures=(christmas,))
    assert schedule.is_available(paris(2026, 12, 24, 10, 0))
    assert not schedule.is_available(paris(2026, 12, 25, 10, 0))  # a Friday
    assert schedule.next_opening(paris(2026, 12, 25, 10, 0)) == utc(2026, 12, 28, 8, 0)


def test_it_closes_a_yearly_february_29_only_in_leap_years() -> None:
    schedule = Schedule(closures=(Closure(date(2024, 2, 29), yearly=True),))
    assert schedule.is_available(paris(2027, 2, 28, 12, 0))
    assert schedule.is_available(paris(2027, 3, 1, 0, 0))
    assert not schedule.is_available(paris(2028, 2, 29, 12, 0))
    assert schedule.next_closing(utc(2026, 6, 1)) == utc(2028, 2, 28, 23, 0)


# --- Away periods ------------------------------------------------------------


def test_it_is_away_from_start_included_to_until_excluded() -> None:
    away = AwayPeriod(start=utc(2026, 1, 13, 9, 0), until=utc(2026, 1, 13, 10, 0))
    schedule = Schedule(intervals=OFFICE_HOURS, away=(away,))
    assert schedule.is_available(utc(2026, 1, 13, 8, 59, 59))
    assert not schedule.is_available(utc(2026, 1, 13, 9, 0))
    assert not schedule.is_available(utc(2026, 1, 13, 9, 59, 59))
    assert schedule.is_available(utc(2026, 1, 13, 10, 0))
    assert schedule.next_opening(utc(2026, 1, 13, 9, 30)) == utc(2026, 1, 13, 10, 0)
    assert schedule.next_closing(utc(2026, 1, 13, 8, 0)) == utc(2026, 1, 13, 9, 0)


def test_it_waits_for_opening_hours_when_away_ends_after_closing() -> None:
    # Away from Tuesday 10:00 to Tuesday 20:00 local: next opening is Wednesday 09:00.
    away = AwayPeriod(start=paris(2026, 1, 13, 10, 0), until=paris(2026, 1, 13, 20, 0))
    schedule = Schedule(intervals=OFFICE_HOURS, away=(away,))
    assert schedule.next_opening(paris(2026, 1, 13, 11, 0)) == utc(2026, 1, 14, 8, 0)


def test_it_has_no_next_opening_during_an_open_ended_away() -> None:
    away = AwayPeriod(start=utc(2026, 1, 13, 9, 0), until=None)
    schedule = Schedule(intervals=OFFICE_HOURS, away=(away,))
    assert schedule.is_available(utc(2026, 1, 12, 9, 0))
    assert not schedule.is_available(utc(2027, 1, 12, 9, 0))
    assert schedule.next_opening(utc(2026, 1, 13, 9, 0)) is None
    # The clock then starts at the message itself (see Schedule.clock_start).
    assert schedule.clock_start(paris(2026, 1, 13, 11, 0)) == utc(2026, 1, 13, 10, 0)


def test_it_rejects_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="aware"):
        Schedule().is_available(datetime(2026, 1, 13, 9, 0))
    with pytest.raises(ValueError, match="aware"):
        AwayPeriod(start=datetime(2026, 1, 13, 9, 0), until=None)


# --- Daylight-saving time ----------------------------------------------------


def test_it_opens_at_0900_paris_on_the_monday_after_spring_forward() -> None:
    schedule = Schedule(intervals=OFFICE_HOURS)
    # Friday 27 March 22:00 CET; Monday 30 March 09:00 is CEST = 07:00 UTC.
    assert schedule.clock_start(paris(2026, 3, 27, 22, 0)) == utc(2026, 3, 30, 7, 0)
    assert schedule.next_closing(utc(2026, 3, 30, 7, 0)) == utc(2026, 3, 30, 16, 0)


def test_it_opens_at_0900_paris_on_the_monday_after_fall_back() -> None:
    schedule = Schedule(intervals=OFFICE_HOURS)
    # Friday 23 October 22:00 CEST; Monday 26 October 09:00 is CET = 08:00 UTC.
    assert schedule.clock_start(paris(2026, 10, 23, 22, 0)) == utc(2026, 10, 26, 8, 0)
    assert schedule.next_closing(utc(2026, 10, 26, 8, 0)) == utc(2026, 10, 26, 17, 0)


def test_it_opens_at_0900_new_york_across_both_transitions() -> None:
    schedule = Schedule(timezone="America/New_York", intervals=OFFICE_HOURS)
    friday_night = datetime(2026, 3, 6, 22, 0, tzinfo=NEW_YORK)  # EST
    assert schedule.clock_start(friday_night) == utc(2026, 3, 9, 13, 0)  # Monday 09:00 EDT
    friday_night = datetime(2026, 10, 30, 22, 0, tzinfo=NEW_YORK)  # EDT
    assert schedule.clock_start(friday_night) == utc(2026, 11, 2, 14, 0)  # Monday 09:00 EST


def test_it_starts_an_interval_inside_the_spring_forward_gap_when_the_gap_ends() -> None:
    # Sunday 29 March 2026, Paris: 02:00 CET jumps to 03:00 CEST at 01:00 UTC,
    # so 02:30 never happens; the interval opens at 03:00 CEST.
    schedule = Schedule(intervals=parse_hours("sun 02:30-05:00"))
    assert schedule.next_opening(utc(2026, 3, 28, 12, 0)) == utc(2026, 3, 29, 1, 0)
    assert not schedule.is_available(utc(2026, 3, 29, 0, 59, 59))
    assert schedule.next_closing(utc(2026, 3, 29, 1, 0)) == utc(2026, 3, 29, 3, 0)

    ending_in_gap = Schedule(intervals=parse_hours("sun 01:00-02:30"))
    assert ending_in_gap.next_closing(utc(2026, 3, 29, 0, 0)) == utc(2026, 3, 29, 1, 0)

    # 02:00 and 03:00 are the same instant that night: one unbroken opening.
    around_gap = Schedule(intervals=parse_hours("sun 01:00-02:00,03:00-04:00"))
    assert around_gap.next_closing(utc(2026, 3, 29, 0, 30)) == utc(2026, 3, 29, 2, 0)


def test_it_uses_the_first_occurrence_of_a_repeated_fall_back_time() -> None:
    # Sunday 25 October 2026, Paris: 03:00 CEST goes back to 02:00 CET at
    # 01:00 UTC, so 02:00-03:00 happens twice.
    opening_twice = Schedule(intervals=parse_hours("sun 02:30-04:00"))
    assert opening_twice.next_opening(utc(2026, 10, 24, 12, 0)) == utc(2026, 10, 25, 0, 30)
    assert opening_twice.is_available(utc(2026, 10, 25, 1, 15))  # 02:15 CET, the second time
    assert opening_twice.next_closing(utc(2026, 10, 25, 0, 30)) == utc(2026, 10, 25, 3, 0)

    closing_twice = Schedule(intervals=parse_hours("sun 01:00-02:30"))
    assert closing_twice.next_closing(utc(2026, 10, 24, 23, 0)) == utc(2026, 10, 25, 0, 30)
    assert not closing_twice.is_available(utc(2026, 10, 25, 1, 15))


def test_it_opens_at_the_transition_when_midnight_does_not_exist() -> None:
    # Santiago springs forward at midnight: Sunday 6 September 2026 begins at
    # 01:00 -03, which is 04:00 UTC.
    schedule = Schedule(timezone="America/Santiago", intervals=parse_hours("sun 00:00-02:00"))
    assert schedule.next_opening(utc(2026, 9, 5, 12, 0)) == utc(2026, 9, 6, 4, 0)
    assert schedule.next_closing(utc(2026, 9, 6, 4, 0)) == utc(2026, 9, 6, 5, 0)


# --- Schedules built from bad data -------------------------------------------


def test_it_refuses_a_schedule_with_an_interval_crossing_midnight() -> None:
    with pytest.raises(ValueError, match="cross midnight"):
        Schedule(intervals=(OpeningInterval(weekday=0, start=22 * 60, end=2 * 60),))


def test_it_accepts_lists_and_merges_overlapping_intervals() -> None:
    schedule = Schedule(
        intervals=[OpeningInterval(0, 540, 720), OpeningInterval(0, 600, 780)],  # type: ignore[arg-type]
    )
    assert schedule.next_closing(paris(2026, 1, 12, 9, 0)) == utc(2026, 1, 12, 12, 0)


# --- parse_hours and validate_intervals ----------------------------------------


def test_it_parses_day_ranges_lists_and_split_shifts() -> None:
    assert parse_hours("mon-fri 09:00-12:00,14:00-18:00") == tuple(
        OpeningInterval(weekday, start, end)
        for weekday in range(5)
        for start, end in ((540, 720), (840, 1080))
    )
    assert parse_hours("mon,wed 9:00-17:00") == (
        OpeningInterval(0, 540, 1020),
        OpeningInterval(2, 540, 1020),
    )
    assert parse_hours("sat 10:00-13:00") == (OpeningInterval(5, 600, 780),)
    assert parse_hours("sun 00:00-24:00") == (OpeningInterval(6, 0, 1440),)


def test_it_parses_several_groups_and_tolerates_spacing_and_case() -> None:
    assert parse_hours("Sat 10:00 - 13:00;\n SUN 14:00-15:30, 16:00-17:00") == (
        OpeningInterval(5, 600, 780),
        OpeningInterval(6, 840, 930),
        OpeningInterval(6, 960, 1020),
    )
    assert parse_hours("  ") == ()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("funday 09:00-10:00", "unknown day 'funday'"),
        ("09:00-10:00", "expected days then times"),
        ("mon 09:00", "expected a time range"),
        ("mon 9h-17h", "expected a time such as 09:00"),
        ("mon 09:00-24:30", "not a time between 00:00 and 24:00"),
        ("mon 09:60-10:00", "not a time between 00:00 and 24:00"),
        ("fri-mon 09:00-10:00", "runs backwards"),
        ("mon 22:00-02:00", "may not cross midnight"),
        ("mon 09:00-09:00", "end must come after the start"),
        ("mon 24:00-24:00", "start must be between 00:00 and 23:59"),
        ("mon 09:00-12:00,11:00-13:00", "Monday: 09:00-12:00 overlaps 11:00-13:00"),
        ("mon-fri 09:00-12:00; wed 10:00-11:00", "Wednesday: 09:00-12:00 overlaps 10:00-11:00"),
    ],
)
def test_it_rejects_bad_hours_with_a_clear_message(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_hours(spec)


def test_it_reports_overlaps_and_misordered_or_out_of_range_intervals() -> None:
    problems = validate_intervals(
        [
            OpeningInterval(0, 540, 720),
            OpeningInterval(0, 700, 800),
            OpeningInterval(1, 600, 600),
            OpeningInterval(2, 1320, 1560),
            OpeningInterval(7, 0, 60),
        ]
    )
    assert problems == [
        "Tuesday 10:00-10:00: the end must come after the start; an interval may not cross "
        "midnight, split it in two (e.g. 22:00-24:00, then 00:00-02:00 the next day)",
        "Wednesday 22:00-1560 min: the end must be between 00:01 and 24:00; an interval may "
        "not cross midnight, split it in two",
        "weekday 7: must be 0 (Monday) to 6 (Sunday)",
        "Monday: 09:00-12:00 overlaps 11:40-13:20",
    ]


def test_it_accepts_touching_intervals_and_the_same_hours_on_different_days() -> None:
    assert validate_intervals(parse_hours("mon-sun 08:00-12:00,12:00-24:00")) == []


# --- format_next_opening -------------------------------------------------------

WEDNESDAY_MORNING = paris(2026, 1, 14, 10, 0)


@pytest.mark.parametrize(
    ("opening", "french", "english"),
    [
        (paris(2026, 1, 14, 14, 30), "aujourd'hui à 14 h 30", "today at 2:30 PM"),
        (paris(2026, 1, 15, 9, 0), "demain à 9 h", "tomorrow at 9:00 AM"),
        (paris(2026, 1, 19, 9, 0), "lundi à 9 h", "Monday at 9:00 AM"),
        (paris(2026, 1, 20, 12, 5), "mardi à 12 h 05", "Tuesday at 12:05 PM"),
        (paris(2026, 1, 21, 9, 0), "le 21 janvier à 9 h", "January 21 at 9:00 AM"),
        (paris(2026, 2, 1, 0, 15), "le 1er février à 0 h 15", "February 1 at 12:15 AM"),
        (paris(2026, 12, 24, 9, 0), "le 24 décembre à 9 h", "December 24 at 9:00 AM"),
        (paris(2027, 1, 4, 9, 0), "le 4 janvier 2027 à 9 h", "January 4, 2027 at 9:00 AM"),
    ],
)
def test_it_formats_the_next_opening_in_french_and_english(
    opening: datetime, french: str, english: str
) -> None:
    kwargs = {"now": WEDNESDAY_MORNING, "tz": "Europe/Paris"}
    assert format_next_opening(opening, language="fr", **kwargs) == french  # type: ignore[arg-type]
    assert format_next_opening(opening, language="en", **kwargs) == english  # type: ignore[arg-type]


def test_it_formats_in_the_page_zone_not_in_utc() -> None:
    # 23:30 UTC on the 13th is already 00:30 on the 14th in Paris, so an
    # opening at 08:00 UTC on the 14th (09:00 Paris) is today, not tomorrow.
    now = utc(2026, 1, 13, 23, 30)
    opening = utc(2026, 1, 14, 8, 0)
    assert format_next_opening(opening, language="fr-FR", now=now, tz="Europe/Paris") == (
        "aujourd'hui à 9 h"
    )
    assert format_next_opening(opening, language="en", now=now, tz="America/New_York") == (
        "tomorrow at 3:00 AM"
    )


# --- French public holidays ----------------------------------------------------


def test_it_lists_the_eleven_french_public_holidays_of_2026() -> None:
    assert french_public_holidays(2026) == [
        (date(2026, 1, 1), "Jour de l'an"),
        (date(2026, 4, 6), "Lundi de Pâques"),
        (date(2026, 5, 1), "Fête du Travail"),
        (date(2026, 5, 8), "Victoire 1945"),
        (date(2026, 5, 14), "Ascension"),
        (date(2026, 5, 25), "Lundi de Pentecôte"),
        (date(2026, 7, 14), "Fête nationale"),
        (date(2026, 8, 15), "Assomption"),
        (date(2026, 11, 1), "Toussaint"),
        (date(2026, 11, 11), "Armistice 1918"),
        (date(2026, 12, 25), "Noël"),
    ]


@pytest.mark.parametrize(
    ("year", "easter_monday"),
    # Easter Sundays: 31 March 2024, 20 April 2025, 28 March 2027, 25 April 2038.
    [(2024, date(2024, 4, 1)), (2025, date(2025, 4, 21)), (2027, date(2027, 3, 29)),
     (2038, date(2038, 4, 26))],
)  # fmt: skip
def test_it_computes_easter_monday(year: int, easter_monday: date) -> None:
    holidays = dict((name, day) for day, name in french_public_holidays(year))
    assert holidays["Lundi de Pâques"] == easter_monday


# --- Properties ----------------------------------------------------------------

ZONES = [
    "Europe/Paris",
    "America/New_York",
    "UTC",
    "Australia/Lord_Howe",  # a 30-minute shift
    "America/Santiago",  # springs forward at midnight
    "Asia/Beirut",  # springs forward at midnight, repeats 23:00-24:00
]
WINDOW_START = utc(2025, 12, 1)
WINDOW_END = utc(2027, 2, 1)
# The 2026 transitions of the zones above, where bugs hide.
ZONE_TRANSITIONS = [
    ("Europe/Paris", utc(2026, 3, 29, 1)), ("Europe/Paris", utc(2026, 10, 25, 1)),
    ("America/New_York", utc(2026, 3, 8, 7)), ("America/New_York", utc(2026, 11, 1, 6)),
    ("Australia/Lord_Howe", utc(2026, 4, 4, 15)), ("Australia/Lord_Howe", utc(2026, 10, 3, 15)),
    ("America/Santiago", utc(2026, 4, 5, 3)), ("America/Santiago", utc(2026, 9, 6, 4)),
    ("Asia/Beirut", utc(2026, 3, 28, 22)), ("Asia/Beirut", utc(2026, 10, 24, 21)),
]  # fmt: skip
TRANSITIONS = [transition for _, transition in ZONE_TRANSITIONS]

instants = st.one_of(
    st.datetimes(
        min_value=WINDOW_START.replace(tzinfo=None),
        max_value=WINDOW_END.replace(tzinfo=None),
        timezones=st.just(UTC),
    ),
    st.builds(
        lambda transition, seconds: transition + timedelta(seconds=seconds),
        st.sampled_from(TRANSITIONS),
        st.integers(min_value=-3 * 86400, max_value=3 * 86400),
    ),
)


@st.composite
def intervals(draw: st.DrawFn) -> OpeningInterval:
    # Biased towards the edges where bugs hide: midnight, 24:00 (runs that
    # carry on into the next day), a 30-minute grid that meets DST gaps and
    # repeated hours, and Sunday, the day most of ZONES change their clocks.
    start = draw(
        st.one_of(
            st.just(0),
            st.integers(min_value=0, max_value=47).map(lambda half_hours: 30 * half_hours),
            st.integers(min_value=0, max_value=1439),
        )
    )
    end = draw(
        st.one_of(
            st.just(1440),
            st.integers(min_value=start // 30 + 1, max_value=48).map(lambda half: 30 * half),
            st.integers(min_value=start + 1, max_value=1440),
        )
    )
    weekday = draw(st.one_of(st.just(6), st.integers(min_value=0, max_value=6)))
    return OpeningInterval(weekday, start, end)


@st.composite
def away_periods(draw: st.DrawFn) -> AwayPeriod:
    start = draw(instants)
    if draw(st.integers(min_value=0, max_value=9)) == 0:
        return AwayPeriod(start=start, until=None)
    return AwayPeriod(start=start, until=start + timedelta(minutes=draw(st.integers(0, 14400))))


schedules = st.builds(
    Schedule,
    timezone=st.sampled_from(ZONES),
    # Overlaps allowed on purpose: stored hours must never break a search.
    intervals=st.lists(intervals(), max_size=6).map(tuple),
    closures=st.lists(
        st.builds(
            Closure,
            day=st.dates(min_value=date(2025, 11, 25), max_value=date(2027, 2, 5)),
            yearly=st.booleans(),
        ),
        max_size=4,
    ).map(tuple),
    away=st.lists(away_periods(), max_size=3).map(tuple),
)


def wall_instants(schedule: Schedule, day: date, minute: int) -> list[datetime]:
    """Both readings (fold 0 and 1) of a local wall time, in UTC.

    Around a transition either reading may be the real instant, so checking
    both stays independent of how the module resolves gaps and repeats.
    """
    if minute == 1440:
        day, minute = day + timedelta(days=1), 0
    wall = datetime(day.year, day.month, day.day, minute // 60, minute % 60)
    zone = ZoneInfo(schedule.timezone)
    return [wall.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1)]


@st.composite
def schedules_and_instants(draw: st.DrawFn) -> tuple[Schedule, datetime]:
    """A schedule, and an instant that is often one of its own edges."""
    schedule = draw(schedules)
    kind = draw(st.sampled_from(["any", "near a transition", "interval edge", "away edge"]))
    if kind == "near a transition":
        seconds = draw(st.integers(min_value=-3 * 3600, max_value=3 * 3600))
        instant = draw(st.sampled_from(TRANSITIONS)) + timedelta(seconds=seconds)
    elif kind == "interval edge":
        zone = ZoneInfo(schedule.timezone)
        near = draw(st.sampled_from(TRANSITIONS)).astimezone(zone).date()
        day = near + timedelta(days=draw(st.integers(min_value=-8, max_value=8)))
        edges = (
            {0, 1440} | {i.start for i in schedule.intervals} | {i.end for i in schedule.intervals}
        )
        instant = draw(
            st.sampled_from(wall_instants(schedule, day, draw(st.sampled_from(sorted(edges)))))
        )
    elif kind == "away edge" and schedule.away:
        period = draw(st.sampled_from(schedule.away))
        instant = period.until if period.until and draw(st.booleans()) else period.start
    else:
        return schedule, draw(instants)
    nudge = timedelta(microseconds=draw(st.sampled_from([-1, 0, 0, 1])))
    return schedule, instant + nudge


def edges_between(
    schedule: Schedule, after: datetime, before: datetime, *, opening: bool
) -> list[datetime]:
    """Instants in [after, before) where availability could switch on (or off).

    Worked out from the wall clock, independently of the module: interval
    starts (or ends) and local midnights in both readings, away ends (or
    starts).
    """
    zone = ZoneInfo(schedule.timezone)
    found = [after]
    day = after.astimezone(zone).date() - timedelta(days=1)
    while day <= before.astimezone(zone).date() + timedelta(days=1):
        minutes = {0, 1440} | {
            i.start if opening else i.end for i in schedule.intervals if i.weekday == day.weekday()
        }
        for minute in minutes:
            found += wall_instants(schedule, day, minute)
        day += timedelta(days=1)
    for period in schedule.away:
        if opening and period.until is not None:
            found.append(period.until)
        if not opening:
            found.append(period.start)
    return [instant for instant in found if after <= instant < before]


def wall_clock_available(schedule: Schedule, t: datetime) -> bool:
    """DOMAIN.md's rule read literally off the local wall clock."""
    local = t.astimezone(ZoneInfo(schedule.timezone))
    minute = local.hour * 60 + local.minute + local.second / 60 + local.microsecond / 60e6
    in_hours = not schedule.intervals or any(
        i.weekday == local.weekday() and i.start <= minute < i.end for i in schedule.intervals
    )
    closed = any(
        c.day == local.date() or (c.yearly and (c.day.month, c.day.day) == (local.month, local.day))
        for c in schedule.closures
    )
    away = any(a.start <= t and (a.until is None or t < a.until) for a in schedule.away)
    return in_hours and not closed and not away


PROPERTY_SETTINGS = settings(
    max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
fractions = st.lists(st.floats(min_value=0, max_value=1), max_size=20)


@PROPERTY_SETTINGS
@given(case=schedules_and_instants(), fractions=fractions)
def test_it_finds_the_earliest_available_instant_as_next_opening(
    case: tuple[Schedule, datetime], fractions: list[float]
) -> None:
    schedule, t = case
    opening = schedule.next_opening(t)
    if schedule.is_available(t):
        assert opening == t
        return
    if opening is None:
        # Random schedules are never shut 400 days: only an open-ended away does that.
        assert any(period.until is None for period in schedule.away)
        return
    assert opening > t
    assert opening.tzinfo is UTC
    assert schedule.is_available(opening)
    samples = [t + (opening - t) * fraction for fraction in fractions]
    samples += [opening - timedelta(microseconds=1)]
    for instant in samples + edges_between(schedule, t, opening, opening=True):
        if instant < opening:
            assert not schedule.is_available(instant), instant


@PROPERTY_SETTINGS
@given(case=schedules_and_instants(), fractions=fractions)
def test_it_finds_the_earliest_unavailable_instant_as_next_closing(
    case: tuple[Schedule, datetime], fractions: list[float]
) -> None:
    schedule, t = case
    closing = schedule.next_closing(t)
    if not schedule.is_available(t):
        assert closing == t
        return
    if closing is None:
        local_day = t.astimezone(ZoneInfo(schedule.timezone)).date()
        assert all(not c.yearly and c.day <= local_day for c in schedule.closures)
        # Any away period ahead is empty (switched off before it began).
        assert all(
            period.start <= t or (period.until is not None and period.until <= period.start)
            for period in schedule.away
        )
        assert schedule.is_available(t + timedelta(days=3, minutes=17))
        return
    assert closing > t
    assert closing.tzinfo is UTC
    assert not schedule.is_available(closing)
    samples = [t + (closing - t) * fraction for fraction in fractions]
    samples += [closing - timedelta(microseconds=1)]
    # Cap the walk: an always-open Page may close only months later.
    horizon = min(closing, t + timedelta(days=20))
    for instant in samples + edges_between(schedule, t, horizon, opening=False):
        if instant < closing:
            assert schedule.is_available(instant), instant


@PROPERTY_SETTINGS
@given(case=schedules_and_instants())
def test_it_agrees_with_the_wall_clock_outside_repeated_hours(
    case: tuple[Schedule, datetime],
) -> None:
    schedule, t = case
    local = t.astimezone(ZoneInfo(schedule.timezone))
    if local.replace(fold=1 - local.fold).astimezone(UTC) != t:
        return  # a repeated wall time: resolved by first occurrence, see the module
    assert schedule.is_available(t) == wall_clock_available(schedule, t)


@PROPERTY_SETTINGS
@given(
    zone_and_transition=st.sampled_from(ZONE_TRANSITIONS),
    day_shift=st.integers(min_value=-1, max_value=1),
    bounds=st.lists(st.integers(min_value=0, max_value=1440), min_size=2, max_size=2, unique=True),
    seconds=st.integers(min_value=-4 * 3600, max_value=4 * 3600),
)
def test_it_agrees_with_the_wall_clock_around_clock_changes(
    zone_and_transition: tuple[str, datetime], day_shift: int, bounds: list[int], seconds: int
) -> None:
    # One interval on the day of (or around) a clock change, an instant within
    # hours of it: gaps and their edges get hit every time, unlike above.
    zone, transition = zone_and_transition
    day = (transition + timedelta(days=day_shift)).astimezone(ZoneInfo(zone)).date()
    start, end = sorted(bounds)
    schedule = Schedule(timezone=zone, intervals=(OpeningInterval(day.weekday(), start, end),))
    t = transition + timedelta(seconds=seconds)
    local = t.astimezone(ZoneInfo(zone))
    if local.replace(fold=1 - local.fold).astimezone(UTC) != t:
        return  # a repeated wall time: resolved by first occurrence, see the module
    assert schedule.is_available(t) == wall_clock_available(schedule, t)
    opening = schedule.next_opening(t)
    assert opening is not None
    assert schedule.is_available(opening)
    assert opening == t or not schedule.is_available(opening - timedelta(microseconds=1))

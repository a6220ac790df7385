"""When a Page is available, and when it next opens (DOMAIN.md, "Availability").

Plain Python with plain types, no Django: services call it for every incoming
message, and its tests run in milliseconds.

A Page is available at instant t when all three hold:
1. t, in the Page's time zone, falls inside one of its weekly opening
   intervals, start included, end excluded (no interval at all = always open);
2. the local date of t is not a closure date (one-off or yearly);
3. no away period [start, until) covers t.

How it stays fast: the weekly intervals and closures of one local date become
at most a handful of UTC spans, cached per (schedule, date); searches walk
day by day over local dates, never minute by minute. Away periods are few and
checked directly. Every datetime returned is aware and in UTC; every datetime
accepted must be aware (a naive one is a programming error: ValueError).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

MINUTES_PER_DAY = 1440

# How far next_opening looks before giving up with None. A year of one-off
# closures plus a yearly one is the longest a real Page stays shut; past that,
# "no next opening" is the honest answer (an open-ended away ends sooner).
HORIZON = timedelta(days=400)

# One local date's spans are a few datetimes; 16k entries is a few MB and
# covers thousands of Pages' "today" and "next few days" at once.
_SPANS_CACHE_SIZE = 16384

type Span = tuple[datetime, datetime]


@dataclass(frozen=True)
class OpeningInterval:
    """A weekly opening interval, in local time in the Page's zone."""

    weekday: int  # 0 = Monday … 6 = Sunday
    start: int  # minutes since local midnight, 0..1439
    end: int  # minutes since local midnight, 1..1440 (1440 = "24:00"); start < end


@dataclass(frozen=True)
class Closure:
    """A date on which the Page is closed all day (its local date)."""

    day: date
    # Same month and day every year; a yearly Feb 29 only closes leap years.
    yearly: bool = False


@dataclass(frozen=True)
class AwayPeriod:
    """A manual away period [start, until); until None = until switched off.

    Both instants are stored in UTC. An until at or before start makes an
    empty period (switching away off before it began is not an error).
    """

    start: datetime
    until: datetime | None

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _as_utc(self.start))
        if self.until is not None:
            object.__setattr__(self, "until", _as_utc(self.until))

    def covers(self, instant: datetime) -> bool:
        return self.start <= instant and (self.until is None or instant < self.until)


@dataclass(frozen=True)
class Schedule:
    """A Page's business hours. Frozen and hashable, so results can be cached.

    Overlapping intervals are accepted (their union counts) so that a Page's
    stored hours never make message handling fail; forms should still reject
    them with validate_intervals. Malformed intervals (out of range, end not
    after start) raise ValueError here.
    """

    timezone: str = "Europe/Paris"
    intervals: tuple[OpeningInterval, ...] = ()
    closures: tuple[Closure, ...] = ()
    away: tuple[AwayPeriod, ...] = ()

    def __post_init__(self) -> None:
        # Callers may hand over lists; the cache needs hashable fields.
        for name in ("intervals", "closures", "away"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        ZoneInfo(self.timezone)  # fail now on an unknown zone, not mid-message
        problems = [p for p in map(_interval_problem, self.intervals) if p is not None]
        if problems:
            raise ValueError("; ".join(problems))

    def is_available(self, t: datetime) -> bool:
        instant = _as_utc(t)
        day = _day_of(self.timezone, instant)
        if not any(start <= instant < end for start, end in _opening_spans(self, day)):
            return False
        return _away_covering(self.away, instant) is None

    def next_opening(self, t: datetime) -> datetime | None:
        """The earliest instant >= t at which the Page is available.

        None when there is none within HORIZON of t, which is also the answer
        at once while an open-ended away period covers the search.
        """
        instant = _as_utc(t)
        limit = instant + HORIZON
        while True:
            candidate = self._next_weekly_opening(instant, limit)
            if candidate is None:
                return None
            blocking = _away_covering(self.away, candidate)
            if blocking is None:
                return candidate
            if blocking.until is None:
                return None
            instant = blocking.until

    def next_closing(self, t: datetime) -> datetime | None:
        """The earliest instant >= t at which the Page is not available.

        t itself when it is closed at t; None when it never closes again (no
        intervals or all days 00:00-24:00, no closure ahead, no away ahead).
        """
        instant = _as_utc(t)
        if not self.is_available(instant):
            return instant
        candidates = [self._end_of_weekly_run(instant)]
        # No away covers `instant`, so the next one to matter starts after it
        # (and is not empty: away switched off before it began).
        candidates += [
            period.start
            for period in self.away
            if period.start > instant and (period.until is None or period.until > period.start)
        ]
        real = [candidate for candidate in candidates if candidate is not None]
        return min(real, default=None)

    def clock_start(self, opened_at: datetime) -> datetime:
        """When a response opportunity's clock starts (DOMAIN.md).

        opened_at if the Page was available then, else the next opening.
        When there is no next opening (an open-ended away period), the clock
        starts at opened_at: the opportunity must still count somewhere, and
        a start that never comes would hide it from every figure. Such a value
        reflects the away period as it is now; once away is switched off (its
        until set), computing it again gives the real next opening.
        """
        instant = _as_utc(opened_at)
        if self.is_available(instant):
            return instant
        following = self.next_opening(instant)
        return instant if following is None else following

    def _next_weekly_opening(self, instant: datetime, limit: datetime) -> datetime | None:
        """Earliest instant >= `instant` inside an interval on an open day."""
        day = _day_of(self.timezone, instant)
        while _day_start(self.timezone, day) <= limit:
            for start, end in _opening_spans(self, day):
                if end > instant:
                    opening = max(start, instant)
                    return opening if opening <= limit else None
            day += timedelta(days=1)
        return None

    def _end_of_weekly_run(self, instant: datetime) -> datetime | None:
        """End of the unbroken run of weekly opening that contains `instant`.

        Runs continue across midnight when one day's last span ends at 24:00
        and the next day's first one starts at 00:00.
        """
        rules = _rules(self)
        day = _day_of(self.timezone, instant)
        if rules.open_all_week:
            closed = _next_closure_after(rules, day)
            return None if closed is None else _day_start(self.timezone, closed)
        run_end = next(end for start, end in _opening_spans(self, day) if start <= instant < end)
        # Some weekday is not open all day, so the run ends within a week; the
        # bound only guards against a zone whose transitions fill that gap.
        for _ in range(HORIZON.days):
            day += timedelta(days=1)
            following = _opening_spans(self, day)
            # Spans of one day never touch, so only a new day can carry the run on.
            if not following or following[0][0] != run_end:
                return run_end
            run_end = following[0][1]
        return None


@dataclass(frozen=True, slots=True)
class _Rules:
    """A schedule's weekly intervals and closures in the shape lookups want."""

    # Seven entries (Monday first): merged, sorted (start, end) minute ranges.
    weekly: tuple[tuple[tuple[int, int], ...], ...]
    one_off: frozenset[date]
    yearly: frozenset[tuple[int, int]]  # (month, day)
    open_all_week: bool


@lru_cache(maxsize=1024)
def _rules(schedule: Schedule) -> _Rules:
    if schedule.intervals:
        per_day: list[list[tuple[int, int]]] = [[] for _ in range(7)]
        for interval in schedule.intervals:
            per_day[interval.weekday].append((interval.start, interval.end))
        weekly = tuple(_merge_minutes(ranges) for ranges in per_day)
    else:
        weekly = (((0, MINUTES_PER_DAY),),) * 7
    return _Rules(
        weekly=weekly,
        one_off=frozenset(c.day for c in schedule.closures if not c.yearly),
        yearly=frozenset((c.day.month, c.day.day) for c in schedule.closures if c.yearly),
        open_all_week=all(ranges == ((0, MINUTES_PER_DAY),) for ranges in weekly),
    )


def _merge_minutes(ranges: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return tuple(merged)


def _is_closed(rules: _Rules, day: date) -> bool:
    return day in rules.one_off or (day.month, day.day) in rules.yearly


def _next_closure_after(rules: _Rules, day: date) -> date | None:
    upcoming = [closed for closed in rules.one_off if closed > day]
    for month, day_of_month in rules.yearly:
        # A yearly Feb 29 may be 8 years away (2096 -> 2104).
        for year in range(day.year, day.year + 9):
            try:
                occurrence = date(year, month, day_of_month)
            except ValueError:
                continue
            if occurrence > day:
                upcoming.append(occurrence)
                break
    return min(upcoming, default=None)


@lru_cache(maxsize=_SPANS_CACHE_SIZE)
def _opening_spans(schedule: Schedule, day: date) -> tuple[Span, ...]:
    """The UTC spans during which `day`'s weekly intervals are open.

    Sorted, disjoint and never touching; empty on a closure date. Away periods
    are not applied here (they are not tied to dates).
    """
    rules = _rules(schedule)
    if _is_closed(rules, day):
        return ()
    spans: list[Span] = []
    for start_minute, end_minute in rules.weekly[day.weekday()]:
        start = _local_instant(schedule.timezone, day, start_minute)
        end = _local_instant(schedule.timezone, day, end_minute)
        if start >= end:  # wholly inside a spring-forward gap
            continue
        # 01:00-02:00 and 03:00-04:00 touch on a spring-forward night.
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(end, spans[-1][1]))
        else:
            spans.append((start, end))
    return tuple(spans)


@lru_cache(maxsize=_SPANS_CACHE_SIZE)
def _local_instant(zone_key: str, day: date, minute: int) -> datetime:
    """The UTC instant at `minute` past local midnight on `day` (1440 = next midnight).

    Wall times that do not exist (the spring-forward gap, 02:00-03:00 on the
    last Sunday of March in Paris) resolve to the first real instant after
    the gap, the transition itself: an interval starting at 02:30 that day
    opens at 03:00 local, as a wall clock would show.

    Wall times that happen twice (the fall-back hour, 02:00-03:00 on the last
    Sunday of October in Paris) resolve to the first occurrence (fold=0), so
    every interval stays one unbroken span of time: a shift from 02:30 to 04:00
    opens at the first 02:30 and stays open through the repeated hour; one
    ending at 02:30 ends at the first 02:30 and does not reopen when clocks
    show 02:00 again. Only inside that repeated hour can this differ from
    reading the wall clock alone.
    """
    if minute == MINUTES_PER_DAY:
        day, minute = day + timedelta(days=1), 0
    zone = ZoneInfo(zone_key)
    wall = datetime.combine(day, time(minute // 60, minute % 60))
    instant = wall.replace(tzinfo=zone).astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == wall:
        return instant
    return _end_of_gap(zone, wall)


def _end_of_gap(zone: ZoneInfo, wall: datetime) -> datetime:
    """The first instant whose wall time is >= `wall`, a time inside a gap.

    Read with the offset after the transition (fold=1), `wall` gives an
    instant before the transition; with the offset before it (fold=0), one
    after. Offsets and transitions are whole seconds, so a binary search over
    seconds between the two finds the transition exactly.
    """
    first = int(wall.replace(tzinfo=zone, fold=1).timestamp())
    second = int(wall.replace(tzinfo=zone, fold=0).timestamp())
    before, after = min(first, second), max(first, second)
    while after - before > 1:
        middle = (before + after) // 2
        if datetime.fromtimestamp(middle, zone).replace(tzinfo=None) >= wall:
            after = middle
        else:
            before = middle
    return datetime.fromtimestamp(after, UTC)


def _day_start(zone_key: str, day: date) -> datetime:
    return _local_instant(zone_key, day, 0)


def _day_of(zone_key: str, instant: datetime) -> date:
    """The local date whose [midnight, next midnight) holds `instant`.

    That is instant's local date, except in zones whose clocks fall back
    across midnight, where the repeated late evening belongs to the new day
    (its midnight being the first one, fold=0).
    """
    day = instant.astimezone(ZoneInfo(zone_key)).date()
    if instant < _day_start(zone_key, day):
        return day - timedelta(days=1)
    if instant >= _day_start(zone_key, day + timedelta(days=1)):
        return day + timedelta(days=1)
    return day


def _away_covering(away: tuple[AwayPeriod, ...], instant: datetime) -> AwayPeriod | None:
    """The away period covering `instant` that lasts longest, if any."""
    covering = [period for period in away if period.covers(instant)]
    if not covering:
        return None
    open_ended = [period for period in covering if period.until is None]
    if open_ended:
        return open_ended[0]
    return max(covering, key=lambda period: period.until or period.start)


def _as_utc(t: datetime) -> datetime:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"expected an aware datetime, got naive {t!r}")
    return t.astimezone(UTC)


# --- Opening hours as text ---------------------------------------------------

_WEEKDAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_WEEKDAYS_FR = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
_MONTHS_EN = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_MONTHS_FR = (
    "janvier", "février", "mars", "avril", "mai", "juin",
    "juillet", "août", "septembre", "octobre", "novembre", "décembre",
)  # fmt: skip

# English and French names, full or three letters, for `set_hours` and forms.
_DAY_NAMES: dict[str, int] = {
    **{name.lower(): index for index, name in enumerate(_WEEKDAYS_EN)},
    **{name.lower()[:3]: index for index, name in enumerate(_WEEKDAYS_EN)},
    **{name: index for index, name in enumerate(_WEEKDAYS_FR)},
    **{name[:3]: index for index, name in enumerate(_WEEKDAYS_FR)},
}
_GROUP = re.compile(r"(?P<days>[^\d]+?)\s*(?P<times>\d.*)")
_TIME = re.compile(r"(?P<hours>\d{1,2}):(?P<minutes>\d{2})")


def parse_hours(spec: str) -> tuple[OpeningInterval, ...]:
    """Parse "mon-fri 09:00-12:00,14:00-18:00; sat 10:00-13:00" into intervals.

    Groups are separated by ";" or new lines; each is days (names or ranges,
    comma-separated) then times (comma-separated ranges, "24:00" may end one).
    A blank spec gives no intervals, which means always open. Raises
    ValueError naming the faulty part, including overlaps and intervals that
    cross midnight.
    """
    intervals: list[OpeningInterval] = []
    for raw_group in re.split(r"[;\n]", spec):
        group = raw_group.strip()
        if not group:
            continue
        match = _GROUP.fullmatch(group)
        if match is None:
            raise ValueError(f"{group!r}: expected days then times, e.g. 'mon-fri 09:00-18:00'")
        weekdays = _parse_days(match["days"], group)
        times = re.sub(r"\s+", "", match["times"]).replace("\N{EN DASH}", "-")
        for piece in times.split(","):
            start, end = _parse_time_range(piece, group)
            intervals += [OpeningInterval(weekday, start, end) for weekday in weekdays]
    problems = validate_intervals(intervals)
    if problems:
        raise ValueError("; ".join(problems))
    return tuple(sorted(intervals, key=lambda interval: (interval.weekday, interval.start)))


def _parse_days(text: str, group: str) -> list[int]:
    weekdays: list[int] = []
    for token in re.sub(r"\s+", "", text).replace("\N{EN DASH}", "-").lower().split(","):
        first, separator, last = token.partition("-")
        if first not in _DAY_NAMES or (separator and last not in _DAY_NAMES):
            raise ValueError(
                f"{group!r}: unknown day {token!r}; use mon, tue, wed, thu, fri, sat, sun "
                "or a range such as mon-fri"
            )
        start = _DAY_NAMES[first]
        end = _DAY_NAMES[last] if separator else start
        if end < start:
            raise ValueError(
                f"{group!r}: day range {token!r} runs backwards; weeks start on Monday"
            )
        weekdays += [weekday for weekday in range(start, end + 1) if weekday not in weekdays]
    return weekdays


def _parse_time_range(text: str, group: str) -> tuple[int, int]:
    start_text, separator, end_text = text.partition("-")
    if not separator:
        raise ValueError(f"{group!r}: expected a time range such as 09:00-18:00, got {text!r}")
    return _parse_time(start_text, group), _parse_time(end_text, group)


def _parse_time(text: str, group: str) -> int:
    match = _TIME.fullmatch(text)
    if match is None:
        raise ValueError(f"{group!r}: expected a time such as 09:00, got {text!r}")
    hours, minutes = int(match["hours"]), int(match["minutes"])
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise ValueError(f"{group!r}: {text!r} is not a time between 00:00 and 24:00")
    return hours * 60 + minutes


def validate_intervals(intervals: Iterable[OpeningInterval]) -> list[str]:
    """Human-readable problems with these intervals; empty when they are fine.

    Reports out-of-range values (crossing midnight included), an end not
    after its start, and intervals of the same day that overlap (touching,
    12:00-14:00 then 14:00-18:00, is fine).
    """
    problems: list[str] = []
    per_day: dict[int, list[OpeningInterval]] = {}
    for interval in intervals:
        problem = _interval_problem(interval)
        if problem is None:
            per_day.setdefault(interval.weekday, []).append(interval)
        else:
            problems.append(problem)
    for weekday in sorted(per_day):
        ordered = sorted(per_day[weekday], key=lambda interval: (interval.start, interval.end))
        reach = ordered[0]
        for current in ordered[1:]:
            if current.start < reach.end:
                problems.append(
                    f"{_WEEKDAYS_EN[weekday]}: {_hhmm(reach.start)}-{_hhmm(reach.end)} "
                    f"overlaps {_hhmm(current.start)}-{_hhmm(current.end)}"
                )
            if current.end > reach.end:
                reach = current
    return problems


def _interval_problem(interval: OpeningInterval) -> str | None:
    if not 0 <= interval.weekday <= 6:
        return f"weekday {interval.weekday}: must be 0 (Monday) to 6 (Sunday)"
    label = f"{_WEEKDAYS_EN[interval.weekday]} {_hhmm(interval.start)}-{_hhmm(interval.end)}"
    if not 0 <= interval.start < MINUTES_PER_DAY:
        return f"{label}: the start must be between 00:00 and 23:59"
    if not 0 < interval.end <= MINUTES_PER_DAY:
        return (
            f"{label}: the end must be between 00:01 and 24:00; an interval may not cross "
            "midnight, split it in two"
        )
    if interval.end <= interval.start:
        return (
            f"{label}: the end must come after the start; an interval may not cross midnight, "
            "split it in two (e.g. 22:00-24:00, then 00:00-02:00 the next day)"
        )
    return None


def _hhmm(minutes: int) -> str:
    if not 0 <= minutes <= MINUTES_PER_DAY:
        return f"{minutes} min"
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def format_next_opening(t: datetime, *, language: str, now: datetime, tz: str) -> str:
    """`t` as a customer reads it in an away message, in the Page's zone.

    French: "aujourd'hui à 14 h 30", "demain à 9 h", "lundi à 9 h" (within 6
    days), else "le 24 décembre à 9 h". English: "today at 2:30 PM",
    "tomorrow at 9:00 AM", "Monday at 9:00 AM", "December 24 at 9:00 AM".
    The year is added when it is not now's. Languages other than French
    ("fr", "fr-FR"…) get English rather than an error: an away message
    must still go out.
    """
    zone = ZoneInfo(tz)
    local = _as_utc(t).astimezone(zone)
    today = _as_utc(now).astimezone(zone).date()
    days_ahead = (local.date() - today).days
    if language.lower().startswith("fr"):
        return _format_fr(local, days_ahead, same_year=local.year == today.year)
    return _format_en(local, days_ahead, same_year=local.year == today.year)


def _format_fr(local: datetime, days_ahead: int, *, same_year: bool) -> str:
    clock = f"{local.hour} h" if local.minute == 0 else f"{local.hour} h {local.minute:02d}"
    if days_ahead == 0:
        return f"aujourd'hui à {clock}"
    if days_ahead == 1:
        return f"demain à {clock}"
    if 1 < days_ahead <= 6:
        return f"{_WEEKDAYS_FR[local.weekday()]} à {clock}"
    day = "1er" if local.day == 1 else str(local.day)
    year = "" if same_year else f" {local.year}"
    return f"le {day} {_MONTHS_FR[local.month - 1]}{year} à {clock}"


def _format_en(local: datetime, days_ahead: int, *, same_year: bool) -> str:
    hour = local.hour % 12 or 12
    clock = f"{hour}:{local.minute:02d} {'AM' if local.hour < 12 else 'PM'}"
    if days_ahead == 0:
        return f"today at {clock}"
    if days_ahead == 1:
        return f"tomorrow at {clock}"
    if 1 < days_ahead <= 6:
        return f"{_WEEKDAYS_EN[local.weekday()]} at {clock}"
    year = "" if same_year else f", {local.year}"
    return f"{_MONTHS_EN[local.month - 1]} {local.day}{year} at {clock}"


# --- Public holidays ---------------------------------------------------------


def french_public_holidays(year: int) -> list[tuple[date, str]]:
    """Metropolitan France's 11 public holidays in `year`, in date order.

    Offered to Pages as closures. Alsace-Moselle's two extra days (Good
    Friday, St Stephen's) are regional, so they are not included.
    """
    easter = _easter_sunday(year)
    return sorted(
        [
            (date(year, 1, 1), "Jour de l'an"),
            (easter + timedelta(days=1), "Lundi de Pâques"),
            (date(year, 5, 1), "Fête du Travail"),
            (date(year, 5, 8), "Victoire 1945"),
            (easter + timedelta(days=39), "Ascension"),
            (easter + timedelta(days=50), "Lundi de Pentecôte"),
            (date(year, 7, 14), "Fête nationale"),
            (date(year, 8, 15), "Assomption"),
            (date(year, 11, 1), "Toussaint"),
            (date(year, 11, 11), "Armistice 1918"),
            (date(year, 12, 25), "Noël"),
        ]
    )


def _easter_sunday(year: int) -> date:
    """Easter Sunday by the anonymous Gregorian algorithm (Meeus/Jones/Butcher)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    ell = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ell) // 451
    month, day = divmod(h + ell - 7 * m + 114, 31)
    return date(year, month, day + 1)

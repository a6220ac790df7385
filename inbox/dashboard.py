"""Reads for the responsiveness dashboard, the API's figures and the SLA banner.

Every figure comes from tallies (inbox.tallies): a window (now - N days, now]
is cut into the Page's local days; the days that are wholly inside it and
have a usable DailyRollup are read from it, the rest (today, the window's
first partial day, a day marked stale) from the ResponseOpportunity rows of
just those ranges, on the index `ro_page_kind_window`. So a 30-day view costs
about 30 small rows plus one or two days of ROs, whatever the history.

The dashboard page reads its window and its four-week history together
(`window_and_history`): one query for their rollups, one for their raw ROs;
the replies (the agents table) are read only when asked for (`Window.replies`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from fractions import Fraction
from functools import cached_property, lru_cache
from itertools import chain
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.db.models import Case, Count, F, Min, Q, QuerySet, TextField, When
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.utils import timezone

from . import responsiveness as rules
from . import tallies
from .access import pages_for
from .models import (
    Channel,
    Conversation,
    ConversationStatus,
    DailyRollup,
    Direction,
    Membership,
    Message,
    Page,
    ResponseOpportunity,
    SendStatus,
    joined_contact_display_name,
)
from .services.rollups import day_bounds, local_day

MICROSECOND = timedelta(microseconds=1)
# The window lengths the dashboard offers (DOMAIN.md's is 7 days by default).
WINDOW_CHOICES = (1, 7, 30)
# The trend and the heatmap cover four whole weeks: every hour of the week
# then appears exactly four times, so no hour looks busier than it is.
HISTORY_DAYS = 28
# Meta refuses any reply 7 days after the customer's last message: a miss
# older than that is history, not something the banner can ask anyone to do.
REPLY_LIMIT = timedelta(days=7)
RECENT_MISSES = 20
DEPARTURES_SHOWN = 3

# Parsed rollup days kept per process (`_parsed_rollup`): the four weeks of
# each Page and kind an agency of 10 Pages looks at (10 x 2 kinds x ~30
# days) fit. A day parsed whole holds ~25 kB (its text included), for the
# trend only ~8 kB (1 M bench): at most ~25 MB, ~8 MB for the usual mix.
ROLLUPS_KEPT = 1024
# Sums of rollup days kept per process (`_rolled_up_sum`): each Page and
# kind's window (1, 7 or 30 days) and four weeks, which change at midnight.
ROLLUP_SUMS_KEPT = 128

_RO_FIELDS = ("opened_at", "clock_start", "closed_at", "starts_conversation", "responder_id")


@dataclass
class DayTally:
    """One day's (or one range's) tallies: clocks started at the next opening
    (`hours`, as Meta counts) and at the customer's message (`calendar`), and
    each agent's replies: {user id: [replies, unedited saved replies]}."""

    hours: tallies.Tally = field(default_factory=tallies.Tally)
    calendar: tallies.Tally = field(default_factory=tallies.Tally)
    replies: dict[int, list[int]] = field(default_factory=dict)
    # The latest instant at which an open RO of these could still change them.
    settles_at: datetime | None = None
    # The [start, end) read from the ROs themselves; None for a rollup's day
    # (whose replies are always there: raw ranges count theirs only when asked).
    piece: tuple[datetime, datetime] | None = None
    # A piece's misses (in opening hours, as `hours` counts them): their
    # openings, in no order, so that `departures` needs no query when the
    # oldest misses of a window lie in the days read raw. None for a rollup's
    # day, and for a sum (`add` leaves it alone).
    missed_openings: list[datetime] | None = None

    def add(self, other: DayTally) -> None:
        self.hours.add(other.hours)
        self.calendar.add(other.calendar)
        for pk, (count, unedited) in other.replies.items():
            mine = self.replies.setdefault(pk, [0, 0])
            mine[0] += count
            mine[1] += unedited
        if other.settles_at and (self.settles_at is None or other.settles_at > self.settles_at):
            self.settles_at = other.settles_at

    @classmethod
    def from_rollup(cls, tally: Mapping[str, Any], replies: Mapping[str, list[int]]) -> DayTally:
        """A DailyRollup's `tally` and `replies`."""
        return cls(
            hours=tallies.Tally.from_json(tally.get("hours", {})),
            calendar=tallies.Tally.from_json(tally.get("calendar", {})),
            replies={int(pk): list(counts) for pk, counts in replies.items()},
        )

    @classmethod
    def from_rollup_hours(cls, hours: Mapping[str, Any]) -> DayTally:
        """Only what the trend and the heatmap read of a DailyRollup: its
        `tally`'s clocks in opening hours (`tally->'hours'`), and of those
        only what Tally.from_json(trend_only=True) keeps: no calendar clocks,
        no replies."""
        return cls(hours=tallies.Tally.from_json(hours, trend_only=True))


@lru_cache(maxsize=ROLLUPS_KEPT)
def _parsed_rollup(tally: str, replies: str | None, trend_only: bool) -> DayTally:
    """A rollup's day, parsed once per process for each distinct stored text.

    The key is the stored JSON itself (read as text), so a day computed again
    is another key: nothing can be stale and nothing is invalidated. The
    DayTally is shared by every request that reads the same day: read it,
    never add to it (as read_days says). `trend_only`: `tally` is the text of
    the stored `tally->'hours'` alone, and `replies` is not read (None)."""
    if trend_only:
        return DayTally.from_rollup_hours(json.loads(tally))
    return DayTally.from_rollup(json.loads(tally), json.loads(replies or "{}"))


class _SameDays(tuple[DayTally, ...]):
    """Days' tallies as a cache key that matches the very same objects, not
    equal ones: the rollup days are shared per stored content
    (`_parsed_rollup`), so the same objects are the same settled days. The
    cache entry holds the objects, so their ids cannot be reused meanwhile."""

    __slots__ = ()

    def __hash__(self) -> int:
        return hash(tuple(map(id, self)))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, _SameDays) and len(self) == len(other)
            and all(mine is theirs for mine, theirs in zip(self, other, strict=True))
        )


@lru_cache(maxsize=ROLLUP_SUMS_KEPT)
def _rolled_up_sum(days: _SameDays) -> DayTally:
    """The sum of whole rollup days (a window's, or four weeks'), added up
    once per process for each set of days; read it, never add to it."""
    total = DayTally()
    for tally in days:
        total.hours.add(tally.hours)
        total.calendar.add(tally.calendar)
    return total


def _ranges_q(field_name: str, ranges: Iterable[tuple[datetime, datetime]]) -> Q:
    q = Q()
    for start, end in ranges:
        q |= Q(**{f"{field_name}__gte": start, f"{field_name}__lt": end})
    return q


def _merged(pieces: Iterable[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """The union of [start, end) ranges as few ranges as possible (a shorter OR)."""
    out: list[tuple[datetime, datetime]] = []
    for start, end in sorted(pieces):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(end, out[-1][1]))
        else:
            out.append((start, end))
    return out


class _LocalDays:
    """`local_day` for many instants of one Page: the day's bounds are
    computed once per day instead of once per row."""

    def __init__(self, tz: str) -> None:
        self.tz = tz
        self.zone = ZoneInfo(tz)
        self._bounds: dict[date, tuple[datetime, datetime]] = {}

    def bounds(self, day: date) -> tuple[datetime, datetime]:
        bounds = self._bounds.get(day)
        if bounds is None:
            bounds = self._bounds[day] = day_bounds(self.tz, day)
        return bounds

    def day(self, local: datetime) -> date:
        """The local day (as `local_day` says) of an instant already in the Page's zone."""
        day = local.date()
        start, end = self.bounds(day)
        if local < start:
            return day - timedelta(days=1)
        if local >= end:
            return day + timedelta(days=1)
        return day


def _piece_tallies(
    *, page: Page, kind: str, pieces: Iterable[tuple[datetime, datetime]], now: datetime,
    days: _LocalDays, replies: bool,
) -> dict[tuple[datetime, datetime], DayTally]:
    """Tallies of the ROs opened in each piece (a [start, end) inside one
    local day; pieces may overlap) and, if asked, of the replies sent then:
    one query for the ROs of all the pieces, one for their replies."""
    pieces = sorted({(start, end) for start, end in pieces if start < end})
    missed_openings: dict[tuple[datetime, datetime], list[datetime]] = {piece: [] for piece in pieces}
    out = {piece: DayTally(piece=piece, missed_openings=missed_openings[piece]) for piece in pieces}
    if not pieces:
        return out
    by_day: dict[date, list[tuple[datetime, datetime]]] = {}
    for piece in pieces:
        by_day.setdefault(days.day(piece[0].astimezone(days.zone)), []).append(piece)
    ranges = _merged(pieces)
    target = page.target_seconds(kind)
    rows = (
        ResponseOpportunity.objects.filter(page=page, kind=kind)
        .filter(_ranges_q("opened_at", ranges))
        .values_list(*_RO_FIELDS)
    )
    at_risk, add = page.at_risk_seconds, tallies.add_opportunity
    for opened_at, clock_start, closed_at, starts_conversation, responder_id in rows:
        local = opened_at.astimezone(days.zone)
        holders = [
            (out[piece], missed_openings[piece])
            for piece in by_day.get(days.day(local), ()) if piece[0] <= opened_at < piece[1]
        ]
        if not holders:
            continue
        facts = tallies.Facts(
            opened_at, clock_start, closed_at, starts_conversation, responder_id,
            local.weekday() * 24 + local.hour,  # hour_of_week
        )
        settles = tallies.settles_at(facts, target_seconds=target)
        for holder, its_misses in holders:
            missed = holder.hours.missed
            add(holder.hours, facts, now=now, target_seconds=target, at_risk_seconds=at_risk)
            if holder.hours.missed != missed:
                its_misses.append(opened_at)
            add(holder.calendar, facts, now=now, target_seconds=target, at_risk_seconds=at_risk, calendar=True)
            if settles and (holder.settles_at is None or settles > holder.settles_at):
                holder.settles_at = settles
    if replies:
        _add_replies(page=page, kind=kind, into=out, days=days)
    return out


def _add_replies(
    *, page: Page, kind: str, into: dict[tuple[datetime, datetime], DayTally], days: _LocalDays
) -> None:
    """Count the replies sent in each piece of `into` (one query)."""
    by_day: dict[date, list[tuple[datetime, datetime]]] = {}
    for piece in into:
        by_day.setdefault(days.day(piece[0].astimezone(days.zone)), []).append(piece)
    sent = (
        _replies(page=page, kind=kind)
        .filter(_ranges_q("timestamp", _merged(into)))
        .values_list("author_id", "timestamp", "is_unedited_saved_reply")
    )
    for author_id, at, unedited in sent:
        for piece in by_day.get(days.day(at.astimezone(days.zone)), ()):
            if piece[0] <= at < piece[1]:
                counts = into[piece].replies.setdefault(author_id, [0, 0])
                counts[0] += 1
                counts[1] += unedited


def raw_tallies(
    *, page: Page, kind: str, ranges: list[tuple[datetime, datetime]], now: datetime
) -> dict[date, DayTally]:
    """Tallies, per local day, of the ROs opened in `ranges` ([start, end)
    each) and of the replies sent then, read from the rows themselves."""
    days = _LocalDays(page.timezone)
    pieces = []
    for start, end in ranges:
        day = days.day(start.astimezone(days.zone))
        while start < end:
            day_end = days.bounds(day)[1]
            pieces.append((start, min(end, day_end)))
            start, day = day_end, day + timedelta(days=1)
    tallied = _piece_tallies(page=page, kind=kind, pieces=pieces, now=now, days=days, replies=True)
    out: dict[date, DayTally] = {}
    for (start, _end), tally in tallied.items():
        out.setdefault(days.day(start.astimezone(days.zone)), DayTally()).add(tally)
    return out


def _replies(*, page: Page, kind: str) -> QuerySet[Message]:
    """The Page's replies written by its members in Réactif, of one kind
    (a private reply to a comment belongs to the public thread)."""
    return Message.objects.filter(
        page=page,
        # Served by `msg_author_recent_out` (author, timestamp; outbound).
        author_id__in=Membership.objects.filter(page=page).values("user_id"),
        direction=Direction.OUTBOUND,
        is_automatic=False,
        send_status__in=[SendStatus.SENT, SendStatus.EXTERNAL],
        conversation__kind=kind,
    ).exclude(channel=Channel.NOTE)


@dataclass(frozen=True)
class Span:
    """A range [start, end) of RO openings to tally per local day."""

    start: datetime
    end: datetime
    # Only what the trend and the heatmap read of a rollup (DayTally.from_rollup_hours).
    trend_only: bool = False


def read_days(
    *, page: Page, kind: str, spans: list[Span], now: datetime, replies: bool = False
) -> list[dict[date, DayTally]]:
    """Tallies per local day of the ROs opened in each span: rollups for
    whole days that have a usable one, the ROs themselves for the rest.
    Several spans (the window and the four weeks) share one read: one query
    for the rollups, one for the ROs, one for the replies (only when asked:
    the rollups hold them, the raw days need a query).

    The DayTally objects are shared between spans: read them, never add to them.
    """
    tz = page.timezone
    days = _LocalDays(tz)
    filled = [(span.start, span.end) for span in spans if span.start < span.end]
    if not filled:
        return [{} for _ in spans]
    first = min(days.day(start.astimezone(days.zone)) for start, _ in filled)
    last = max(days.day((end - MICROSECOND).astimezone(days.zone)) for _, end in filled)
    # A day that a span other than the trend's reads whole is read and parsed
    # whole, once; the trend's other days only as `tally->'hours'`, without
    # the replies: PostgreSQL's turning the stored JSON into text is most of
    # the statement's time, and the calendar clocks and replies are more than
    # half of a day's text (1 M bench: 3.9 kB a day, its hours 1.9 kB).
    whole = set()
    for span in spans:
        day = days.day(span.start.astimezone(days.zone))
        while not span.trend_only and days.bounds(day)[0] < span.end:
            if span.start <= days.bounds(day)[0] and days.bounds(day)[1] <= span.end:
                whole.add(day)
            day += timedelta(days=1)
    read_whole = Q(day__in=sorted(whole))
    # The JSON is read as text: the key of the parsed days (`_parsed_rollup`),
    # decoded only the first time this process sees it.
    usable = {
        day: (tally, replies)
        for day, tally, replies in DailyRollup.objects.filter(
            page=page, kind=kind, day__gte=first, day__lte=last, stale=False,
            settles_at__isnull=True, timezone=tz, target_seconds=page.target_seconds(kind),
            # A tally computed after `now` may count as missed what was
            # still pending then (figures asked "as of" an earlier instant).
            computed_at__lte=now,
        ).values_list(
            "day",
            Case(When(read_whole, then=Cast("tally", TextField())), default=Cast(KT("tally__hours"), TextField())),
            Case(When(read_whole, then=Cast("replies", TextField())), default=None),
        )
    }
    parsed: dict[date, DayTally] = {}
    wanted: list[list[tuple[date, tuple[datetime, datetime]]]] = []
    outs: list[dict[date, DayTally]] = []
    for span in spans:
        start, end = span.start, span.end
        out: dict[date, DayTally] = {}
        raw: list[tuple[date, tuple[datetime, datetime]]] = []
        day = days.day(start.astimezone(days.zone))
        while start < end:
            day_start, day_end = days.bounds(day)
            if day_start >= end:
                break
            if day in usable and start <= day_start and day_end <= end:
                if day not in parsed:
                    parsed[day] = _parsed_rollup(*usable[day], trend_only=day not in whole)
                out[day] = parsed[day]
            else:
                raw.append((day, (max(start, day_start), min(end, day_end))))
            day += timedelta(days=1)
        outs.append(out)
        wanted.append(raw)
    tallied = _piece_tallies(
        page=page, kind=kind, pieces=[piece for raw in wanted for _, piece in raw], now=now, days=days,
        replies=replies,
    )
    for out, raw in zip(outs, wanted, strict=True):
        for day, piece in raw:
            out[day] = tallied[piece]
    return outs


def _bucket_resolver(
    *, page: Page, kind: str, start: datetime, end: datetime, calendar: bool
) -> tallies.BucketResolver:
    """Exact times of one second's bucket of answered conversation starts:
    the few ROs whose time falls in that second, when Meta's "fastest 90 %"
    cut falls among them."""
    clock = "opened_at" if calendar else "clock_start"

    def resolve(second: int, how_many: int) -> int:
        rows = ResponseOpportunity.objects.filter(
            page=page, kind=kind, opened_at__gte=start, opened_at__lt=end,
            starts_conversation=True, closed_at__isnull=False,
            closed_at__lt=F(clock) + timedelta(seconds=second + 1),
        )
        if second:
            rows = rows.filter(closed_at__gte=F(clock) + timedelta(seconds=second))
        values = sorted(
            max(0, (closed_at - clock_start) // MICROSECOND)
            for closed_at, clock_start in rows.values_list("closed_at", clock)
        )
        return sum(value for value in values[:how_many] if value <= tallies.DAY_MICROSECONDS)

    return resolve


# ---------------------------------------------------------------------------
# A window's figures


@dataclass
class Window:
    """DOMAIN.md's figures for one Page, one kind, the window (now - days, now]."""

    page: Page
    kind: str
    days: int
    now: datetime
    target_seconds: int
    target_share: Fraction
    # The ROs' tallies; the replies are apart (`replies`).
    tally: DayTally
    figures: rules.Figures  # in opening hours, as Meta counts (the default)
    calendar: rules.Figures  # clocks started at the customer's message
    # The same tallies per local day (the first and last days: their part in the window).
    per_day: dict[date, DayTally] = field(default_factory=dict)

    @property
    def start(self) -> datetime:
        return self.now - timedelta(days=self.days)

    @cached_property
    def replies(self) -> dict[int, list[int]]:
        """Each author's replies in the window: {user id: [replies, unedited
        saved replies]}. The rollups hold their days'; the days read raw are
        counted now, in one query, since only the agents table needs them."""
        rolled_up = (
            (pk, count, unedited)
            for tally in self.per_day.values() if tally.piece is None
            for pk, (count, unedited) in tally.replies.items()
        )
        # The days read raw are disjoint pieces of the window, and only their
        # sum is wanted: PostgreSQL counts them per author.
        raw = [tally.piece for tally in self.per_day.values() if tally.piece is not None]
        counted: Iterable[tuple[int, int, int]] = (
            _replies(page=self.page, kind=self.kind)
            .filter(_ranges_q("timestamp", _merged(raw)))
            .values("author_id")
            .annotate(replies=Count("pk"), unedited=Count("pk", filter=Q(is_unedited_saved_reply=True)))
            .values_list("author_id", "replies", "unedited")
            if raw
            else ()
        )
        out: dict[int, list[int]] = {}
        for pk, count, unedited in chain(rolled_up, counted):
            mine = out.setdefault(pk, [0, 0])
            mine[0] += count
            mine[1] += unedited
        return out

    @property
    def standing(self) -> str:
        """kept / at_risk / lost, or none before any decided RO.

        At risk: still at or above the target, but the misses it can still
        afford are fewer than the customers waiting now (or none at all).
        """
        figures = self.figures
        if figures.target_met is None:
            return "none"
        if not figures.target_met:
            return "lost"
        budget = figures.miss_budget if figures.miss_budget is not None else figures.opportunities
        return "at_risk" if budget < max(1, figures.pending) else "kept"


def _window_span(days: int, now: datetime) -> Span:
    """(now - days, now] as a half-open range [start, end) of microseconds."""
    return Span(now - timedelta(days=days) + MICROSECOND, now + MICROSECOND)


def _window_from(
    *, page: Page, kind: str, days: int, now: datetime, per_day: dict[date, DayTally]
) -> Window:
    span = _window_span(days, now)
    rolled_up = _rolled_up_sum(_SameDays(tally for tally in per_day.values() if tally.piece is None))
    total = DayTally(hours=rolled_up.hours.copy(), calendar=rolled_up.calendar.copy())
    for tally in per_day.values():
        if tally.piece is not None:
            total.hours.add(tally.hours)
            total.calendar.add(tally.calendar)
    share = Fraction(page.target_share_permille, 1000)

    def figures(tally: tallies.Tally, calendar: bool) -> rules.Figures:
        resolver = _bucket_resolver(page=page, kind=kind, start=span.start, end=span.end, calendar=calendar)
        return tallies.figures(tally, target_share=share, resolve_bucket=resolver)

    return Window(
        page=page, kind=kind, days=days, now=now, target_seconds=page.target_seconds(kind),
        target_share=share, tally=total,
        figures=figures(total.hours, False), calendar=figures(total.calendar, True), per_day=per_day,
    )


def window(*, page: Page, kind: str, days: int, now: datetime | None = None) -> Window:
    now = now or timezone.now()
    (per_day,) = read_days(page=page, kind=kind, spans=[_window_span(days, now)], now=now)
    return _window_from(page=page, kind=kind, days=days, now=now, per_day=per_day)


def _missed(*, target_seconds: int, now: datetime) -> Q:
    """DOMAIN.md's "missed", in SQL: closed late, or still open strictly after
    clock start + target. Exact, and independent of the stored status."""
    target = timedelta(seconds=target_seconds)
    return Q(closed_at__isnull=False, closed_at__gt=F("clock_start") + target) | Q(
        closed_at__isnull=True, clock_start__lt=now - target
    )


def _window_ros(win: Window) -> QuerySet[ResponseOpportunity]:
    return ResponseOpportunity.objects.filter(
        page=win.page, kind=win.kind, opened_at__gt=win.start, opened_at__lte=win.now
    )


def _misses_within(win: Window, *, limit: int, newest: bool) -> QuerySet[ResponseOpportunity]:
    """The window's misses, narrowed to the days that hold the `limit` newest
    (or oldest) of them: the daily tallies know how many each day has, so
    the query never walks a month of ROs to find a handful of misses."""
    days = sorted((day for day, tally in win.per_day.items() if tally.hours.missed), reverse=newest)
    found, kept = 0, []
    for day in days:
        kept.append(day)
        found += win.per_day[day].hours.missed
        if found >= limit:
            break
    qs = _window_ros(win).filter(_missed(target_seconds=win.target_seconds, now=win.now))
    if not kept:
        return qs.none()
    tz = win.page.timezone
    if newest:
        return qs.filter(opened_at__gte=day_bounds(tz, min(kept))[0]).order_by("-opened_at")
    return qs.filter(opened_at__lt=day_bounds(tz, max(kept))[1]).order_by("opened_at")


class Miss(NamedTuple):
    """One of the window's latest misses, as its line shows it."""

    opened_at: datetime
    clock_start: datetime
    closed_at: datetime | None
    response_seconds: int | None
    conversation_id: int
    customer: str  # the contact's display name ("" without a contact)
    answered_by: str  # the member who closed it in Réactif, or ""


def recent_misses(win: Window, *, limit: int = RECENT_MISSES) -> list[Miss]:
    """The window's latest misses, newest first, with what the list shows.

    Read as values, not as ROs with their conversation, contact and
    responder: building three models' instances for each of 20 rows cost
    more than the query itself."""
    rows = _misses_within(win, limit=limit, newest=True).values_list(
        "opened_at", "clock_start", "closed_at", "response_seconds", "conversation_id",
        "conversation__contact__name", "conversation__contact__first_name", "conversation__contact__last_name",
        "responder__first_name", "responder__last_name", "responder__username",
    )[:limit]
    User = get_user_model()
    misses = []
    for (opened_at, clock_start, closed_at, seconds, conversation_id, name, first, last,
         responder_first, responder_last, responder_username) in rows:
        customer = joined_contact_display_name(name, first, last)
        answered_by = ""
        if responder_username is not None:
            # The user model's own words (an unsaved instance: nothing is read).
            responder = User(first_name=responder_first, last_name=responder_last, username=responder_username)
            answered_by = responder.get_full_name() or responder.get_username()
        misses.append(Miss(opened_at, clock_start, closed_at, seconds, conversation_id, customer, answered_by))
    return misses


@dataclass
class Departure:
    opened_at: datetime
    leaves_at: datetime


def departures(
    win: Window, *, limit: int = DEPARTURES_SHOWN, misses: list[Miss] | None = None
) -> list[Departure]:
    """When the window's oldest misses leave it (their opening + the window).

    `misses`: the window's latest misses (`recent_misses`). When they are all
    of its misses (as many as its tally counts), the oldest are among them.
    """
    span = timedelta(days=win.days)
    openings: Iterable[datetime] | None
    if misses is not None and len(misses) == win.tally.hours.missed:
        openings = sorted(ro.opened_at for ro in misses)[:limit]
    else:
        openings = _oldest_misses_read_raw(win, limit=limit)
    if openings is None:
        openings = _misses_within(win, limit=limit, newest=False).values_list("opened_at", flat=True)[:limit]
    return [Departure(opened_at=opened_at, leaves_at=opened_at + span) for opened_at in openings]


def _oldest_misses_read_raw(win: Window, *, limit: int) -> list[datetime] | None:
    """The openings of the window's `limit` oldest misses when the days that
    hold them were read raw (the window's first, partial day, usually: its
    ROs were all read for the tallies); None when a rollup's day holds some."""
    found: list[datetime] = []
    for day in sorted(win.per_day):
        tally = win.per_day[day]
        if not tally.hours.missed:
            continue
        if tally.missed_openings is None:
            return None
        found.extend(tally.missed_openings)
        if len(found) >= limit:
            break
    return sorted(found)[:limit]


@dataclass
class AgentRow:
    user: Any
    answered: int
    on_time: int
    share_on_time: Fraction | None
    median_seconds: int | None
    p90_seconds: int | None
    replies: int
    unedited: int

    @property
    def unedited_share(self) -> Fraction | None:
        return None if self.replies == 0 else Fraction(self.unedited, self.replies)


def agents(win: Window) -> list[AgentRow]:
    """Per agent: the ROs they closed in the window, and their replies."""
    responders = win.tally.hours.responders
    ids = set(responders) | set(win.replies)
    members = Membership.objects.filter(page=win.page).values("user_id")
    users = {user.pk: user for user in get_user_model().objects.filter(Q(pk__in=ids) | Q(pk__in=members))}
    rows = []
    for pk, user in users.items():
        tally = responders.get(pk, tallies.Tally())
        replies, unedited = win.replies.get(pk, [0, 0])
        rows.append(AgentRow(
            user=user,
            answered=tally.opportunities,
            on_time=tally.on_time,
            share_on_time=None if tally.opportunities == 0 else Fraction(tally.on_time, tally.opportunities),
            median_seconds=tallies.rank_in_histogram(tally.seconds, rules.MEDIAN),
            p90_seconds=tallies.rank_in_histogram(tally.seconds, rules.P90),
            replies=replies,
            unedited=unedited,
        ))
    rows.sort(key=lambda row: (-row.answered, -row.replies, str(row.user.get_full_name() or row.user)))
    return rows


# ---------------------------------------------------------------------------
# Four weeks: the daily trend and the hour-of-week heatmap


@dataclass(frozen=True)
class TrendPoint:
    day: date
    opportunities: int
    on_time: int
    median_seconds: int | None
    is_today: bool

    @property
    def missed(self) -> int:
        return self.opportunities - self.on_time

    @property
    def share_on_time(self) -> Fraction | None:
        return None if self.opportunities == 0 else Fraction(self.on_time, self.opportunities)


@dataclass
class History:
    trend: list[TrendPoint]
    # heatmap[weekday][hour], local time, Monday first.
    heatmap: list[list[tallies.Cell]]
    days: int


def _history_span(page: Page, now: datetime, days: int) -> Span:
    """The `days` local days ending today, today up to `now` included."""
    first = local_day(page.timezone, now) - timedelta(days=days - 1)
    return Span(day_bounds(page.timezone, first)[0], now + MICROSECOND, trend_only=True)


def _history_from(*, page: Page, now: datetime, days: int, per_day: dict[date, DayTally]) -> History:
    today = local_day(page.timezone, now)
    first = today - timedelta(days=days - 1)
    trend = []
    # The hours of the rollup days, added up once (`_rolled_up_sum`); the
    # days read raw (today, a stale or unsettled day) added to them here.
    rolled_up = _rolled_up_sum(_SameDays(tally for tally in per_day.values() if tally.piece is None)).hours.hours
    cells = {
        hour: rolled_up[hour].copy() if hour in rolled_up else tallies.Cell()
        for hour in range(tallies.HOURS_PER_WEEK)
    }
    for raw in per_day.values():
        if raw.piece is not None:
            for hour, cell in raw.hours.hours.items():
                cells[hour].add(cell)
    for offset in range(days):
        day = first + timedelta(days=offset)
        tally = per_day.get(day, DayTally()).hours
        trend.append(TrendPoint(
            day=day, opportunities=tally.opportunities, on_time=tally.on_time,
            median_seconds=tallies.rank_in_histogram(tally.seconds, rules.MEDIAN), is_today=day == today,
        ))
    heatmap = [[cells[weekday * 24 + hour] for hour in range(24)] for weekday in range(7)]
    return History(trend=trend, heatmap=heatmap, days=days)


def history(*, page: Page, kind: str, now: datetime | None = None, days: int = HISTORY_DAYS) -> History:
    now = now or timezone.now()
    (per_day,) = read_days(page=page, kind=kind, spans=[_history_span(page, now, days)], now=now)
    return _history_from(page=page, now=now, days=days, per_day=per_day)


def window_and_history(
    *, page: Page, kind: str, days: int, now: datetime, history_days: int = HISTORY_DAYS
) -> tuple[Window, History]:
    """The dashboard's window and its four weeks in one read: they share
    their days, so each rollup is read and parsed once, and the ROs of
    today and of the window's first (partial) day come in one query."""
    window_per_day, history_per_day = read_days(
        page=page, kind=kind, spans=[_window_span(days, now), _history_span(page, now, history_days)], now=now
    )
    return (
        _window_from(page=page, kind=kind, days=days, now=now, per_day=window_per_day),
        _history_from(page=page, now=now, days=history_days, per_day=history_per_day),
    )


def export_rows(*, page: Page, kind: str, days: int, now: datetime) -> QuerySet[ResponseOpportunity]:
    """Every RO of the window (now - days, now] for the CSV export, oldest first."""
    return (
        ResponseOpportunity.objects.filter(
            page=page, kind=kind, opened_at__gt=now - timedelta(days=days), opened_at__lte=now
        )
        .select_related("conversation__contact", "responder")
        .order_by("opened_at", "pk")
    )


# ---------------------------------------------------------------------------
# The live SLA banner


class Urgent(NamedTuple):
    """The conversation that waited longest past its deadline (or is nearest
    it), as the banner names it."""

    pk: int
    due_at: datetime | None  # never None for a waiting conversation
    customer: str  # the contact's display name ("" without a contact)
    page_name: str


@dataclass
class SlaStatus:
    missed: int
    at_risk: int
    most_urgent: Urgent | None
    now: datetime

    @property
    def level(self) -> str:
        return "missed" if self.missed else "risk" if self.at_risk else "clear"

    @property
    def late_seconds(self) -> int | None:
        """How late the most urgent answer is (None when it is not late yet)."""
        if self.most_urgent is None or self.most_urgent.due_at is None or self.most_urgent.due_at >= self.now:
            return None
        return int((self.now - self.most_urgent.due_at).total_seconds())

    @property
    def left_seconds(self) -> int | None:
        if self.most_urgent is None or self.most_urgent.due_at is None or self.most_urgent.due_at < self.now:
            return None
        return int((self.most_urgent.due_at - self.now).total_seconds())

    @property
    def fingerprint(self) -> str:
        """What the banner shows: unchanged, its poll answers 204. The
        minute of lateness keeps "late by 12 min" from going stale."""
        urgent = self.most_urgent.pk if self.most_urgent else 0
        minutes = (self.late_seconds or self.left_seconds or 0) // 60
        return f"{self.missed}.{self.at_risk}.{urgent}.{minutes}"


def _most_urgent(waiting: QuerySet[Conversation]) -> Urgent | None:
    row = (
        waiting.order_by("due_at", "pk")
        .values_list("pk", "due_at", "page__name", "contact__name", "contact__first_name", "contact__last_name")
        .first()
    )
    if row is None:
        return None
    pk, due_at, page_name, name, first_name, last_name = row
    return Urgent(
        pk=pk, due_at=due_at, customer=joined_contact_display_name(name, first_name, last_name), page_name=page_name
    )


def sla_status(*, user: Any, now: datetime | None = None, pages: Sequence[Page] | None = None) -> SlaStatus:
    """Customers waiting past their deadline, or nearly, in the user's Pages.

    Read from the conversations' `due_at` (the open RO's deadline) on the
    queue's own partial index `conv_queue_open_due`, and judged against `now`,
    so the banner is right the moment a deadline passes, sweep or not.

    `pages`: the user's Pages when the caller has read them already (the
    dashboard, from the layout's memberships); otherwise they are read here.
    """
    now = now or timezone.now()
    if pages is None:
        pages = list(pages_for(user).only("pk", "at_risk_seconds"))
    # Each Page's own warning time: one condition per distinct value, on the
    # Page ids, so that counting needs no join.
    by_warning: dict[int, list[int]] = {}
    for page in pages:
        by_warning.setdefault(page.at_risk_seconds, []).append(page.pk)
    if len(by_warning) == 1:  # the usual case: one condition says it all
        (seconds,) = by_warning
        warned = Q(due_at__lte=now + timedelta(seconds=seconds))
    else:
        warned = Q(due_at__lt=now)
        for seconds, ids in sorted(by_warning.items()):
            warned |= Q(page_id__in=ids, due_at__lte=now + timedelta(seconds=seconds))
    waiting = Conversation.objects.filter(
        page_id__in=[page.pk for page in pages], status=ConversationStatus.OPEN, due_at__gt=now - REPLY_LIMIT,
    ).filter(warned)
    # Two narrow statements: the counts and the earliest deadline over the
    # waiting conversations' index entries, then the most urgent (the earliest
    # deadline, the smallest id) found on the index by that deadline and only
    # then read, with its contact's and Page's names. (One statement with
    # window counts joined every waiting conversation to its contact and
    # carried whole rows into the window: 10 ms at 1,900 waiting, 1 M bench;
    # the most urgent as `ORDER BY due_at, id LIMIT 1` over the Pages' index
    # entries sorted all of them again: 1.3 ms there, 0.1 by its deadline.)
    # Read as values: the conversation, its contact and its Page built as
    # model instances cost more CPU than both statements' SQL.
    counts = waiting.aggregate(
        missed=Count("pk", filter=Q(due_at__lt=now)), waiting=Count("pk"), earliest=Min("due_at")
    )
    if not counts["waiting"]:
        return SlaStatus(missed=0, at_risk=0, most_urgent=None, now=now)
    # Answered in between (each statement sees its own snapshot): the next one.
    most_urgent = _most_urgent(waiting.filter(due_at=counts["earliest"])) or _most_urgent(
        waiting.filter(due_at__gt=counts["earliest"])
    )
    missed = counts["missed"]
    return SlaStatus(missed=missed, at_risk=counts["waiting"] - missed, most_urgent=most_urgent, now=now)

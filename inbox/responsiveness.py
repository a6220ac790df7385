"""Response opportunities and the figures built on them (DOMAIN.md, "Responsiveness").

Plain Python on purpose (STYLE.md habit 5): no Django, no I/O, no clock. Services
turn messages into `ThreadEvent`s, store the `Opportunity`s this module returns,
and ask `compute_figures` for the numbers the dashboard and the API show.

Every share and threshold is computed with integers and `Fraction`s: a float 0.9
is 0.9000000000000000222, which turns "9 of 10 on time" into a miss at the edge.
Every comparison with a duration (on time, 24 h, 15 min) is made on the exact
duration; whole seconds appear only where a figure is shown in seconds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from fractions import Fraction
from typing import Literal

Status = Literal["on_time", "missed", "pending"]

ONE_SECOND = timedelta(seconds=1)
ONE_MICROSECOND = timedelta(microseconds=1)
MICROSECONDS_PER_SECOND = 1_000_000

# Meta counts an RO in its response rate only when it starts a conversation: no
# message from either side in the 24 h before it.
CONVERSATION_SILENCE = timedelta(hours=24)
# Meta counts a conversation start as answered when the Page replies within 24 h.
META_ANSWER_WITHIN = timedelta(hours=24)
# Meta's current badge: 90 % response rate and 15 min response time.
META_BADGE_RATE = Fraction(9, 10)
META_BADGE_TIME_SECONDS = 900
# Meta's response time is the mean of the fastest 90 %, so that a few very late
# answers do not dominate it.
META_FASTEST_SHARE = Fraction(9, 10)

MEDIAN = Fraction(1, 2)
P90 = Fraction(9, 10)


class EventKind(StrEnum):
    CUSTOMER = "customer"
    PAGE_REPLY = "page_reply"
    # An away message and the like: never closes an RO (it is not a Page reply),
    # but it is a message for Meta's 24 h silence rule.
    AUTOMATIC = "automatic"


@dataclass(frozen=True)
class ThreadEvent:
    """One message of one conversation, as far as responsiveness cares."""

    key: str  # stable id of the message: RO identity and the last tie-breaker
    at: datetime  # Meta's platform timestamp, never the webhook's arrival time
    kind: EventKind

    def __post_init__(self) -> None:
        if self.at.utcoffset() is None:
            raise ValueError(f"event {self.key!r} has a naive timestamp; Meta's are UTC")


@dataclass(frozen=True)
class Opportunity:
    """A response opportunity (RO): from a customer message to the Page's reply."""

    opened_by: str  # key of the customer message that opened it
    opened_at: datetime
    clock_start: datetime  # opened_at, or the next opening when the Page was unavailable
    closed_by: str | None  # key of the Page reply that closed it
    closed_at: datetime | None
    # Meta's rule: no message from either side (automatic included) in the 24 h
    # before opened_at; one exactly 24 h before still leaves it silent.
    starts_conversation: bool

    def response_time(self) -> timedelta | None:
        """Exact close - clock start, 0 if the reply came before the clock started."""
        return response_time_between(self.clock_start, self.closed_at)

    def response_seconds(self) -> int | None:
        """The response time in whole seconds, rounded DOWN (floor); None while open.

        For display and for the median/p90 figures only. Whether the RO is on
        time is judged on the exact duration (see `status`): 300.4 s shows as
        300 but is late for a 300 s target, since DOMAIN.md says "≤ target" of
        close - clock start, not of a rounded number.
        """
        response_time = self.response_time()
        if response_time is None:
            return None
        return response_time // ONE_SECOND

    def due_at(self, target_seconds: int) -> datetime:
        return self.clock_start + timedelta(seconds=target_seconds)

    def status(self, now: datetime, target_seconds: int) -> Status:
        return status_at(now, clock_start=self.clock_start, closed_at=self.closed_at, target_seconds=target_seconds)


# The rules of one RO on its bare instants: Opportunity's methods, and the
# tallies, which apply them to every RO of the days read raw without building
# an Opportunity for each.


def response_time_between(clock_start: datetime, closed_at: datetime | None) -> timedelta | None:
    """Exact close - clock start, 0 if the reply came before the clock started."""
    if closed_at is None:
        return None
    return max(timedelta(0), closed_at - clock_start)


def status_at(now: datetime, *, clock_start: datetime, closed_at: datetime | None, target_seconds: int) -> Status:
    response_time = response_time_between(clock_start, closed_at)
    if response_time is not None:
        return "on_time" if response_time <= timedelta(seconds=target_seconds) else "missed"
    # Open: missed only strictly after the due instant; exactly at it, still pending.
    return "missed" if now > clock_start + timedelta(seconds=target_seconds) else "pending"


def _order(event: ThreadEvent) -> tuple[datetime, int, str, str]:
    # DOMAIN.md: ordered by timestamp; at equal timestamps the customer message
    # comes first (so a reply stamped the same second answers it). Automatic
    # messages sort with the Page's side: they answer a customer message too.
    # The key, then the kind, make the order total whatever the input order.
    page_side = 0 if event.kind is EventKind.CUSTOMER else 1
    return (event.at, page_side, event.key, event.kind.value)


def _opportunity(
    opening: ThreadEvent,
    starts_conversation: bool,
    clock_start: Callable[[datetime], datetime],
    *,
    closed_by: ThreadEvent | None,
) -> Opportunity:
    started = clock_start(opening.at)
    if started < opening.at:
        raise ValueError("clock_start must not go back in time before the RO's opening")
    return Opportunity(
        opened_by=opening.key,
        opened_at=opening.at,
        clock_start=started,
        closed_by=None if closed_by is None else closed_by.key,
        closed_at=None if closed_by is None else closed_by.at,
        starts_conversation=starts_conversation,
    )


def compute_opportunities(
    events: Iterable[ThreadEvent], clock_start: Callable[[datetime], datetime]
) -> list[Opportunity]:
    """The ROs of ONE conversation, oldest first, from its events in any order.

    `clock_start(opened_at)` is the RO's clock start: opened_at when the Page was
    available then, else its next opening (identity for an always-open Page).

    The first RO's `starts_conversation` can only be judged when `events` hold
    the 24 h before it; `recompute_opportunities` takes care of that.
    Exact duplicates (a webhook delivered twice) count once.
    """
    opportunities: list[Opportunity] = []
    opening: ThreadEvent | None = None
    opening_is_silent = False
    previous: ThreadEvent | None = None

    for event in sorted(set(events), key=_order):
        if event.kind is EventKind.CUSTOMER:
            if opening is None:
                opening = event
                # An opening is always the first event at its instant (customer
                # messages sort first, and one before it at that instant would
                # have opened or joined an RO that only a later-sorting reply
                # could close), so the previous event is the latest message of
                # the 24 h before it, if any.
                opening_is_silent = (
                    previous is None or event.at - previous.at >= CONVERSATION_SILENCE
                )
            # else: a burst; the message joins the open RO.
        elif event.kind is EventKind.PAGE_REPLY and opening is not None:
            # "The first Page reply whose timestamp is ≥ the RO's opening": in
            # this order every reply after the opening has such a timestamp, and
            # one before it was seen while no RO was open, so it closed nothing.
            opportunities.append(
                _opportunity(opening, opening_is_silent, clock_start, closed_by=event)
            )
            opening = None
        # AUTOMATIC never closes an RO; it only counts for the silence above.
        previous = event

    if opening is not None:
        opportunities.append(_opportunity(opening, opening_is_silent, clock_start, closed_by=None))
    return opportunities


def resume_point(stored: Sequence[Opportunity], new_event_at: datetime) -> datetime:
    """The earliest instant from which ROs must be recomputed for a late event.

    `stored` are one conversation's ROs as computed before the event arrived.
    Returns the opening of the stored RO that contains `new_event_at` (opened at
    or before it, and still open then, or closed at that very instant: a late
    customer message stamped then would sort before the closing reply and join
    it), else `new_event_at` itself. Never None: any late event may open an RO.

    Invariant: with R = the returned instant, no RO is open just before the
    events stamped R, in the old and the new event lists alike (the event is not
    before R, so nothing before R changed). ROs are therefore a function of the
    events from R on, plus the 24 h before R for `starts_conversation`, so:

        stored ROs opened before R
        + compute_opportunities(events stamped after R - 24 h) opened at R or later
        == compute_opportunities(all events)

    `recompute_opportunities` does exactly that. For several late events at
    once, recompute from the earliest of their resume points.
    """
    containing = max(
        (ro for ro in stored if ro.opened_at <= new_event_at),
        key=lambda ro: ro.opened_at,
        default=None,
    )
    if containing is not None and (
        containing.closed_at is None or containing.closed_at >= new_event_at
    ):
        return containing.opened_at
    return new_event_at


def recompute_opportunities(
    stored: Sequence[Opportunity],
    events: Iterable[ThreadEvent],
    *,
    resume_at: datetime,
    clock_start: Callable[[datetime], datetime],
) -> list[Opportunity]:
    """Stored ROs before `resume_at`, recomputed ones from it (see `resume_point`).

    `events` must hold every event stamped after `resume_at - 24 h` (older ones
    are ignored): the 24 h are needed to judge `starts_conversation`.
    """
    context_from = resume_at - CONVERSATION_SILENCE
    recomputed = compute_opportunities(
        (event for event in events if event.at > context_from), clock_start
    )
    kept = [ro for ro in stored if ro.opened_at < resume_at]
    fresh = [ro for ro in recomputed if ro.opened_at >= resume_at]
    return sorted(kept + fresh, key=lambda ro: ro.opened_at)


@dataclass(frozen=True)
class Figures:
    """One Page, one kind (private or public), one window. Names as in DOMAIN.md."""

    opportunities: int
    on_time: int
    share_on_time: Fraction | None
    target_met: bool | None
    pending: int
    at_risk: int
    median_seconds: int | None
    p90_seconds: int | None
    miss_budget: int | None
    needed_to_recover: int | None
    meta_response_rate: Fraction | None
    # Exact mean in seconds (microsecond precision), a Fraction rather than a
    # rounded int so that the "≤ 900 s" badge test is exact; round to display.
    meta_response_time_seconds: Fraction | None
    meta_badge: bool | None


def _exact(value: Fraction, name: str) -> Fraction:
    if isinstance(value, float):
        raise TypeError(f"{name} must be a Fraction: a float is not exact at the 90 % edge")
    return Fraction(value)


def nearest_rank(sorted_values: Sequence[int], q: Fraction) -> int | None:
    """The value at 1-based position ⌈q x n⌉ of ascending values; None when empty.

    q = 0 would give position 0; it is read as the first value (the minimum).
    """
    q = _exact(q, "q")
    if not 0 <= q <= 1:
        raise ValueError("q must be between 0 and 1")
    if not sorted_values:
        return None
    position = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[position - 1]


def _share(part: int, whole: int) -> Fraction | None:
    # DOMAIN.md: a figure whose denominator is 0 is null.
    return None if whole == 0 else Fraction(part, whole)


def _seconds(duration: timedelta) -> Fraction:
    return Fraction(duration // ONE_MICROSECOND, MICROSECONDS_PER_SECOND)


def compute_figures(
    ros: Iterable[Opportunity],
    *,
    now: datetime,
    window: timedelta = timedelta(days=7),
    target_seconds: int = 300,
    target_share: Fraction = Fraction(9, 10),
    at_risk_seconds: int = 60,
) -> Figures:
    """DOMAIN.md's figures for the ROs opened in (now - window, now].

    Pass the ROs of one Page and one kind only: public threads never count in
    the private figures.
    """
    target_share = _exact(target_share, "target_share")
    if not 0 <= target_share <= 1:
        raise ValueError("target_share must be between 0 and 1")

    in_window = [ro for ro in ros if now - window < ro.opened_at <= now]
    statuses = [(ro, ro.status(now, target_seconds)) for ro in in_window]
    decided = [ro for ro, status in statuses if status != "pending"]
    pending = [ro for ro, status in statuses if status == "pending"]

    on_time = sum(1 for _, status in statuses if status == "on_time")
    opportunities = len(decided)
    share_on_time = _share(on_time, opportunities)
    at_risk_left = timedelta(seconds=at_risk_seconds)
    at_risk = sum(1 for ro in pending if ro.due_at(target_seconds) - now <= at_risk_left)

    closed_seconds = sorted(
        seconds for ro in in_window if (seconds := ro.response_seconds()) is not None
    )

    # Both are tests on the share, so null with it; each is also null when its
    # own formula divides by 0 (target_share of 0 or of 1): with a 100 % target
    # no number of on-time answers ever makes up for a miss.
    miss_budget: int | None = None
    needed_to_recover: int | None = None
    if opportunities:
        if target_share != 0:
            miss_budget = max(0, math.floor(on_time / target_share - opportunities))
        if target_share != 1:
            needed_to_recover = max(
                0, math.ceil((target_share * opportunities - on_time) / (1 - target_share))
            )

    meta_rate, meta_time = _meta_figures(decided, now=now)

    return Figures(
        opportunities=opportunities,
        on_time=on_time,
        share_on_time=share_on_time,
        target_met=None if share_on_time is None else share_on_time >= target_share,
        pending=len(pending),
        at_risk=at_risk,
        median_seconds=nearest_rank(closed_seconds, MEDIAN),
        p90_seconds=nearest_rank(closed_seconds, P90),
        miss_budget=miss_budget,
        needed_to_recover=needed_to_recover,
        meta_response_rate=meta_rate,
        meta_response_time_seconds=meta_time,
        meta_badge=(
            None
            if meta_rate is None or meta_time is None
            else meta_rate >= META_BADGE_RATE and meta_time <= META_BADGE_TIME_SECONDS
        ),
    )


def _meta_figures(
    decided: Sequence[Opportunity], *, now: datetime
) -> tuple[Fraction | None, Fraction | None]:
    """Meta's response rate and response time over the window's decided ROs.

    Pending ROs are already left out: DOMAIN.md leaves them out of "every
    share", Meta's rate included (with the default targets they are also
    open with a clock start under 24 h ago, so this only matters for a target
    above 24 h).
    """
    counted: list[Opportunity] = []
    for ro in decided:
        if not ro.starts_conversation:
            continue
        # To the letter: only open ROs whose clock start is UNDER 24 h ago are
        # left out; one exactly 24 h old counts as not answered, although a reply
        # at that very instant would still be "within 24 h (≤)".
        if ro.closed_at is None and now - ro.clock_start < META_ANSWER_WITHIN:
            continue
        counted.append(ro)

    answered = sorted(
        response_time
        for ro in counted
        if (response_time := ro.response_time()) is not None and response_time <= META_ANSWER_WITHIN
    )
    rate = _share(len(answered), len(counted))
    if not answered:
        return rate, None
    fastest = answered[: math.ceil(META_FASTEST_SHARE * len(answered))]
    mean = sum((_seconds(response_time) for response_time in fastest), Fraction(0)) / len(fastest)
    return rate, mean

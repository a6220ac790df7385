"""DOMAIN.md "Responsiveness", rule by rule, with figures computed by hand."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inbox.responsiveness import (
    CONVERSATION_SILENCE,
    EventKind,
    Figures,
    Opportunity,
    ThreadEvent,
    compute_figures,
    compute_opportunities,
    nearest_rank,
    recompute_opportunities,
    resume_point,
)

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)  # a Monday, 09:00 UTC
NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


def customer(key: str, at: datetime) -> ThreadEvent:
    return ThreadEvent(key=key, at=at, kind=EventKind.CUSTOMER)


def reply(key: str, at: datetime) -> ThreadEvent:
    return ThreadEvent(key=key, at=at, kind=EventKind.PAGE_REPLY)


def automatic(key: str, at: datetime) -> ThreadEvent:
    return ThreadEvent(key=key, at=at, kind=EventKind.AUTOMATIC)


def always_open(at: datetime) -> datetime:
    return at


def open_9_to_18_utc(at: datetime) -> datetime:
    """A Page open 09:00-18:00 UTC every day: the clock waits for 09:00."""
    if 9 <= at.hour < 18:
        return at
    opening = at.replace(hour=9, minute=0, second=0, microsecond=0)
    return opening if at.hour < 9 else opening + timedelta(days=1)


def closed_ro(
    key: str,
    opened_at: datetime,
    response: timedelta,
    *,
    starts_conversation: bool = False,
) -> Opportunity:
    return Opportunity(
        opened_by=key,
        opened_at=opened_at,
        clock_start=opened_at,
        closed_by=f"{key}-reply",
        closed_at=opened_at + response,
        starts_conversation=starts_conversation,
    )


def open_ro(key: str, opened_at: datetime, *, starts_conversation: bool = False) -> Opportunity:
    return Opportunity(
        opened_by=key,
        opened_at=opened_at,
        clock_start=opened_at,
        closed_by=None,
        closed_at=None,
        starts_conversation=starts_conversation,
    )


def decided_ros(on_time: int, missed: int) -> list[Opportunity]:
    """on_time ROs answered in 60 s and missed ones in 600 s, all in the window."""
    return [
        closed_ro(f"ok{i}", NOW - timedelta(hours=1 + i), timedelta(seconds=60))
        for i in range(on_time)
    ] + [
        closed_ro(f"late{i}", NOW - timedelta(minutes=30, hours=1 + i), timedelta(seconds=600))
        for i in range(missed)
    ]


# Opportunities


def test_it_makes_one_opportunity_of_a_burst() -> None:
    events = [
        customer("c1", T0),
        customer("c2", T0 + timedelta(seconds=10)),
        customer("c3", T0 + timedelta(seconds=20)),
        reply("r1", T0 + timedelta(seconds=100)),
    ]

    [ro] = compute_opportunities(events, always_open)

    assert ro == Opportunity(
        opened_by="c1",
        opened_at=T0,
        clock_start=T0,
        closed_by="r1",
        closed_at=T0 + timedelta(seconds=100),
        starts_conversation=True,
    )
    assert ro.response_seconds() == 100


def test_it_gives_the_same_opportunities_whatever_the_arrival_order() -> None:
    events = [
        customer("c1", T0),
        reply("r1", T0 + timedelta(minutes=2)),
        customer("c2", T0 + timedelta(minutes=10)),
        automatic("a1", T0 + timedelta(minutes=11)),
        customer("c3", T0 + timedelta(minutes=12)),
        reply("r2", T0 + timedelta(minutes=20)),
        customer("c4", T0 + timedelta(minutes=30)),
    ]
    shuffled = events[:]
    random.Random(4).shuffle(shuffled)

    in_order = compute_opportunities(events, always_open)

    assert compute_opportunities(reversed(events), always_open) == in_order
    assert compute_opportunities(shuffled, always_open) == in_order
    assert [(ro.opened_by, ro.closed_by) for ro in in_order] == [
        ("c1", "r1"),
        ("c2", "r2"),
        ("c4", None),
    ]


def test_it_closes_with_a_reply_stamped_the_same_instant_as_the_message() -> None:
    # The reply's key sorts first: only "customer first at equal timestamps" saves it.
    events = [reply("a-reply", T0), customer("z-message", T0)]

    [ro] = compute_opportunities(events, always_open)

    assert (ro.opened_by, ro.closed_by) == ("z-message", "a-reply")
    assert ro.response_seconds() == 0


def test_it_does_not_close_with_a_reply_before_the_message() -> None:
    events = [reply("r1", T0), customer("c1", T0 + timedelta(seconds=1))]

    [ro] = compute_opportunities(events, always_open)

    assert ro.opened_by == "c1"
    assert ro.closed_by is None
    assert ro.response_seconds() is None


def test_it_never_closes_with_an_automatic_message() -> None:
    events = [
        customer("c1", T0),
        automatic("away", T0 + timedelta(seconds=1)),
        reply("r1", T0 + timedelta(seconds=400)),
        customer("c2", T0 + timedelta(hours=1)),
        automatic("away2", T0 + timedelta(hours=1, seconds=1)),
    ]

    assert [(ro.opened_by, ro.closed_by) for ro in compute_opportunities(events, always_open)] == [
        ("c1", "r1"),
        ("c2", None),
    ]


def test_it_starts_the_clock_at_the_next_opening() -> None:
    evening = datetime(2025, 3, 3, 20, 0, tzinfo=UTC)
    next_morning = datetime(2025, 3, 4, 9, 0, tzinfo=UTC)
    events = [customer("c1", evening), reply("r1", next_morning + timedelta(minutes=4))]

    [ro] = compute_opportunities(events, open_9_to_18_utc)

    assert ro.opened_at == evening
    assert ro.clock_start == next_morning
    assert ro.response_seconds() == 240
    assert ro.status(next_morning + timedelta(hours=1), 300) == "on_time"


def test_it_counts_0_when_the_reply_came_before_the_clock_started() -> None:
    evening = datetime(2025, 3, 3, 20, 0, tzinfo=UTC)
    events = [customer("c1", evening), reply("r1", evening + timedelta(minutes=5))]

    [ro] = compute_opportunities(events, open_9_to_18_utc)

    assert ro.clock_start == datetime(2025, 3, 4, 9, 0, tzinfo=UTC)
    assert ro.response_seconds() == 0
    assert ro.status(evening + timedelta(hours=1), 300) == "on_time"


def test_it_rejects_a_clock_start_before_the_opening() -> None:
    with pytest.raises(ValueError, match="clock_start"):
        compute_opportunities([customer("c1", T0)], lambda at: at - timedelta(seconds=1))


def test_it_rejects_a_naive_timestamp() -> None:
    with pytest.raises(ValueError, match="naive"):
        customer("c1", datetime(2025, 3, 3, 9, 0))


# Status of one RO


def test_it_is_on_time_at_exactly_the_target_and_missed_one_second_later() -> None:
    on_time = closed_ro("c1", T0, timedelta(seconds=300))
    late = closed_ro("c2", T0, timedelta(seconds=301))

    assert (on_time.response_seconds(), on_time.status(NOW, 300)) == (300, "on_time")
    assert (late.response_seconds(), late.status(NOW, 300)) == (301, "missed")


def test_it_judges_on_time_on_the_exact_duration_not_the_rounded_seconds() -> None:
    ro = closed_ro("c1", T0, timedelta(seconds=300, milliseconds=500))

    assert ro.response_seconds() == 300  # floor, for display
    assert ro.status(NOW, 300) == "missed"  # 300.5 s > 300 s


def test_it_keeps_an_open_ro_pending_until_strictly_after_its_due_instant() -> None:
    ro = open_ro("c1", T0)

    assert ro.due_at(300) == T0 + timedelta(seconds=300)
    assert ro.status(T0 + timedelta(seconds=300), 300) == "pending"
    assert ro.status(T0 + timedelta(seconds=300, microseconds=1), 300) == "missed"


# Incremental recomputation


def test_it_resumes_at_the_opening_of_the_ro_that_contains_a_late_event() -> None:
    stored = [
        closed_ro("c1", T0, timedelta(minutes=5)),
        open_ro("c2", T0 + timedelta(hours=1)),
    ]

    assert resume_point(stored, T0 + timedelta(minutes=3)) == T0
    # Closed at that very instant: a late customer message then would join it.
    assert resume_point(stored, T0 + timedelta(minutes=5)) == T0
    assert resume_point(stored, T0 + timedelta(minutes=6)) == T0 + timedelta(minutes=6)
    assert resume_point(stored, T0 + timedelta(hours=2)) == T0 + timedelta(hours=1)
    assert resume_point(stored, T0 - timedelta(days=1)) == T0 - timedelta(days=1)
    assert resume_point([], T0) == T0


# Window, shares and the target


def test_it_counts_ros_opened_in_the_window_excluding_its_start_including_now() -> None:
    ros = [
        closed_ro("edge", NOW - timedelta(days=7), timedelta(seconds=10)),
        closed_ro("first", NOW - timedelta(days=7) + timedelta(microseconds=1), timedelta(0)),
        closed_ro("now", NOW, timedelta(0)),
        closed_ro("future", NOW + timedelta(seconds=1), timedelta(0)),
    ]

    figures = compute_figures(ros, now=NOW)

    assert (figures.opportunities, figures.on_time) == (2, 2)


def test_it_meets_the_target_with_9_of_10_on_time() -> None:
    figures = compute_figures(decided_ros(on_time=9, missed=1), now=NOW)

    assert figures.opportunities == 10
    assert figures.share_on_time == Fraction(9, 10)
    assert figures.target_met is True


def test_it_misses_the_target_with_8_of_9_on_time() -> None:
    figures = compute_figures(decided_ros(on_time=8, missed=1), now=NOW)

    assert figures.share_on_time == Fraction(8, 9)
    assert figures.target_met is False


@pytest.mark.parametrize(
    ("on_time", "missed", "miss_budget", "needed_to_recover"),
    [
        (18, 2, 0, 0),  # 18/0.9 - 20 = 0; (18 - 18)/0.1 = 0
        (17, 3, 0, 10),  # 18.89 - 20 < 0; (18 - 17)/0.1 = 10
        (45, 5, 0, 0),  # 50 - 50 = 0
        (46, 4, 1, 0),  # 51.11 - 50 = 1.11 -> 1
        (10, 0, 1, 0),  # 11.11 - 10 = 1.11 -> 1
        (8, 1, 0, 1),  # (8.1 - 8)/0.1 = 1: the 10th answer on time makes 9 of 10
        (0, 1, 0, 9),  # (0.9 - 0)/0.1 = 9
        (0, 3, 0, 27),  # (2.7 - 0)/0.1 = 27
    ],
)
def test_it_computes_the_miss_budget_and_the_answers_needed_to_recover(
    on_time: int, missed: int, miss_budget: int, needed_to_recover: int
) -> None:
    figures = compute_figures(decided_ros(on_time, missed), now=NOW)

    assert (figures.miss_budget, figures.needed_to_recover) == (miss_budget, needed_to_recover)


def test_it_leaves_pending_ros_out_of_the_shares_and_flags_those_at_risk() -> None:
    ros = [
        *decided_ros(on_time=1, missed=1),
        open_ro("due-in-60s", NOW - timedelta(seconds=240)),
        open_ro("due-in-61s", NOW - timedelta(seconds=239)),
        open_ro("due-now", NOW - timedelta(seconds=300)),
        open_ro("overdue", NOW - timedelta(seconds=301)),  # missed
        open_ro("outside-window", NOW - timedelta(days=8)),
    ]

    figures = compute_figures(ros, now=NOW)

    assert (figures.opportunities, figures.on_time) == (3, 1)
    assert figures.share_on_time == Fraction(1, 3)
    assert (figures.pending, figures.at_risk) == (3, 2)


def test_it_reads_the_median_and_p90_by_nearest_rank() -> None:
    ten = list(range(1, 11))

    assert (nearest_rank([7], Fraction(1, 2)), nearest_rank([7], Fraction(9, 10))) == (7, 7)
    assert (nearest_rank([3, 8], Fraction(1, 2)), nearest_rank([3, 8], Fraction(9, 10))) == (3, 8)
    assert (nearest_rank(ten, Fraction(1, 2)), nearest_rank(ten, Fraction(9, 10))) == (5, 9)
    assert nearest_rank([], Fraction(1, 2)) is None


def test_it_refuses_a_float_quantile() -> None:
    # 0.9 as a float is 0.90000000000000002: ⌈q x 10⌉ would be 10, not 9.
    with pytest.raises(TypeError):
        nearest_rank([1, 2], 0.9)  # type: ignore[arg-type]


def test_it_takes_the_median_and_p90_over_closed_ros_only() -> None:
    ros = [
        closed_ro(f"c{i}", NOW - timedelta(hours=i + 1), timedelta(seconds=seconds))
        for i, seconds in enumerate([900, 30, 10, 60, 20, 40, 50, 80, 70, 1200])
    ] + [open_ro("open", NOW - timedelta(hours=12))]

    figures = compute_figures(ros, now=NOW)

    # Sorted: 10 20 30 40 50 60 70 80 900 1200; positions 5 and 9.
    assert (figures.median_seconds, figures.p90_seconds) == (50, 900)


def test_it_gives_nulls_for_no_ros() -> None:
    assert compute_opportunities([], always_open) == []
    assert compute_figures([], now=NOW) == Figures(
        opportunities=0,
        on_time=0,
        share_on_time=None,
        target_met=None,
        pending=0,
        at_risk=0,
        median_seconds=None,
        p90_seconds=None,
        miss_budget=None,
        needed_to_recover=None,
        meta_response_rate=None,
        meta_response_time_seconds=None,
        meta_badge=None,
    )


def test_it_gives_nulls_when_every_ro_is_pending() -> None:
    figures = compute_figures([open_ro("c1", NOW - timedelta(seconds=10))], now=NOW)

    assert (figures.opportunities, figures.pending, figures.at_risk) == (0, 1, 0)
    assert figures.share_on_time is None
    assert figures.target_met is None
    assert (figures.miss_budget, figures.needed_to_recover) == (None, None)
    assert (figures.median_seconds, figures.meta_response_rate) == (None, None)


def test_it_gives_no_needed_to_recover_for_a_100_percent_target() -> None:
    # (1 x 10 - 9) / (1 - 1): the denominator is 0, so the figure is null.
    figures = compute_figures(decided_ros(9, 1), now=NOW, target_share=Fraction(1))

    assert figures.target_met is False
    assert (figures.miss_budget, figures.needed_to_recover) == (0, None)


# Meta's figures


def test_it_starts_a_conversation_after_exactly_24_hours_of_silence() -> None:
    opening = T0 + CONVERSATION_SILENCE
    events = [reply("r0", T0), customer("c1", opening)]

    [ro] = compute_opportunities(events, always_open)

    assert ro.starts_conversation is True


@pytest.mark.parametrize("earlier", [reply, customer, automatic])
def test_it_does_not_start_a_conversation_after_23h59_of_silence(
    earlier: Callable[[str, datetime], ThreadEvent],
) -> None:
    opening = T0 + timedelta(hours=23, minutes=59)
    events = [earlier("m0", T0), reply("r0a", T0), customer("c1", opening)]

    starts = [ro.starts_conversation for ro in compute_opportunities(events, always_open)]

    assert starts[-1] is False


def test_it_looks_only_at_earlier_instants_for_the_silence() -> None:
    # An automatic message at the same instant sorts after the customer message.
    events = [automatic("a0", T0), customer("c1", T0)]

    [ro] = compute_opportunities(events, always_open)

    assert ro.starts_conversation is True


def test_it_computes_meta_response_rate_over_conversation_starts() -> None:
    day = timedelta(hours=24)
    ros = [
        closed_ro(
            "10min", NOW - timedelta(days=2), timedelta(minutes=10), starts_conversation=True
        ),
        closed_ro("1h", NOW - timedelta(days=3), timedelta(hours=1), starts_conversation=True),
        closed_ro("24h", NOW - timedelta(days=4), day, starts_conversation=True),
        closed_ro(
            "24h+1s", NOW - timedelta(days=5), day + timedelta(seconds=1), starts_conversation=True
        ),
        open_ro("open-25h", NOW - timedelta(hours=25), starts_conversation=True),
        open_ro("open-24h", NOW - day, starts_conversation=True),  # not "under 24 h ago"
        open_ro("open-23h", NOW - timedelta(hours=23), starts_conversation=True),  # left out
        closed_ro("follow-up", NOW - timedelta(days=1), timedelta(hours=30)),  # not a start
    ]

    figures = compute_figures(ros, now=NOW)

    # Counted: 10min, 1h, 24h (answered), 24h+1s, open-25h, open-24h (not).
    assert figures.meta_response_rate == Fraction(3, 6)
    # Fastest ⌈0.9 x 3⌉ = 3 of 600, 3600, 86400 s.
    assert figures.meta_response_time_seconds == Fraction(600 + 3600 + 86400, 3)
    assert figures.meta_badge is False


def test_it_averages_the_fastest_90_percent_for_meta_response_time() -> None:
    answered = [
        closed_ro(
            f"c{i}", NOW - timedelta(hours=1 + i), timedelta(seconds=s), starts_conversation=True
        )
        for i, s in enumerate([100, 200, 300, 400, 500, 600, 700, 800, 900, 20000])
    ]
    unanswered = open_ro("silent", NOW - timedelta(days=2), starts_conversation=True)

    figures = compute_figures([*answered, unanswered], now=NOW)

    assert figures.meta_response_rate == Fraction(10, 11)  # 0.909 >= 0.90
    # Fastest ⌈0.9 x 10⌉ = 9: (100 + ... + 900) / 9 = 4500 / 9.
    assert figures.meta_response_time_seconds == 500
    assert figures.meta_badge is True


def test_it_grants_the_meta_badge_at_exactly_900_seconds_not_a_moment_later() -> None:
    at_900 = closed_ro(
        "c1", NOW - timedelta(hours=2), timedelta(seconds=900), starts_conversation=True
    )
    past_900 = closed_ro(
        "c1",
        NOW - timedelta(hours=2),
        timedelta(seconds=900, microseconds=1),
        starts_conversation=True,
    )

    assert compute_figures([at_900], now=NOW).meta_badge is True
    late = compute_figures([past_900], now=NOW)
    assert late.meta_response_time_seconds == Fraction(900_000_001, 1_000_000)
    assert late.meta_badge is False


def test_it_gives_no_meta_badge_without_answered_conversation_starts() -> None:
    figures = compute_figures(
        [open_ro("c1", NOW - timedelta(days=2), starts_conversation=True)], now=NOW
    )

    assert figures.meta_response_rate == 0
    assert figures.meta_response_time_seconds is None
    assert figures.meta_badge is None


# Properties


@st.composite
def conversations(draw: st.DrawFn) -> list[ThreadEvent]:
    """Events on half-hour marks over two days: ties and exact 24 h gaps are common."""
    kinds = draw(st.lists(st.sampled_from(EventKind), max_size=14))
    slots = draw(st.lists(st.integers(0, 96), min_size=len(kinds), max_size=len(kinds)))
    return [
        ThreadEvent(key=f"m{i}", at=T0 + timedelta(minutes=30 * slot), kind=kind)
        for i, (slot, kind) in enumerate(zip(slots, kinds, strict=True))
    ]


@given(events=conversations(), data=st.data())
def test_it_computes_the_same_ros_for_any_permutation(
    events: list[ThreadEvent], data: st.DataObject
) -> None:
    permuted = data.draw(st.permutations(events))

    assert compute_opportunities(permuted, open_9_to_18_utc) == compute_opportunities(
        events, open_9_to_18_utc
    )


@given(events=conversations(), data=st.data())
def test_it_recomputes_late_events_from_the_resume_point_like_a_full_compute(
    events: list[ThreadEvent], data: st.DataObject
) -> None:
    arrival = data.draw(st.permutations(events))
    split = data.draw(st.integers(0, len(arrival)))
    arrived, late = arrival[:split], arrival[split:]
    stored = compute_opportunities(arrived, open_9_to_18_utc)
    if not late:
        return

    resume_at = min(resume_point(stored, event.at) for event in late)
    # The invariant, spelled out: keep what opened before the resume point,
    # recompute the rest from the events of the 24 h before it onwards.
    kept = [ro for ro in stored if ro.opened_at < resume_at]
    recomputed = compute_opportunities(
        [event for event in events if event.at > resume_at - CONVERSATION_SILENCE],
        open_9_to_18_utc,
    )
    merged = kept + [ro for ro in recomputed if ro.opened_at >= resume_at]

    assert merged == compute_opportunities(events, open_9_to_18_utc)


@given(events=conversations(), data=st.data())
def test_it_keeps_ros_right_as_events_arrive_one_by_one_in_any_order(
    events: list[ThreadEvent], data: st.DataObject
) -> None:
    arrival = data.draw(st.permutations(events))
    stored: list[Opportunity] = []

    for count, event in enumerate(arrival, start=1):
        stored = recompute_opportunities(
            stored,
            arrival[:count],
            resume_at=resume_point(stored, event.at),
            clock_start=open_9_to_18_utc,
        )
        assert stored == compute_opportunities(arrival[:count], open_9_to_18_utc)

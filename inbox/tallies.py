"""Additive tallies of response opportunities, and DOMAIN.md's figures from them.

Plain Python (STYLE.md habit 5). `inbox.responsiveness.compute_figures` takes
every RO of a window; at millions of messages that is too many rows to load on
each page view. A `Tally` holds what the figures need from a set of ROs — counts
and exact histograms — and tallies ADD: a window's tally is the sum of stored
daily tallies (DailyRollup) and of the few ROs at its edges, read raw. The
figures computed from a tally are the same, to the microsecond, as
`compute_figures` on the same ROs (tests/test_figures.py holds them equal).

Exactness:
- shares and thresholds are Fractions (see inbox.responsiveness);
- median and p90 are defined on whole seconds (floor), so a histogram keyed
  by whole seconds gives them exactly;
- Meta's response time is a mean of exact durations: each one-second bucket
  keeps its exact sum, and when the "fastest 90 %" cut falls inside a bucket,
  the caller supplies the exact sum of that bucket's fastest values
  (`resolve_bucket`, a small indexed query in inbox.dashboard).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any, NamedTuple

from . import responsiveness as rules

MICROSECOND = timedelta(microseconds=1)
DAY_MICROSECONDS = rules.META_ANSWER_WITHIN // MICROSECOND
HOURS_PER_WEEK = 7 * 24

# A bucket resolver: (whole second, how many of its fastest values) -> their exact
# sum in microseconds.
BucketResolver = Callable[[int, int], int]


@dataclass
class Cell:
    """One hour of the week: how the ROs opened then fared (heatmap)."""

    decided: int = 0
    on_time: int = 0
    seconds: dict[int, int] = field(default_factory=dict)

    def add(self, other: Cell) -> None:
        self.decided += other.decided
        self.on_time += other.on_time
        _add_counts(self.seconds, other.seconds)

    def copy(self) -> Cell:
        """A copy to add to, the original being shared."""
        return Cell(decided=self.decided, on_time=self.on_time, seconds=dict(self.seconds))

    @property
    def missed(self) -> int:
        return self.decided - self.on_time

    @property
    def share_on_time(self) -> Fraction | None:
        return None if self.decided == 0 else Fraction(self.on_time, self.decided)

    @property
    def median_seconds(self) -> int | None:
        return rank_in_histogram(self.seconds, rules.MEDIAN)


@dataclass
class Tally:
    """What the figures need from a set of ROs of one Page and one kind."""

    on_time: int = 0
    missed: int = 0
    # Only ROs still open within their time: never in a stored daily tally.
    pending: int = 0
    at_risk: int = 0
    # Closed ROs' response times, whole seconds (floor) -> how many.
    seconds: dict[int, int] = field(default_factory=dict)
    # Meta's figures: conversation-starting ROs counted, and those answered
    # within 24 h with their exact times per whole second: [count, sum in µs].
    meta_counted: int = 0
    meta_answered: int = 0
    meta_seconds: dict[int, list[int]] = field(default_factory=dict)
    # Hour of the week of the opening (0 = Monday 00:00, local time) -> cell.
    hours: dict[int, Cell] = field(default_factory=dict)
    # Who answered (the closing reply's author) -> their own tally (no hours,
    # no Meta figures, no responders).
    responders: dict[int, Tally] = field(default_factory=dict)

    @property
    def opportunities(self) -> int:
        return self.on_time + self.missed

    def add(self, other: Tally) -> None:
        self.on_time += other.on_time
        self.missed += other.missed
        self.pending += other.pending
        self.at_risk += other.at_risk
        _add_counts(self.seconds, other.seconds)
        self.meta_counted += other.meta_counted
        self.meta_answered += other.meta_answered
        for second, (count, total) in other.meta_seconds.items():
            bucket = self.meta_seconds.setdefault(second, [0, 0])
            bucket[0] += count
            bucket[1] += total
        for hour, cell in other.hours.items():
            self.hours.setdefault(hour, Cell()).add(cell)
        for responder, tally in other.responders.items():
            self.responders.setdefault(responder, Tally()).add(tally)

    def copy(self) -> Tally:
        """A copy to add to, the original being shared (the same as adding
        this to an empty Tally, at a fraction of the cost)."""
        return Tally(
            on_time=self.on_time,
            missed=self.missed,
            pending=self.pending,
            at_risk=self.at_risk,
            seconds=dict(self.seconds),
            meta_counted=self.meta_counted,
            meta_answered=self.meta_answered,
            meta_seconds={second: list(bucket) for second, bucket in self.meta_seconds.items()},
            hours={hour: cell.copy() for hour, cell in self.hours.items()},
            responders={pk: tally.copy() for pk, tally in self.responders.items()},
        )

    # -- storage (JSON keys are strings) -----------------------------------

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "on_time": self.on_time,
            "missed": self.missed,
            "seconds": _keys_out(self.seconds),
        }
        if self.pending or self.at_risk:
            data |= {"pending": self.pending, "at_risk": self.at_risk}
        if self.meta_counted:
            data |= {
                "meta_counted": self.meta_counted,
                "meta_answered": self.meta_answered,
                "meta_seconds": _keys_out(self.meta_seconds),
            }
        if self.hours:
            data["hours"] = {
                str(hour): [cell.decided, cell.on_time, _keys_out(cell.seconds)]
                for hour, cell in self.hours.items()
            }
        if self.responders:
            data["responders"] = {str(pk): tally.to_json() for pk, tally in self.responders.items()}
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, trend_only: bool = False) -> Tally:
        """`trend_only`: what a day of the trend and the heatmap reads (the
        counts, the response times, the hours), leaving out the responders
        and Meta's figures, which are most of the parsing."""
        tally = cls(
            on_time=data.get("on_time", 0),
            missed=data.get("missed", 0),
            pending=data.get("pending", 0),
            at_risk=data.get("at_risk", 0),
            seconds=_keys_in(data.get("seconds", {})),
            hours={
                int(hour): Cell(decided=decided, on_time=on_time, seconds=_keys_in(seconds))
                for hour, (decided, on_time, seconds) in data.get("hours", {}).items()
            },
        )
        if not trend_only:
            tally.meta_counted = data.get("meta_counted", 0)
            tally.meta_answered = data.get("meta_answered", 0)
            tally.meta_seconds = {int(k): list(v) for k, v in data.get("meta_seconds", {}).items()}
            tally.responders = {
                int(pk): cls.from_json(tally) for pk, tally in data.get("responders", {}).items()
            }
        return tally


def _add_counts(into: dict[int, int], other: Mapping[int, int]) -> None:
    for key, count in other.items():
        into[key] = into.get(key, 0) + count


def _keys_out(mapping: Mapping[int, Any]) -> dict[str, Any]:
    return {str(key): value for key, value in mapping.items()}


def _keys_in(mapping: Mapping[str, int]) -> dict[int, int]:
    return {int(key): value for key, value in mapping.items()}


# ---------------------------------------------------------------------------
# One RO into a tally


class Facts(NamedTuple):
    """One stored RO, as much as a tally needs of it (a named tuple: one is
    built for every RO of the days read raw, at a third of a frozen
    dataclass's cost)."""

    opened_at: datetime
    clock_start: datetime
    closed_at: datetime | None
    starts_conversation: bool
    responder_id: int | None
    hour_of_week: int  # of opened_at, in the Page's time zone

    def as_opportunity(self, *, calendar: bool = False) -> rules.Opportunity:
        """The RO for the rules; `calendar` starts its clock at the opening
        instead of the next opening (the "in calendar time" figures)."""
        return rules.Opportunity(
            opened_by="",
            opened_at=self.opened_at,
            clock_start=self.opened_at if calendar else self.clock_start,
            closed_by=None,
            closed_at=self.closed_at,
            starts_conversation=self.starts_conversation,
        )


def add_opportunity(
    tally: Tally,
    facts: Facts,
    *,
    now: datetime,
    target_seconds: int,
    at_risk_seconds: int,
    calendar: bool = False,
) -> None:
    """Count one RO opened in the window, exactly as `compute_figures` does.

    The rules are applied to the instants themselves (as_opportunity's RO,
    without building it: this runs twice for every RO of the days read raw)."""
    clock_start = facts.opened_at if calendar else facts.clock_start
    status = rules.status_at(now, clock_start=clock_start, closed_at=facts.closed_at, target_seconds=target_seconds)
    if status == "pending":
        tally.pending += 1
        if clock_start + timedelta(seconds=target_seconds) - now <= timedelta(seconds=at_risk_seconds):
            tally.at_risk += 1
        return
    on_time = status == "on_time"
    if on_time:
        tally.on_time += 1
    else:
        tally.missed += 1
    response = rules.response_time_between(clock_start, facts.closed_at)
    second = None if response is None else response // rules.ONE_SECOND
    if second is not None:
        tally.seconds[second] = tally.seconds.get(second, 0) + 1

    # get, then a new Cell or Tally only when missing: setdefault would build
    # one for every RO, and this runs for every RO of the days read raw.
    cell = tally.hours.get(facts.hour_of_week)
    if cell is None:
        cell = tally.hours[facts.hour_of_week] = Cell()
    cell.decided += 1
    cell.on_time += on_time
    if second is not None:
        cell.seconds[second] = cell.seconds.get(second, 0) + 1

    if facts.responder_id is not None:
        mine = tally.responders.get(facts.responder_id)
        if mine is None:
            mine = tally.responders[facts.responder_id] = Tally()
        if on_time:
            mine.on_time += 1
        else:
            mine.missed += 1
        if second is not None:
            mine.seconds[second] = mine.seconds.get(second, 0) + 1

    # Meta's figures (see rules._meta_figures): decided conversation starts,
    # leaving out open ones whose clock started under 24 h ago.
    if not facts.starts_conversation:
        return
    if response is None and now - clock_start < rules.META_ANSWER_WITHIN:
        return
    tally.meta_counted += 1
    if response is not None and response <= rules.META_ANSWER_WITHIN:
        tally.meta_answered += 1
        bucket = tally.meta_seconds.setdefault(second or 0, [0, 0])
        bucket[0] += 1
        bucket[1] += response // MICROSECOND


def settles_at(facts: Facts, *, target_seconds: int) -> datetime | None:
    """From when this RO's contribution to a tally no longer depends on `now`.

    None when it never did (closed ROs). An open RO is pending until its due
    time, and counts in Meta's rate only 24 h after its clock started; both
    are judged "strictly after", hence the microsecond.
    """
    if facts.closed_at is not None:
        return None
    later = max(timedelta(seconds=target_seconds), rules.META_ANSWER_WITHIN)
    return facts.clock_start + later + MICROSECOND


# ---------------------------------------------------------------------------
# Figures from a tally


def rank_in_histogram(histogram: Mapping[int, int], q: Fraction) -> int | None:
    """Nearest rank (position ⌈q x n⌉ in ascending order) over a histogram."""
    n = sum(histogram.values())
    if n == 0:
        return None
    position = max(1, math.ceil(q * n))
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= position:
            return value
    raise AssertionError("unreachable: position <= n")


def meta_response_time(
    meta_seconds: Mapping[int, list[int]], resolve_bucket: BucketResolver
) -> Fraction | None:
    """Exact mean of the fastest ⌈0.9 x n⌉ answered times, in seconds."""
    n = sum(count for count, _ in meta_seconds.values())
    if n == 0:
        return None
    keep = math.ceil(rules.META_FASTEST_SHARE * n)
    left = keep
    total_us = 0
    for second in sorted(meta_seconds):
        count, bucket_sum = meta_seconds[second]
        if count <= left:
            total_us += bucket_sum
            left -= count
        else:
            total_us += resolve_bucket(second, left)
            left = 0
        if left == 0:
            break
    return Fraction(total_us, rules.MICROSECONDS_PER_SECOND) / keep


def figures(
    tally: Tally,
    *,
    target_share: Fraction,
    resolve_bucket: BucketResolver,
) -> rules.Figures:
    """DOMAIN.md's figures, identical to `rules.compute_figures` on the same ROs."""
    target_share = rules._exact(target_share, "target_share")
    opportunities = tally.opportunities
    share = None if opportunities == 0 else Fraction(tally.on_time, opportunities)
    miss_budget: int | None = None
    needed_to_recover: int | None = None
    if opportunities:
        if target_share != 0:
            miss_budget = max(0, math.floor(tally.on_time / target_share - opportunities))
        if target_share != 1:
            needed_to_recover = max(
                0, math.ceil((target_share * opportunities - tally.on_time) / (1 - target_share))
            )
    meta_rate = None if tally.meta_counted == 0 else Fraction(tally.meta_answered, tally.meta_counted)
    meta_time = meta_response_time(tally.meta_seconds, resolve_bucket)
    return rules.Figures(
        opportunities=opportunities,
        on_time=tally.on_time,
        share_on_time=share,
        target_met=None if share is None else share >= target_share,
        pending=tally.pending,
        at_risk=tally.at_risk,
        median_seconds=rank_in_histogram(tally.seconds, rules.MEDIAN),
        p90_seconds=rank_in_histogram(tally.seconds, rules.P90),
        miss_budget=miss_budget,
        needed_to_recover=needed_to_recover,
        meta_response_rate=meta_rate,
        meta_response_time_seconds=meta_time,
        meta_badge=(
            None
            if meta_rate is None or meta_time is None
            else meta_rate >= rules.META_BADGE_RATE and meta_time <= rules.META_BADGE_TIME_SECONDS
        ),
    )


def resolver_from(facts: Iterable[Facts], *, calendar: bool = False) -> BucketResolver:
    """A resolver over ROs held in memory (tests, and small raw windows)."""
    by_second: dict[int, list[int]] = {}
    for one in facts:
        response = one.as_opportunity(calendar=calendar).response_time()
        if response is not None and response <= rules.META_ANSWER_WITHIN and one.starts_conversation:
            by_second.setdefault(response // rules.ONE_SECOND, []).append(response // MICROSECOND)

    def resolve(second: int, how_many: int) -> int:
        return sum(sorted(by_second.get(second, []))[:how_many])

    return resolve

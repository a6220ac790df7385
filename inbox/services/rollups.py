"""Daily rollups of response opportunities (DailyRollup), kept by the beat.

A rollup holds the tallies (inbox.tallies) of one Page's ROs of one kind opened
on one local day, so a 30-day view reads 30 small rows instead of every RO.

Who writes what, and why it stays exact:
- the beat computes a day once it has ended (plus `GRACE`), and again when it
  is stale, when its open ROs have settled, or when the Page's time zone or
  target changed (`refresh_due`);
- the worker marks a past day stale in the same transaction as any change to
  one of its ROs (`mark_stale`, called by services.opportunities.refresh);
- the dashboard uses a row only when it is fresh, settled and computed with
  the Page's current settings; any other day is read from the ROs.

The race between the two writers is closed by the row itself: the beat
computes under a lock on the row (inserted first if missing), and the
worker's mark is an upsert on the same row. Whichever comes second waits for
the first to commit, and the beat reads the ROs only once it holds the lock.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.core.cache import cache
from django.db import transaction
from django.db.models import F, Min, Q
from django.utils import timezone

from ..models import ConversationKind, DailyRollup, Page, ResponseOpportunity

log = logging.getLogger(__name__)

# A day is rolled up this long after it ended: a worker that started a
# transaction on that day's ROs just before midnight has committed by then,
# and it marked nothing (the day was still "today" for it).
GRACE = timedelta(minutes=5)
# How far back rollups go: the API serves windows up to 365 days.
HORIZON_DAYS = 400
# The beat recomputes at most this many days per run, so a run stays short; a
# backfill (a new install, a time zone change) takes a few runs.
BATCH_DAYS = 200


def local_day(tz: str, instant: datetime) -> date:
    """The local date whose [start, end) (see `day_bounds`) holds `instant`."""
    day = instant.astimezone(ZoneInfo(tz)).date()
    start, end = day_bounds(tz, day)
    if instant < start:
        return day - timedelta(days=1)
    if instant >= end:
        return day + timedelta(days=1)
    return day


def day_bounds(tz: str, day: date) -> tuple[datetime, datetime]:
    """A local day as a UTC range [midnight, next midnight): 23 or 25 hours on
    DST days. A midnight that does not exist (zones that spring forward at
    00:00) resolves to the first instant of the day."""
    zone = ZoneInfo(tz)

    def midnight(d: date) -> datetime:
        return datetime.combine(d, time(0), tzinfo=zone).astimezone(UTC)

    return midnight(day), midnight(day + timedelta(days=1))


def mark_stale(*, page: Page, kind: str, instants: Iterable[datetime], now: datetime) -> None:
    """Mark the past days holding `instants` stale (an RO of theirs changed).

    Today is never rolled up, so it needs no mark; a day that ended is, and
    a late event (a reply after midnight to a message before it) must send
    the beat back to it.
    """
    today = local_day(page.timezone, now)
    days = {day for day in (local_day(page.timezone, instant) for instant in instants) if day < today}
    if not days:
        return
    DailyRollup.objects.bulk_create(
        [DailyRollup(page=page, kind=kind, day=day, stale=True) for day in sorted(days)],
        update_conflicts=True,
        unique_fields=["page", "kind", "day"],
        update_fields=["stale"],
    )


def compute(*, page: Page, kind: str, day: date, now: datetime | None = None) -> DailyRollup:
    """Compute one day's rollup from its ROs and replies, under the row's lock."""
    from .. import dashboard

    now = now or timezone.now()
    with transaction.atomic():
        DailyRollup.objects.bulk_create([DailyRollup(page=page, kind=kind, day=day)], ignore_conflicts=True)
        row = DailyRollup.objects.select_for_update(no_key=True).get(page=page, kind=kind, day=day)
        start, end = day_bounds(page.timezone, day)
        tallies = dashboard.raw_tallies(page=page, kind=kind, ranges=[(start, end)], now=now)
        tally = tallies.get(day) or dashboard.DayTally()
        row.timezone = page.timezone
        row.target_seconds = page.target_seconds(kind)
        row.starts_at, row.ends_at = start, end
        row.tally = {"hours": tally.hours.to_json(), "calendar": tally.calendar.to_json()}
        row.replies = {str(pk): counts for pk, counts in tally.replies.items()}
        row.settles_at = tally.settles_at if tally.settles_at and tally.settles_at > now else None
        row.stale = False
        row.computed_at = now
        row.save()
    return row


def _days_to_compute(page: Page, now: datetime) -> list[tuple[str, date]]:
    """Ended days (within the horizon, from each kind's first RO) without a row."""
    today = local_day(page.timezone, now)
    last = today - timedelta(days=1)
    if day_bounds(page.timezone, last)[1] + GRACE > now:
        last -= timedelta(days=1)
    horizon = today - timedelta(days=HORIZON_DAYS)
    firsts = dict(
        ResponseOpportunity.objects.filter(page=page)
        .values_list("kind")
        .annotate(first=Min("opened_at"))
        .values_list("kind", "first")
    )
    existing = set(
        DailyRollup.objects.filter(page=page, day__gte=horizon).values_list("kind", "day")
    )
    missing: list[tuple[str, date]] = []
    for kind in ConversationKind.values:
        first = firsts.get(kind)
        if first is None:
            continue
        day = max(local_day(page.timezone, first), horizon)
        while day <= last:
            if (kind, day) not in existing:
                missing.append((kind, day))
            day += timedelta(days=1)
    return missing


def refresh_due(*, now: datetime | None = None, limit: int = BATCH_DAYS) -> int:
    """The beat's run: recompute stale, settled and outdated days, then add
    the days that ended. Returns the number of days computed."""
    now = now or timezone.now()
    done = 0
    outdated = DailyRollup.objects.filter(
        Q(stale=True)
        | Q(settles_at__lte=now)
        | ~Q(timezone=F("page__timezone"))
        | Q(kind=ConversationKind.PRIVATE) & ~Q(target_seconds=F("page__private_target_seconds"))
        | Q(kind=ConversationKind.PUBLIC) & ~Q(target_seconds=F("page__public_target_seconds"))
    ).select_related("page").order_by("-day")[:limit]
    for row in list(outdated):
        if day_bounds(row.page.timezone, row.day)[1] + GRACE > now:
            continue  # not over yet (marked by a worker whose clock runs ahead)
        compute(page=row.page, kind=row.kind, day=row.day, now=now)
        done += 1
    for page in Page.objects.all():
        if done >= limit:
            break
        # Looking for missing days costs three queries a Page: once a day is
        # enough, unless the last look left work behind.
        key = f"rollups:complete:{page.pk}:{local_day(page.timezone, now)}"
        if cache.get(key):
            continue
        budget = limit - done
        missing = _days_to_compute(page, now)
        for kind, day in missing[:budget]:
            compute(page=page, kind=kind, day=day, now=now)
        done += min(len(missing), budget)
        if len(missing) <= budget:
            cache.set(key, True, 6 * 3600)
    return done


def rebuild(*, page: Page, now: datetime | None = None) -> int:
    """Recompute every day of a Page (after `rebuild_responsiveness`)."""
    now = now or timezone.now()
    DailyRollup.objects.filter(page=page).delete()
    days = _days_to_compute(page, now)
    for kind, day in days:
        compute(page=page, kind=kind, day=day, now=now)
    return len(days)

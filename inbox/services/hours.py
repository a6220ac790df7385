"""Business hours as the availability module sees them (DOMAIN.md "Availability").

`schedule_for(page)` turns a Page's stored hours, closures and away periods
into an `availability.Schedule`. It is called for every customer message, so
it is cached per process, keyed by the Page's `hours_changed_at`, which every
change to hours, closures or away periods bumps (see `hours_changed`).

The writes below are the only way hours, closures and away periods change:
the settings views, the inbox header's away switch and `set_hours` all call
them. Each one validates, writes, bumps `hours_changed_at` and leaves an
AuditLog row, in one transaction. Changing the hours changes the clock start
of new response opportunities only: stored ones keep theirs (opportunities.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import availability
from ..models import AuditLog, AwayPeriod, ClosureDate, OpeningInterval, Page

# An away switch is for "we are all in a meeting", "the shop is flooded":
# longer absences are closure dates, which customers' away messages and the
# figures handle the same way but which are planned, listed and visible.
MAX_AWAY = timedelta(days=90)

# Movable French holidays depend on Easter: they are added as one-off dates
# for the year asked; the others fall on the same day every year.
_MOVABLE_HOLIDAYS = {"Lundi de Pâques", "Ascension", "Lundi de Pentecôte"}


class HoursRefused(ValueError):
    """A change to the hours that would leave them wrong; the message says why."""


def schedule_for(page: Page) -> availability.Schedule:
    changed = page.hours_changed_at.isoformat() if page.hours_changed_at else ""
    return _schedule(page.pk, page.timezone, changed)


@lru_cache(maxsize=1024)
def _schedule(page_id: int, tz: str, changed: str) -> availability.Schedule:
    return availability.Schedule(
        timezone=tz,
        intervals=tuple(
            availability.OpeningInterval(weekday=i.weekday, start=i.start_minute, end=i.end_minute)
            for i in OpeningInterval.objects.filter(page_id=page_id)
        ),
        closures=tuple(
            availability.Closure(day=c.day, yearly=c.yearly) for c in ClosureDate.objects.filter(page_id=page_id)
        ),
        away=tuple(
            availability.AwayPeriod(start=a.start, until=a.until)
            for a in AwayPeriod.objects.filter(page_id=page_id).order_by("start")
        ),
    )


def hours_changed(page: Page) -> None:
    """Call after any change to a Page's hours, closures or away periods."""
    now = timezone.now()
    # Strictly increasing, so that two changes within one clock tick (or a
    # clock that went back) never leave a cached schedule looking current.
    previous = Page.objects.filter(pk=page.pk).values_list("hours_changed_at", flat=True).first()
    if previous is not None and now <= previous:
        now = previous + timedelta(microseconds=1)
    page.hours_changed_at = now
    Page.objects.filter(pk=page.pk).update(hours_changed_at=now)
    from .. import live

    page_id = page.pk
    # Open inboxes refresh their "open / closed / away" header.
    transaction.on_commit(lambda: live.bump(page_id=page_id))


def _audit(page: Page, actor: Any, action: str, **data: Any) -> None:
    AuditLog.objects.create(actor=actor if getattr(actor, "pk", None) else None, page=page, action=action, data=data)


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _check(intervals: Iterable[availability.OpeningInterval]) -> None:
    problems = availability.validate_intervals(intervals)
    if problems:
        raise HoursRefused("; ".join(problems))


def _current_intervals(page: Page) -> list[availability.OpeningInterval]:
    return [
        availability.OpeningInterval(weekday=i.weekday, start=i.start_minute, end=i.end_minute)
        for i in OpeningInterval.objects.filter(page=page)
    ]


# --- Time zone and weekly intervals -------------------------------------------


def set_timezone(*, page: Page, tz: str, actor: Any) -> None:
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise HoursRefused(_("Unknown time zone %(tz)s.") % {"tz": tz}) from error
    if tz == page.timezone:
        return
    with transaction.atomic():
        previous = page.timezone
        page.timezone = tz
        page.save(update_fields=["timezone"])
        hours_changed(page)
        _audit(page, actor, "timezone_changed", previous=previous, timezone=tz)


def add_interval(*, page: Page, weekday: int, start: int, end: int, actor: Any) -> OpeningInterval:
    """Open `page` on `weekday` from `start` to `end` (minutes since local
    midnight; 1440 = 24:00). Refused if it overlaps that day's intervals."""
    new = availability.OpeningInterval(weekday=weekday, start=start, end=end)
    with transaction.atomic():
        # Locks the Page row: two admins adding overlapping intervals at once
        # are checked one after the other.
        Page.objects.select_for_update(no_key=True).filter(pk=page.pk).first()
        _check([*_current_intervals(page), new])
        interval = OpeningInterval.objects.create(page=page, weekday=weekday, start_minute=start, end_minute=end)
        hours_changed(page)
        _audit(page, actor, "opening_interval_added", weekday=weekday, start=_hhmm(start), end=_hhmm(end))
    return interval


def remove_interval(*, page: Page, interval_id: int, actor: Any) -> bool:
    with transaction.atomic():
        interval = OpeningInterval.objects.filter(page=page, pk=interval_id).first()
        if interval is None:
            return False
        interval.delete()
        hours_changed(page)
        _audit(
            page, actor, "opening_interval_removed", weekday=interval.weekday,
            start=_hhmm(interval.start_minute), end=_hhmm(interval.end_minute),
        )
    return True


def copy_day(*, page: Page, weekday: int, to_weekdays: Sequence[int], actor: Any) -> int:
    """Give `to_weekdays` the same intervals as `weekday` (replacing theirs).
    Copying a day without intervals closes the other days. Returns the
    number of days changed."""
    targets = sorted({day for day in to_weekdays if 0 <= day <= 6 and day != weekday})
    if not targets:
        return 0
    with transaction.atomic():
        Page.objects.select_for_update(no_key=True).filter(pk=page.pk).first()
        source = list(OpeningInterval.objects.filter(page=page, weekday=weekday))
        OpeningInterval.objects.filter(page=page, weekday__in=targets).delete()
        OpeningInterval.objects.bulk_create(
            OpeningInterval(page=page, weekday=day, start_minute=i.start_minute, end_minute=i.end_minute)
            for day in targets
            for i in source
        )
        hours_changed(page)
        _audit(
            page, actor, "opening_day_copied", weekday=weekday, to=targets,
            intervals=[f"{_hhmm(i.start_minute)}-{_hhmm(i.end_minute)}" for i in source],
        )
    return len(targets)


def replace_hours(
    *,
    page: Page,
    actor: Any,
    tz: str | None = None,
    intervals: Sequence[availability.OpeningInterval] | None = None,
    closures: Sequence[date] | None = None,
    clear: bool = False,
) -> None:
    """What `set_hours` does: `clear` removes every interval and closure
    (always open), then `intervals` (when given) replace the weekly hours and
    `closures` (when given) replace the closure dates, as one-off dates."""
    if intervals is not None:
        _check(intervals)
    if tz is not None:
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise HoursRefused(_("Unknown time zone %(tz)s.") % {"tz": tz}) from error
    with transaction.atomic():
        Page.objects.select_for_update(no_key=True).filter(pk=page.pk).first()
        if tz is not None and tz != page.timezone:
            page.timezone = tz
            page.save(update_fields=["timezone"])
        if clear or intervals is not None:
            OpeningInterval.objects.filter(page=page).delete()
        if clear or closures is not None:
            ClosureDate.objects.filter(page=page).delete()
        if intervals:
            OpeningInterval.objects.bulk_create(
                OpeningInterval(page=page, weekday=i.weekday, start_minute=i.start, end_minute=i.end)
                for i in intervals
            )
        if closures:
            ClosureDate.objects.bulk_create(ClosureDate(page=page, day=day) for day in sorted(set(closures)))
        hours_changed(page)
        _audit(
            page, actor, "hours_replaced", clear=clear, timezone=page.timezone,
            intervals=None if intervals is None else [
                f"{i.weekday} {_hhmm(i.start)}-{_hhmm(i.end)}" for i in intervals
            ],
            closures=None if closures is None else [d.isoformat() for d in sorted(set(closures))],
        )


# --- Closure dates ------------------------------------------------------------


def add_closure(*, page: Page, day: date, yearly: bool, label: str, actor: Any) -> ClosureDate:
    with transaction.atomic():
        if _is_already_closed(page, day, yearly):
            raise HoursRefused(_("The Page is already closed on that date."))
        closure = ClosureDate.objects.create(page=page, day=day, yearly=yearly, label=label.strip()[:100])
        hours_changed(page)
        _audit(page, actor, "closure_added", day=day.isoformat(), yearly=yearly, label=closure.label)
    return closure


def _is_already_closed(page: Page, day: date, yearly: bool) -> bool:
    closures = ClosureDate.objects.filter(page=page)
    if yearly:
        return closures.filter(yearly=True, day__month=day.month, day__day=day.day).exists()
    return closures.filter(Q(yearly=False, day=day) | Q(yearly=True, day__month=day.month, day__day=day.day)).exists()


def remove_closure(*, page: Page, closure_id: int, actor: Any) -> bool:
    with transaction.atomic():
        closure = ClosureDate.objects.filter(page=page, pk=closure_id).first()
        if closure is None:
            return False
        closure.delete()
        hours_changed(page)
        _audit(page, actor, "closure_removed", day=closure.day.isoformat(), yearly=closure.yearly,
               label=closure.label)
    return True


def local_today(page: Page) -> date:
    return timezone.now().astimezone(ZoneInfo(page.timezone)).date()


def french_holidays_to_add(*, page: Page, year: int, today: date | None = None) -> list[tuple[date, str, bool]]:
    """The public holidays of `year` the Page does not close on yet, as
    (date, name, yearly): fixed-date ones yearly, Easter-based ones one-off
    (those already past are of no use and left out)."""
    today = today or local_today(page)
    missing = []
    for day, name in availability.french_public_holidays(year):
        yearly = name not in _MOVABLE_HOLIDAYS
        if not yearly and day < today:
            continue
        if not _is_already_closed(page, day, yearly):
            missing.append((day, name, yearly))
    return missing


def add_french_public_holidays(*, page: Page, year: int, actor: Any, today: date | None = None) -> int:
    """France's public holidays in one click. Returns how many were added."""
    with transaction.atomic():
        Page.objects.select_for_update(no_key=True).filter(pk=page.pk).first()
        missing = french_holidays_to_add(page=page, year=year, today=today)
        if not missing:
            return 0
        ClosureDate.objects.bulk_create(
            ClosureDate(page=page, day=day, yearly=yearly, label=name) for day, name, yearly in missing
        )
        hours_changed(page)
        _audit(page, actor, "french_holidays_added", year=year, days=[day.isoformat() for day, _name, _yearly in missing])
    return len(missing)


# --- The away switch ------------------------------------------------------------


def current_away(page: Page, *, now: datetime | None = None) -> AwayPeriod | None:
    now = now or timezone.now()
    return (
        AwayPeriod.objects.filter(page=page, start__lte=now)
        .filter(Q(until__isnull=True) | Q(until__gt=now))
        .select_related("created_by")
        .order_by("-start")
        .first()
    )


def start_away(*, page: Page, actor: Any, until: datetime | None = None, now: datetime | None = None) -> AwayPeriod:
    """Any member switches the Page to away, until `until` or until switched
    off. Customers who write meanwhile get the away message; their clock
    starts when the Page is available again."""
    now = now or timezone.now()
    if until is not None:
        if until <= now:
            raise HoursRefused(_("The end of an away period must be in the future."))
        if until - now > MAX_AWAY:
            raise HoursRefused(_("An away period lasts at most 90 days: add closure dates instead."))
    with transaction.atomic():
        Page.objects.select_for_update(no_key=True).filter(pk=page.pk).first()
        # Switching away on again replaces the running period's end.
        _end_running(page, now)
        period = AwayPeriod.objects.create(page=page, start=now, until=until, created_by=actor)
        hours_changed(page)
        _audit(page, actor, "away_started", until=until.isoformat() if until else None)
    return period


def end_away(*, page: Page, actor: Any, now: datetime | None = None) -> int:
    """Back from away now. Returns how many running periods were ended."""
    now = now or timezone.now()
    with transaction.atomic():
        Page.objects.select_for_update(no_key=True).filter(pk=page.pk).first()
        ended = _end_running(page, now)
        if ended:
            hours_changed(page)
            _audit(page, actor, "away_ended")
    return ended


def _end_running(page: Page, now: datetime) -> int:
    return (
        AwayPeriod.objects.filter(page=page, start__lte=now)
        .filter(Q(until__isnull=True) | Q(until__gt=now))
        .update(until=now)
    )

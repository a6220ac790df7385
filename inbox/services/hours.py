"""Business hours as the availability module sees them (DOMAIN.md "Availability").

`schedule_for(page)` turns a Page's stored hours, closures and away periods
into an `availability.Schedule`. It is called for every customer message, so
it is cached per process, keyed by the Page's `hours_changed_at`, which every
change to hours, closures or away periods bumps (see `hours_changed`).
"""

from __future__ import annotations

from functools import lru_cache

from django.utils import timezone

from .. import availability
from ..models import AwayPeriod, ClosureDate, OpeningInterval, Page


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
    page.hours_changed_at = timezone.now()
    page.save(update_fields=["hours_changed_at"])

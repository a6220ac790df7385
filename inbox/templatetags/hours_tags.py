"""Business hours in templates: instants in a Page's time zone, said the way
a community manager reads them ("today 18:00", "Monday 09:00"), and minutes
since midnight as clock times."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from django import template
from django.utils import timezone
from django.utils.dates import WEEKDAYS
from django.utils.formats import date_format
from django.utils.translation import gettext as _

register = template.Library()


@register.filter
def local_when(value: datetime | None, tz: str) -> str:
    """`value` in the zone `tz`, relative to today there: "today 18:00",
    "tomorrow 09:00", "Monday 09:00" (within 6 days), "24 December 09:00"."""
    if value is None:
        return ""
    zone = ZoneInfo(tz)
    local = value.astimezone(zone)
    days_ahead = (local.date() - timezone.now().astimezone(zone).date()).days
    clock = f"{local:%H:%M}"
    if days_ahead == 0:
        return _("today %(time)s") % {"time": clock}
    if days_ahead == 1:
        return _("tomorrow %(time)s") % {"time": clock}
    if 1 < days_ahead <= 6:
        return _("%(weekday)s %(time)s") % {"weekday": WEEKDAYS[local.weekday()], "time": clock}
    return _("%(date)s %(time)s") % {"date": date_format(local, "j F Y" if days_ahead > 300 else "j F"),
                                     "time": clock}


@register.filter
def local_time(value: datetime | None, tz: str) -> str:
    """`value` in the zone `tz` as the date and time a table shows."""
    if value is None:
        return ""
    return date_format(value.astimezone(ZoneInfo(tz)), "SHORT_DATETIME_FORMAT")


@register.filter
def hhmm(minutes: int) -> str:
    """Minutes since local midnight as "09:30"; 1440 is "24:00"."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@register.filter
def weekday_name(weekday: int) -> str:
    return str(WEEKDAYS[weekday])


@register.filter
def minus(value: int, other: int) -> int:
    return value - other


@register.simple_tag
def away_durations() -> list[tuple[str, str]]:
    """The away switch's "how long" choices, for forms rendered by includes."""
    from ..forms_hours import AWAY_DURATIONS

    return [(value, str(label)) for value, label in AWAY_DURATIONS]


@register.filter
def get_item(mapping: dict | None, key: object) -> object:
    return (mapping or {}).get(key)

"""Business hours in templates: instants in a Page's time zone, said the way
a community manager reads them ("today 18:00", "Monday 09:00"), and minutes
since midnight as clock times."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.dates import WEEKDAYS
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from .. import fragments
from ..hours_selectors import PageAvailability
from ..models import person_name

register = template.Library()


@register.filter
def local_when(value: datetime | None, tz: str, *, today_as_time: bool = False) -> str:
    """`value` in the zone `tz`, relative to today there: "today 18:00",
    "tomorrow 09:00", "Monday 09:00" (within 6 days), "24 December 09:00".
    `today_as_time`: a time today is said bare ("18:00"), where "until" or
    "opens" before it makes "today" go without saying."""
    if value is None:
        return ""
    zone = ZoneInfo(tz)
    local = value.astimezone(zone)
    days_ahead = (local.date() - timezone.now().astimezone(zone).date()).days
    clock = f"{local:%H:%M}"
    if days_ahead == 0:
        return clock if today_as_time else _("today %(time)s") % {"time": clock}
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
def away_durations() -> tuple[tuple[str, str], ...]:
    """The away switch's "how long" choices in the active language, for forms
    rendered by includes (a tuple: part of a header line's cache key)."""
    from ..forms_hours import AWAY_DURATIONS

    return tuple((value, str(label)) for value, label in AWAY_DURATIONS)


@register.filter
def get_item(mapping: dict | None, key: object) -> object:
    return (mapping or {}).get(key)


@dataclass(frozen=True, slots=True)
class HeaderItem:
    """One Page's line in the inbox's opening-hours header: every value its
    partial reads, and only those, so that it is the key of its HTML
    (inbox.fragments). Instants are already said the way the line says them,
    relative to today in the Page's zone."""

    pk: int
    name: str
    show_name: bool
    state: str
    is_open: bool
    next_change: str
    has_away: bool
    away_until: str
    away_start: str
    away_by: str
    # An away period that ends before the next opening says both.
    opens_after_away: bool
    waiting: int
    durations: tuple[tuple[str, str], ...]


@register.simple_tag(takes_context=True)
def header_item(
    context: template.Context, item: PageAvailability, *, several: int, durations: tuple[tuple[str, str], ...]
) -> SafeString:
    """One Page's line of hours/_inbox_header.html, rendered once per content.
    `durations`: `away_durations`, worked out once for the whole header."""
    page, away = item.page, item.away
    tz = page.timezone
    content = HeaderItem(
        pk=page.pk,
        name=page.name,
        show_name=several > 1,
        state=item.state,
        is_open=item.is_open,
        next_change=local_when(item.next_change, tz),
        has_away=away is not None,
        away_until=local_when(away.until, tz) if away else "",
        away_start=local_when(away.start, tz) if away else "",
        away_by=person_name(away.created_by.first_name, away.created_by.username) if away and away.created_by else "",
        opens_after_away=bool(item.next_change and item.next_change != (away.until if away else None)),
        waiting=item.waiting,
        durations=durations,
    )
    request = context.get("request")
    if request is None:
        back = "/"
    elif getattr(request, "htmx", False):
        back = request.htmx.current_url_abs_path or "/"
    else:
        back = request.get_full_path()
    error = (context.get("away_errors") or {}).get(page.pk)
    # The token {% csrf_token %} would print: the context's, masked once per
    # response for every form of the page.
    token = context.get("csrf_token")
    csrf = format_html('<input type="hidden" name="csrfmiddlewaretoken" value="{}">', token) if token else ""
    return fragments.fill(
        fragments.render("hours/_inbox_header.html#item", item=content, csrf_input=fragments.slot("csrf"),
                         next=fragments.slot("next"), error=fragments.slot("error")),
        csrf=csrf,
        next=back,
        error=format_html('<p class="form-error" role="alert">{}</p>', error) if error else "",
    )


@dataclass(frozen=True, slots=True)
class TopbarPage:
    name: str
    state: str
    # Said relative to today in the Page's zone; only a lone Page shows it.
    next_change: str


@dataclass(frozen=True, slots=True)
class TopbarStatus:
    """Everything the topbar's status (hours/_topbar_status.html#status)
    shows, and only that: the key of its HTML (inbox.fragments)."""

    pages: tuple[TopbarPage, ...]
    open: int
    closed: int
    away: int
    queue_url: str
    oob: bool


@register.simple_tag(takes_context=True)
def topbar_status(context: template.Context, *, oob: object = False) -> SafeString:
    """The topbar's open / closed / away status of the user's Pages, rendered
    once per content. Safe to reuse: the key holds each Page's name and
    state, the counts, a lone Page's next change as the line says it (so a
    new day is a new key), the queue's URL, and fragments.render adds the
    language and time zone."""
    hours_status = context.get("hours_status")
    items = hours_status.pages if hours_status is not None else []
    lone = len(items) == 1
    counts = hours_status.counts if hours_status is not None else {"open": 0, "closed": 0, "away": 0}
    content = TopbarStatus(
        pages=tuple(
            TopbarPage(
                name=item.page.name,
                state=item.state,
                # "Open · until 20:00": the topbar has no room for "today".
                next_change=local_when(item.next_change, item.page.timezone, today_as_time=True) if lone else "",
            )
            for item in items
        ),
        open=counts["open"],
        closed=counts["closed"],
        away=counts["away"],
        queue_url=reverse("inbox:queue"),
        oob=bool(oob),
    )
    return fragments.fill(fragments.render("hours/_topbar_status.html#status", status=content))

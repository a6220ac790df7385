from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo, available_timezones

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone as django_timezone

from inbox import availability
from inbox.models import ClosureDate, OpeningInterval, Page
from inbox.services import hours as hours_service


class Command(BaseCommand):
    help = (
        "Set a Page's business hours. --hours replaces the weekly opening intervals, --closed "
        "replaces the closure dates, --clear removes both first (no hours at all = always open)."
    )

    def add_arguments(self, parser):
        parser.add_argument("page_id", help="Meta's Page id")
        parser.add_argument("--timezone", default=None, help="IANA time zone, e.g. Europe/Paris")
        parser.add_argument(
            "--hours", action="append", default=None, metavar="SPEC",
            help='days then times, e.g. "mon-fri 09:00-12:00,14:00-18:00"; repeat for other days',
        )
        parser.add_argument("--closed", action="append", default=None, metavar="YYYY-MM-DD",
                            help="a closure date; repeat for several")
        parser.add_argument("--clear", action="store_true",
                            help="remove every opening interval and closure date first")

    def handle(self, *args, page_id, closed, clear, **options):
        # Named after the options, these would shadow the modules above.
        timezone, hours = options["timezone"], options["hours"]
        page = Page.objects.filter(meta_page_id=page_id).first()
        if page is None:
            raise CommandError(f"No connected Page {page_id!r} (run connect_page first)")
        if timezone is not None and timezone not in available_timezones():
            raise CommandError(f"Unknown time zone {timezone!r} (use an IANA name such as Europe/Paris)")
        if timezone is None and hours is None and closed is None and not clear:
            raise CommandError("Nothing to do: give --timezone, --hours, --closed or --clear")
        intervals: list[availability.OpeningInterval] | None = None
        if hours is not None:
            intervals = []
            for spec in hours:
                try:
                    intervals += availability.parse_hours(spec)
                except ValueError as error:
                    raise CommandError(f"Bad --hours {spec!r}: {error}") from error
            problems = availability.validate_intervals(intervals)
            if problems:
                raise CommandError("Bad --hours: " + "; ".join(problems))
        closures = None
        if closed is not None:
            closures = [_date(text) for text in closed]
        try:
            hours_service.replace_hours(page=page, actor=None, tz=timezone, intervals=intervals,
                                        closures=closures, clear=clear)
        except hours_service.HoursRefused as error:
            raise CommandError(str(error)) from error
        page.refresh_from_db()
        self.stdout.write(_summary(page))


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError as error:
        raise CommandError(f"Bad --closed {text!r}: expected a date such as 2026-12-24") from error


def _summary(page: Page) -> str:
    lines = [f"{page.name} ({page.meta_page_id}), time zone {page.timezone}"]
    intervals = list(OpeningInterval.objects.filter(page=page))
    if not intervals:
        lines.append("  no opening hours: always open")
    days = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    for weekday in range(7):
        todays = [i for i in intervals if i.weekday == weekday]
        if intervals:
            text = ", ".join(f"{_hhmm(i.start_minute)}-{_hhmm(i.end_minute)}" for i in todays) or "closed"
            lines.append(f"  {days[weekday]} {text}")
    for closure in ClosureDate.objects.filter(page=page):
        lines.append(f"  closed {closure.day.isoformat()}{' (every year)' if closure.yearly else ''}"
                     f"{' ' + closure.label if closure.label else ''}")
    schedule = hours_service.schedule_for(page)
    now = django_timezone.now()
    if schedule.is_available(now):
        lines.append("Open now")
    else:
        opening = schedule.next_opening(now)
        lines.append(f"Closed now; opens {opening.astimezone(ZoneInfo(page.timezone)):%Y-%m-%d %H:%M %Z}"
                     if opening else "Closed now; no opening ahead")
    return "\n".join(lines)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"

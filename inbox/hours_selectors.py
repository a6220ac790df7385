"""Reads for business hours (STYLE.md habit 2): what the topbar, the inbox
header and the settings page show. The status of a Page costs no query once
its schedule is cached (services.hours.schedule_for); the opening rush is one
grouped COUNT over pending opportunities whose clock has not started."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.functional import cached_property

from .models import (
    AuditLog,
    AwayMessage,
    AwayPeriod,
    ClosureDate,
    Membership,
    OpeningInterval,
    Page,
    ResponseOpportunity,
    ResponseOpportunityStatus,
    Role,
)
from .services import hours

OPEN, CLOSED, AWAY = "open", "closed", "away"

# Audit actions shown in the settings page's "recent changes".
HOURS_ACTIONS = (
    "timezone_changed", "opening_interval_added", "opening_interval_removed", "opening_day_copied",
    "hours_replaced", "closure_added", "closure_removed", "french_holidays_added", "away_started",
    "away_ended", "away_message_saved", "page_settings_changed",
)  # fmt: skip


@dataclass
class PageAvailability:
    page: Page
    is_admin: bool
    state: str  # OPEN, CLOSED or AWAY
    # When the state changes next: the next closing while open, the next
    # opening otherwise; None when it never does (or an away has no end).
    next_change: datetime | None
    away: AwayPeriod | None = None
    # The opening rush: conversations whose clock starts at the next opening.
    waiting: int = 0

    @property
    def is_open(self) -> bool:
        return self.state == OPEN


def page_availability(page: Page, *, is_admin: bool, now: datetime) -> PageAvailability:
    schedule = hours.schedule_for(page)
    if schedule.is_available(now):
        return PageAvailability(page, is_admin, OPEN, schedule.next_closing(now))
    away_now = any(period.covers(now) for period in schedule.away)
    return PageAvailability(page, is_admin, AWAY if away_now else CLOSED, schedule.next_opening(now))


class HoursStatus:
    """The user's Pages and whether each is open, closed or away, computed
    when a template first asks (the context processor hands this over lazily,
    so pages that show no status pay nothing)."""

    def __init__(self, user: Any, *, now: datetime | None = None) -> None:
        self.user = user
        self.now = now or timezone.now()

    @cached_property
    def pages(self) -> list[PageAvailability]:
        if not self.user.is_authenticated:
            return []
        memberships = Membership.objects.filter(user=self.user).select_related("page").order_by("page__name")
        items = [
            page_availability(m.page, is_admin=m.role == Role.ADMIN, now=self.now) for m in memberships
        ]
        away = [item for item in items if item.state == AWAY]
        if away:
            running = {
                period.page_id: period
                for period in AwayPeriod.objects.filter(page__in=[item.page for item in away], start__lte=self.now)
                .filter(Q(until__isnull=True) | Q(until__gt=self.now))
                .select_related("created_by")
                .order_by("start")
            }
            for item in away:
                item.away = running.get(item.page.pk)
        return items

    @cached_property
    def member_pages(self) -> list[Page]:
        """The user's Pages as `access.pages_for` gives them (none for an
        inactive user), by Page name, from the memberships read above: the
        views that show the layout check access on them, not on a second read."""
        return [item.page for item in self.pages] if self.user.is_active else []

    @cached_property
    def with_waiting(self) -> list[PageAvailability]:
        """`pages` with the opening rush counted (the inbox header)."""
        items = self.pages
        waiting = waiting_counts([item.page for item in items if not item.is_open], now=self.now)
        for item in items:
            item.waiting = waiting.get(item.page.pk, 0)
        return items

    @cached_property
    def is_admin_anywhere(self) -> bool:
        return any(item.is_admin for item in self.pages)

    @cached_property
    def counts(self) -> dict[str, int]:
        result = {OPEN: 0, CLOSED: 0, AWAY: 0}
        for item in self.pages:
            result[item.state] += 1
        return result


def waiting_counts(pages: list[Page], *, now: datetime) -> dict[int, int]:
    """Per Page, the open opportunities whose clock has not started yet: the
    conversations that arrived while closed and wait for the opening."""
    if not pages:
        return {}
    rows = (
        ResponseOpportunity.objects.filter(
            page__in=pages,
            status=ResponseOpportunityStatus.PENDING,
            closed_at__isnull=True,
            # due_at > now lets the partial index ro_pending_due bound the scan.
            due_at__gt=now,
            clock_start__gt=now,
        )
        .values("page_id")
        .annotate(n=Count("pk"))
    )
    return {row["page_id"]: row["n"] for row in rows}


def admin_pages(user: Any) -> QuerySet[Page]:
    return Page.objects.filter(memberships__user=user, memberships__role=Role.ADMIN).order_by("name")


# --- The settings page --------------------------------------------------------------


@dataclass
class Day:
    weekday: int
    intervals: list[OpeningInterval] = field(default_factory=list)


def week(page: Page) -> list[Day]:
    days = [Day(weekday) for weekday in range(7)]
    for interval in OpeningInterval.objects.filter(page=page).order_by("weekday", "start_minute"):
        days[interval.weekday].intervals.append(interval)
    return days


@dataclass
class Closures:
    # (closure, the date it next closes the Page), soonest first.
    upcoming: list[tuple[ClosureDate, date]]
    past: int


def next_occurrence(closure: ClosureDate, today: date) -> date | None:
    if not closure.yearly:
        return closure.day if closure.day >= today else None
    # A yearly Feb 29 may be 8 years away (2096 -> 2104).
    for year in range(today.year, today.year + 9):
        try:
            occurrence = closure.day.replace(year=year)
        except ValueError:
            continue
        if occurrence >= today:
            return occurrence
    return None


def closures(page: Page, *, today: date) -> Closures:
    upcoming, past = [], 0
    for closure in ClosureDate.objects.filter(page=page):
        occurrence = next_occurrence(closure, today)
        if occurrence is None:
            past += 1
        else:
            upcoming.append((closure, occurrence))
    return Closures(upcoming=sorted(upcoming, key=lambda row: (row[1], row[0].pk)), past=past)


def away_messages(page: Page) -> dict[str, AwayMessage]:
    return {m.language: m for m in AwayMessage.objects.filter(page=page)}


def recent_changes(page: Page, *, limit: int = 12) -> list[AuditLog]:
    return list(
        AuditLog.objects.filter(page=page, action__in=HOURS_ACTIONS).select_related("actor").order_by("-at")[:limit]
    )

"""The queue's rows: everything a line shows, worked out in one pass
(`build_rows`), and its HTML rendered once per distinct content
(`render_rows`, through inbox.fragments): the frozen `QueueRow` holds every
value the row template reads and nothing else, so the row is its own cache
key. The countdown's text (it moves every second) and the CSRF token (a new
mask per response) are slots filled per response.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from django.urls import reverse
from django.utils import dateformat
from django.utils.safestring import SafeString
from django.utils.translation import get_language

from . import availability, fragments
from .models import ConversationKind, ConversationStatus, Page
from .templatetags.inbox_tags import duration_units, epoch_ms, format_duration

if TYPE_CHECKING:
    from .selectors import QueueItem


class LocalTimes:
    """Instants as the inbox prints them in one Page's zone: ISO for
    `<time datetime>`, "3 nov. 14:05" to read. Each day is named once: the
    `date` filter, per line, cost more than the rest of a message's HTML."""

    def __init__(self, tz: str, now: datetime) -> None:
        self.zone = ZoneInfo(tz)
        self.today = now.astimezone(self.zone).date()
        self._days: dict[date, str] = {}

    def local(self, instant: datetime) -> datetime:
        return instant.astimezone(self.zone)

    def day(self, local: datetime) -> str:
        """`local`'s date as the `date` filter's "j N" says it."""
        day = local.date()
        if day not in self._days:
            self._days[day] = dateformat.format(local, "j N")
        return self._days[day]

    def day_and_time(self, instant: datetime) -> tuple[str, str]:
        """(ISO, "j N H:i")."""
        local = self.local(instant)
        return local.isoformat(), f"{self.day(local)} {local:%H:%M}"


# A stand-in pk that no real URL contains, reversed once per list.
_PK_PLACEHOLDER = 9_876_543_210


def urls_by_pk(name: str) -> Callable[[int], str]:
    """`reverse(name, args=[pk])` for every row of a list, at the cost of one
    reverse: the URL is built from the pattern with each row's pk put in.
    Per row, reverse() cost more than the rest of the row's HTML."""
    head, _, tail = reverse(name, args=[_PK_PLACEHOLDER]).rpartition(str(_PK_PLACEHOLDER))
    return lambda pk: f"{head}{pk}{tail}"


def when(instant: datetime, page: Page, now: datetime) -> str:
    """"tomorrow at 9:00 AM", in the Page's zone and the user's language."""
    language = (get_language() or "fr").split("-")[0]
    return availability.format_next_opening(instant, language=language, now=now, tz=page.timezone)


@dataclass(frozen=True, slots=True)
class QueueRow:
    """One conversation of the queue: every value its line shows, and only
    those (the row template reads nothing else), so that the row itself is
    the key of its HTML. Numbers leave as text: the template engine localises
    every int it prints, which cost more than anything else on the row."""

    pk: str
    at_risk_seconds: str
    is_public: bool
    has_due: bool
    # Received while the Page was closed and the clock has not started yet:
    # nothing is late before the next opening.
    clock_not_started: bool
    clock_start_text: str
    is_missed: bool
    is_at_risk: bool
    # The countdown's deadline for inbox.js (its text is the `left_text`
    # that `build_rows` returns beside the row: it changes every second).
    due_ms: str
    status: str
    status_display: str
    contact_name: str  # "" for an unknown contact
    preview: str
    post_id: str
    received_while_closed: bool
    # The last message's time in the Page's zone: "14:05" today, else "3 Nov".
    last_message_iso: str
    last_message_text: str
    page_name: str
    assignee_name: str  # "" when nobody is assigned
    is_mine: bool
    url: str
    assign_url: str
    status_url: str


def build_rows(conversations: list[QueueItem], now: datetime, *, user_id: int) -> list[tuple[QueueRow, str]]:
    """Each conversation's row and its countdown text, in the given order."""
    units = duration_units()
    conversation_url = urls_by_pk("inbox:conversation")
    assign_url = urls_by_pk("inbox:assign")
    status_url = urls_by_pk("inbox:status")
    # Rows of one Page share its zone, and many rows share a day.
    times: dict[str, LocalTimes] = {}
    rows = []
    for conversation in conversations:
        page = conversation.page
        due = conversation.due_at
        clock_start = None
        if due is not None:
            clock_start = due - timedelta(seconds=page.target_seconds(conversation.kind))
        left = (due - now).total_seconds() if due else None
        not_started = bool(clock_start and clock_start > now)
        last_iso = last_text = ""
        if conversation.last_message_at:
            if page.timezone not in times:
                times[page.timezone] = LocalTimes(page.timezone, now)
            clock = times[page.timezone]
            local = clock.local(conversation.last_message_at)
            last_iso = local.isoformat()
            last_text = f"{local:%H:%M}" if local.date() == clock.today else clock.day(local)
        row = QueueRow(
            pk=str(conversation.pk),
            at_risk_seconds=str(page.at_risk_seconds),
            is_public=conversation.kind == ConversationKind.PUBLIC,
            has_due=due is not None,
            clock_not_started=not_started,
            clock_start_text=when(clock_start, page, now) if clock_start and not_started else "",
            is_missed=left is not None and left < 0,
            is_at_risk=left is not None and 0 <= left <= page.at_risk_seconds,
            due_ms=epoch_ms(due),
            status=conversation.status,
            # Shown for a finished conversation only ("answered" otherwise).
            status_display="" if conversation.status == "open" else str(ConversationStatus(conversation.status).label),
            contact_name=conversation.contact_name,
            preview=conversation.preview,
            post_id=conversation.post_id,
            received_while_closed=conversation.received_while_closed,
            last_message_iso=last_iso,
            last_message_text=last_text,
            page_name=page.name,
            assignee_name=conversation.assignee_name,
            is_mine=conversation.assignee_id is not None and conversation.assignee_id == user_id,
            url=conversation_url(conversation.pk),
            assign_url=assign_url(conversation.pk),
            status_url=status_url(conversation.pk),
        )
        rows.append((row, format_duration(left, units=units) if left is not None else ""))
    return rows


def render_rows(rows: list[tuple[QueueRow, str]], *, several_pages: bool, csrf_input: str) -> list[SafeString]:
    """Each row's `<li>`, from the cache when the same content was rendered
    before in this language."""
    left_slot, csrf_slot = fragments.slot("left"), fragments.slot("csrf")
    return [
        fragments.fill(
            fragments.render("inbox/queue.html#row", row=row, several_pages=several_pages,
                             left_text=left_slot, csrf_input=csrf_slot),
            left=left, csrf=csrf_input,
        )
        for row, left in rows
    ]

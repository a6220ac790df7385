"""Reads (STYLE.md habit 2): the query shapes the pages, fragments and the API
share, with the select_related/prefetch they need and the indexes they use."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

from django.db.models import F, Prefetch, Q, QuerySet
from django.utils.dateparse import parse_datetime

from . import responsiveness as rules
from .models import Conversation, ConversationStatus, Message, Page, ResponseOpportunity

QUEUE_PAGE_SIZE = 50


@dataclass
class QueuePage:
    rows: list[Conversation]
    next_cursor: str | None


def _encode_cursor(*parts: str) -> str:
    return base64.urlsafe_b64encode("|".join(parts).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> list[str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return base64.urlsafe_b64decode(padded.encode()).decode().split("|")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ValueError("bad cursor") from exc


def queue(
    *,
    pages: list[Page] | QuerySet[Page],
    status: str = ConversationStatus.OPEN,
    kind: str | None = None,
    assignee: Any = None,
    unassigned: bool = False,
    search: str = "",
    after: str | None = None,
    limit: int = QUEUE_PAGE_SIZE,
) -> QueuePage:
    """The triage queue, keyset-paginated (no OFFSET, no COUNT).

    Open conversations: most urgent first — ordered by the open RO's due time
    (missed ones, due in the past, come first), then those with nothing due.
    Other statuses: most recent activity first.
    """
    qs = Conversation.objects.filter(page__in=pages, status=status)
    if kind:
        qs = qs.filter(kind=kind)
    if assignee is not None:
        qs = qs.filter(assignee=assignee)
    elif unassigned:
        qs = qs.filter(assignee__isnull=True)
    if search:
        qs = qs.filter(
            Q(contact__name__icontains=search)
            | Q(pk__in=Message.objects.filter(page__in=pages, text__icontains=search).values("conversation_id")[:500])
        )
    if status == ConversationStatus.OPEN:
        qs = qs.order_by(F("due_at").asc(nulls_last=True), "id")
        if after:
            due, pk = _decode_cursor(after)
            pk_int = int(pk)
            if due:
                due_at = parse_datetime(due)
                if due_at is None:
                    raise ValueError("bad cursor")
                qs = qs.filter(Q(due_at__gt=due_at) | Q(due_at=due_at, id__gt=pk_int) | Q(due_at__isnull=True))
            else:
                qs = qs.filter(due_at__isnull=True, id__gt=pk_int)
    else:
        qs = qs.order_by(F("last_message_at").desc(nulls_last=True), "-id")
        if after:
            last, pk = _decode_cursor(after)
            pk_int = int(pk)
            if last:
                last_at = parse_datetime(last)
                if last_at is None:
                    raise ValueError("bad cursor")
                qs = qs.filter(
                    Q(last_message_at__lt=last_at) | Q(last_message_at=last_at, id__lt=pk_int)
                    | Q(last_message_at__isnull=True)
                )
            else:
                qs = qs.filter(last_message_at__isnull=True, id__lt=pk_int)
    qs = qs.select_related("contact", "assignee", "page").prefetch_related(
        Prefetch(
            "opportunities",
            queryset=ResponseOpportunity.objects.filter(closed_at__isnull=True).order_by("-opened_at"),
            to_attr="open_ros",
        )
    )
    rows = list(qs[: limit + 1])
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last_row = rows[-1]
        key = last_row.due_at if status == ConversationStatus.OPEN else last_row.last_message_at
        next_cursor = _encode_cursor(key.isoformat() if key else "", str(last_row.pk))
    for row in rows:
        row.open_ro = row.open_ros[0] if row.open_ros else None  # type: ignore[attr-defined]
    return QueuePage(rows=rows, next_cursor=next_cursor)


def thread(conversation: Conversation) -> list[Message]:
    """A conversation's messages in platform-timestamp order."""
    return list(
        Message.objects.filter(conversation=conversation)
        .select_related("author")
        .order_by("timestamp", "id")
    )


# ---------------------------------------------------------------------------
# Responsiveness


@dataclass
class ResponsivenessReport:
    """CONTRACT.md's responsiveness object: DOMAIN.md's figures under the
    same keys, for one Page, one kind and one window."""

    page: Page
    kind: str
    days: int
    target_seconds: int
    target_share: Fraction
    computed_at: datetime
    figures: rules.Figures
    # The same figures with every clock started at the customer's message.
    calendar: rules.Figures | None = None

    def as_json(self) -> dict[str, Any]:
        from dataclasses import asdict

        data: dict[str, Any] = {
            "page_id": self.page.meta_page_id,
            "kind": self.kind,
            "days": self.days,
            "target_seconds": self.target_seconds,
            "target_share": float(self.target_share),
            "computed_at": self.computed_at.isoformat(),
        }
        for name, value in asdict(self.figures).items():
            # Fractions leave as floats only here: the maths stayed exact.
            data[name] = float(value) if isinstance(value, Fraction) else value
        return data


def responsiveness_report(
    *, page: Page, kind: str, days: int, now: datetime | None = None, responder: Any = None
) -> ResponsivenessReport:
    """The window's figures, from daily rollups and the ROs at its edges
    (inbox.dashboard); `responder` narrows them to the ROs that user closed
    (Meta's figures, which are about the Page, are then null)."""
    from . import dashboard, tallies

    win = dashboard.window(page=page, kind=kind, days=days, now=now)
    figures, calendar = win.figures, win.calendar
    if responder is not None:
        def by(tally: tallies.Tally) -> rules.Figures:
            mine = tallies.Tally()
            mine.add(tally.responders.get(responder.pk, tallies.Tally()))
            return tallies.figures(mine, target_share=win.target_share, resolve_bucket=lambda s, n: 0)

        figures, calendar = by(win.tally.hours), by(win.tally.calendar)
    return ResponsivenessReport(
        page=page, kind=kind, days=days, target_seconds=win.target_seconds, target_share=win.target_share,
        computed_at=win.now, figures=figures, calendar=calendar,
    )

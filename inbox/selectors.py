"""Reads (STYLE.md habit 2): the query shapes the pages, fragments and the API
share, with the select_related/prefetch they need and the indexes they use."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import F, Prefetch, Q, QuerySet
from django.utils.dateparse import parse_datetime

from . import responsiveness as rules
from .models import (
    Channel,
    Conversation,
    ConversationEvent,
    ConversationStatus,
    Message,
    Page,
    ResponseOpportunity,
    joined_contact_display_name,
    person_name,
)

QUEUE_PAGE_SIZE = 50
# A search looks at the newest matching messages, this many at most: enough
# to find a conversation by what was said, bounded so that a common word
# ("bonjour") never scans a Page's whole history on a hot page (indexes
# msg_recent and, on PostgreSQL, msg_text_trgm).
SEARCH_MESSAGE_LIMIT = 500
# The conversation view shows the latest messages first and loads earlier
# ones on demand: a contact who has written for years stays a fast page.
THREAD_PAGE_SIZE = 100


@dataclass
class QueuePage:
    # Conversations with their open RO (`with_open_ro`), or the inbox's rows.
    rows: list[Any]
    next_cursor: str | None


@dataclass(slots=True)
class QueueItem:
    """A conversation as a row of the inbox's queue shows it (inbox.queue_rows),
    read as values: building 50 conversations with their contact and
    assignee as model instances cost five times the CPU of the query."""

    pk: int
    page: Page
    kind: str
    status: str
    due_at: datetime | None
    last_message_at: datetime | None
    preview: str
    post_id: str
    received_while_closed: bool
    contact_name: str  # "" without a contact
    assignee_id: int | None
    assignee_name: str  # "" when nobody is assigned

    @classmethod
    def from_values(cls, values: tuple[Any, ...], pages: dict[int, Page]) -> QueueItem:
        (pk, page_id, kind, status, due_at, last_message_at, preview, post_id, received_while_closed,
         name, first_name, last_name, assignee_id, assignee_first_name, assignee_username) = values
        return cls(
            pk=pk, page=pages[page_id], kind=kind, status=status, due_at=due_at, last_message_at=last_message_at,
            preview=preview, post_id=post_id, received_while_closed=received_while_closed,
            contact_name=joined_contact_display_name(name, first_name, last_name),
            assignee_id=assignee_id,
            assignee_name=person_name(assignee_first_name, assignee_username) if assignee_id else "",
        )


def _encode_cursor(*parts: str) -> str:
    return base64.urlsafe_b64encode("|".join(parts).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> list[str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        parts = base64.urlsafe_b64decode(padded.encode()).decode().split("|")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ValueError("bad cursor") from exc
    if len(parts) != 2 or not parts[1].isdigit():
        raise ValueError("bad cursor")
    return parts


def _cursor_time(text: str) -> datetime:
    try:
        value = parse_datetime(text)
    except ValueError:
        value = None
    if value is None:
        raise ValueError("bad cursor")
    return value


# QueueItem.from_values's order.
QUEUE_ITEM_COLUMNS = (
    "pk", "page_id", "kind", "status", "due_at", "last_message_at", "preview", "post_id", "received_while_closed",
    "contact__name", "contact__first_name", "contact__last_name",
    "assignee_id", "assignee__first_name", "assignee__username",
)


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
    waiting: bool = False,
    with_open_ro: bool = True,
) -> QueuePage:
    """The triage queue, keyset-paginated (no OFFSET, no COUNT).

    Open conversations: most urgent first — ordered by the open RO's due time
    (missed ones, due in the past, come first), then those with nothing due;
    `waiting` keeps only those with something due (the triage view: a
    conversation leaves it once the Page has answered). Served by the partial
    indexes `conv_queue_open_due` and, for "mine", `conv_assignee_open_due`.

    Other statuses: most recent activity first, in the order of the index
    `conv_status_recent` (page, status, last_message_at DESC, id) so that
    PostgreSQL walks it instead of sorting. Conversations without any message
    (an ad referral alone) have nothing to show there and are left out.

    `with_open_ro` prefetches each row's open RO (the API shows it). Without
    it the rows are the inbox's (`QueueItem`): it reads the denormalised
    `due_at` instead, and saves the query.
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
            | Q(
                pk__in=Message.objects.filter(
                    page__in=pages, conversation__status=status, text__icontains=search
                )
                # The newest matching messages, in this status, so that the
                # same search finds the same conversations on every load.
                .order_by("-timestamp", "-id")
                .values("conversation_id")[:SEARCH_MESSAGE_LIMIT]
            )
        )
    if status == ConversationStatus.OPEN:
        if waiting:
            qs = qs.filter(due_at__isnull=False)
        qs = qs.order_by(F("due_at").asc(nulls_last=True), "id")
        if after:
            due, pk = _decode_cursor(after)
            pk_int = int(pk)
            if due:
                due_at = _cursor_time(due)
                qs = qs.filter(Q(due_at__gt=due_at) | Q(due_at=due_at, id__gt=pk_int) | Q(due_at__isnull=True))
            else:
                qs = qs.filter(due_at__isnull=True, id__gt=pk_int)
    else:
        qs = qs.filter(last_message_at__isnull=False).order_by(F("last_message_at").desc(), "id")
        if after:
            last, pk = _decode_cursor(after)
            last_at = _cursor_time(last)
            qs = qs.filter(Q(last_message_at__lt=last_at) | Q(last_message_at=last_at, id__gt=int(pk)))
    # Rows share the caller's Page objects when it hands them over: joining
    # the Page again for every row would also decrypt its access token each
    # time (EncryptedTextField), the queue's largest cost after rendering.
    given_pages = {page.pk: page for page in pages} if isinstance(pages, list) else None
    rows: list[Any]
    if with_open_ro:
        qs = qs.select_related("contact", "assignee") if given_pages else qs.select_related("contact", "assignee", "page")
        qs = qs.prefetch_related(
            Prefetch(
                "opportunities",
                queryset=ResponseOpportunity.objects.filter(closed_at__isnull=True).order_by("-opened_at"),
                to_attr="open_ros",
            )
        )
        rows = list(qs[: limit + 1])
        for row in rows:
            if given_pages:
                row.page = given_pages[row.page_id]
            row.open_ro = row.open_ros[0] if row.open_ros else None
    else:
        by_id = given_pages or {page.pk: page for page in pages}
        rows = [QueueItem.from_values(values, by_id) for values in qs.values_list(*QUEUE_ITEM_COLUMNS)[: limit + 1]]
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last_row = rows[-1]
        key = last_row.due_at if status == ConversationStatus.OPEN else last_row.last_message_at
        next_cursor = _encode_cursor(key.isoformat() if key else "", str(last_row.pk))
    return QueuePage(rows=rows, next_cursor=next_cursor)


@dataclass(eq=False)
class ThreadMessage:
    """A message as a conversation's page reads it (its line, inbox.thread_lines;
    the comment guidance; the composer's choice of comment), read as values:
    building 30 model instances, their JSON fields and their authors was
    most of a long thread's reading (3 ms of CPU of 4, the SQL itself 0.3).
    The view fills in the last four fields, which it works out."""

    pk: int
    mid: str | None
    direction: str
    channel: str
    is_automatic: bool
    timestamp: datetime
    text: str
    attachments: list[dict[str, Any]]
    postback_title: str
    parent_comment_id: str
    recipient_comment_id: str
    edit_history: list[dict[str, Any]]
    removed_at: datetime | None
    is_hidden: bool
    reactions: list[dict[str, Any]]
    send_status: str
    send_error: str
    maybe_delivered: bool
    author_name: str  # who wrote it in Réactif (models.person_name); "" for nobody
    # Worked out by the view (views._present_thread):
    is_reply: bool = False  # a comment answering another one
    can_private_reply: bool | None = None  # a customer's comment: may it be answered in Messenger?
    private_reply_refusal: str = ""  # …and if not, why
    line_html: str = ""  # its line of the thread (inbox.thread_lines)

    @property
    def is_note(self) -> bool:
        return self.channel == Channel.NOTE

    @classmethod
    def from_values(cls, row: tuple[Any, ...]) -> ThreadMessage:
        """From a row of THREAD_MESSAGE_COLUMNS."""
        *fields, first_name, username = row
        fields.append(person_name(first_name, username))  # author_name
        return cls(*fields)


# ThreadMessage's columns, in its fields' order (the author's name last).
THREAD_MESSAGE_COLUMNS = (
    "pk", "mid", "direction", "channel", "is_automatic", "timestamp", "text", "attachments", "postback_title",
    "parent_comment_id", "recipient_comment_id", "edit_history", "removed_at", "is_hidden", "reactions",
    "send_status", "send_error", "maybe_delivered", "author__first_name", "author__username",
)


@dataclass
class ThreadEntry:
    """One line of a conversation's timeline: a message, or an event (an
    assignment, a status change, a hidden comment…) between messages."""

    at: datetime
    message: ThreadMessage | None = None
    event: ConversationEvent | None = None


@dataclass
class Thread:
    entries: list[ThreadEntry]
    messages: list[ThreadMessage]
    # Cursor for the messages before the first one shown; None at the start.
    earlier_cursor: str | None


# Events shown in the timeline. Reactions show on the message they are about.
TIMELINE_EVENTS = (
    "assigned", "status", "woken", "hide_requested", "unhide_requested", "hide_failed",
    "comment_hide", "comment_unhide", "comment_remove", "comment_delete", "referral",
)
TIMELINE_EVENT_LIMIT = 200
# What the thread and the assignee list show of a person.
PERSON_FIELDS = ("first_name", "username")


def thread(conversation: Conversation, *, before: str | None = None, limit: int | None = None) -> Thread:
    """A conversation's latest messages (or those before `before`) in
    platform-timestamp order, with the events that happened between them.

    Two queries: the messages, walking `msg_thread_order` backwards from the
    newest (or from the cursor), and the events of the same span, on
    `convevent_thread_order`.
    """
    limit = limit or THREAD_PAGE_SIZE
    messages_qs = Message.objects.filter(conversation=conversation)
    events_qs = ConversationEvent.objects.filter(conversation=conversation, kind__in=TIMELINE_EVENTS)
    if before:
        at_text, pk = _decode_cursor(before)
        before_at = _cursor_time(at_text)
        messages_qs = messages_qs.filter(Q(timestamp__lt=before_at) | Q(timestamp=before_at, id__lt=int(pk)))
        events_qs = events_qs.filter(at__lt=before_at)
    # What a line shows, and only that: delivery bookkeeping, send attempts
    # and saved-reply statistics are never shown.
    newest_first = [
        ThreadMessage.from_values(row)
        for row in messages_qs.order_by("-timestamp", "-id").values_list(*THREAD_MESSAGE_COLUMNS)[: limit + 1]
    ]
    earlier_cursor = None
    if len(newest_first) > limit:
        newest_first = newest_first[:limit]
        oldest = newest_first[-1]
        earlier_cursor = _encode_cursor(oldest.timestamp.isoformat(), str(oldest.pk))
        events_qs = events_qs.filter(at__gte=oldest.timestamp)
    messages = newest_first[::-1]
    events = list(
        events_qs.select_related("actor")
        .only("conversation_id", "kind", "at", "data", *(f"actor__{name}" for name in PERSON_FIELDS))
        .order_by("-at", "-id")[:TIMELINE_EVENT_LIMIT]
    )[::-1]
    entries = [ThreadEntry(at=m.timestamp, message=m) for m in messages]
    entries += [ThreadEntry(at=e.at, event=e) for e in events]
    # Stable: at equal instants a message comes before the event it caused.
    entries.sort(key=lambda entry: (entry.at, entry.event is not None))
    return Thread(entries=entries, messages=messages, earlier_cursor=earlier_cursor)


def members_of(page: Page) -> list[Any]:
    """The people who can be assigned a conversation of this Page."""
    return list(
        get_user_model()
        .objects.filter(memberships__page=page, is_active=True)
        .only(*PERSON_FIELDS)
        .order_by("first_name", "username")
    )


def thread_comment(conversation: Conversation, pk: int | None) -> Message | None:
    """A comment of this public thread, by id (the one a reply answers)."""
    if pk is None:
        return None
    return Message.objects.filter(conversation=conversation, pk=pk).first()


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

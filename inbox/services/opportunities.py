"""Response opportunities kept in step with messages (DOMAIN.md "Responsiveness").

The rules live in the pure module inbox.responsiveness; this module feeds it a
conversation's messages and stores what it returns, so that a window's figures
are a bounded query over ResponseOpportunity rows. The worker's incremental
path (`refresh`) and `rebuild` share the same rules, and a property test holds
them equal whatever order events arrive in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .. import responsiveness as rules
from ..models import (
    Channel,
    Conversation,
    ConversationKind,
    Direction,
    Message,
    Page,
    ResponseOpportunity,
    ResponseOpportunityStatus,
    SendStatus,
)
from . import hours

# Messages that take part in responsiveness: customer messages, Page replies
# (sent or seen as echoes) and automatic ones (they end Meta's 24 h silence).
_RELEVANT = ~Q(channel=Channel.NOTE) & (
    Q(direction=Direction.INBOUND)
    | Q(send_status__in=[SendStatus.SENT, SendStatus.EXTERNAL])
    | Q(is_automatic=True)
)


def event_for(message: Message) -> rules.ThreadEvent | None:
    if message.channel == Channel.NOTE:
        return None
    if message.direction == Direction.INBOUND:
        kind = rules.EventKind.CUSTOMER
    elif message.is_automatic:
        kind = rules.EventKind.AUTOMATIC
    elif message.send_status in (SendStatus.SENT, SendStatus.EXTERNAL):
        kind = rules.EventKind.PAGE_REPLY
    else:
        return None
    return rules.ThreadEvent(key=str(message.pk), at=message.timestamp, kind=kind)


def _as_rule(ro: ResponseOpportunity) -> rules.Opportunity:
    return rules.Opportunity(
        opened_by=str(ro.opened_by_id),
        opened_at=ro.opened_at,
        clock_start=ro.clock_start,
        closed_by=None if ro.closed_by_id is None else str(ro.closed_by_id),
        closed_at=ro.closed_at,
        starts_conversation=ro.starts_conversation,
    )


def _clock_start_keeping_history(page: Page, stored: Iterable[ResponseOpportunity]) -> Callable[[datetime], datetime]:
    """Business hours decide the clock start of new ROs only: an RO already
    stored keeps the clock start it was given (changing the hours does not
    rewrite history; the settings page says so)."""
    known = {ro.opened_at: ro.clock_start for ro in stored}
    schedule = hours.schedule_for(page)

    def clock_start(opened_at: datetime) -> datetime:
        return known.get(opened_at) or schedule.clock_start(opened_at)

    return clock_start


def refresh(*, conversation: Conversation, since: datetime, now: datetime | None = None) -> None:
    """Recompute the conversation's ROs affected by an event stamped `since`.

    Runs inside the caller's transaction with the conversation row locked
    (select_for_update), so two workers never recompute one thread at once.
    """
    page = conversation.page
    # The RO that may contain `since`, and every one opened after it.
    previous = (
        ResponseOpportunity.objects.filter(conversation=conversation, opened_at__lte=since)
        .order_by("-opened_at")
        .first()
    )
    stored = list(ResponseOpportunity.objects.filter(conversation=conversation, opened_at__gt=since))
    if previous is not None:
        stored.append(previous)
    resume_at = rules.resume_point([_as_rule(ro) for ro in stored], since)
    messages = Message.objects.filter(
        _RELEVANT, conversation=conversation, timestamp__gt=resume_at - rules.CONVERSATION_SILENCE
    ).only("pk", "timestamp", "direction", "channel", "is_automatic", "send_status", "author_id")
    _store(
        conversation=conversation,
        page=page,
        messages=list(messages),
        stored=[ro for ro in stored if ro.opened_at >= resume_at],
        resume_at=resume_at,
        now=now or timezone.now(),
        clock_start=_clock_start_keeping_history(page, stored),
    )


def rebuild(*, page: Page | None = None, now: datetime | None = None) -> int:
    """Recompute every RO from the stored messages (`rebuild_responsiveness`)."""
    conversations = Conversation.objects.select_related("page").order_by("pk")
    if page is not None:
        conversations = conversations.filter(page=page)
    count = 0
    for conversation_id in conversations.values_list("pk", flat=True).iterator():
        with transaction.atomic():
            conversation = Conversation.objects.select_for_update().select_related("page").get(pk=conversation_id)
            stored = list(ResponseOpportunity.objects.filter(conversation=conversation))
            _store(
                conversation=conversation,
                page=conversation.page,
                messages=list(Message.objects.filter(_RELEVANT, conversation=conversation)),
                stored=stored,
                resume_at=None,
                now=now or timezone.now(),
                clock_start=_clock_start_keeping_history(conversation.page, stored),
            )
        count += 1
    return count


def _store(
    *,
    conversation: Conversation,
    page: Page,
    messages: list[Message],
    stored: list[ResponseOpportunity],
    resume_at: datetime | None,
    now: datetime,
    clock_start: Callable[[datetime], datetime],
) -> None:
    by_pk = {m.pk: m for m in messages}
    events = [e for e in (event_for(m) for m in messages) if e is not None]
    computed = rules.compute_opportunities(events, clock_start)
    if resume_at is not None:
        computed = [ro for ro in computed if ro.opened_at >= resume_at]
    target = page.target_seconds(conversation.kind)
    existing = {ro.opened_by_id: ro for ro in stored}
    seen: set[int] = set()
    for ro in computed:
        opened_by = int(ro.opened_by)
        closed_by = None if ro.closed_by is None else int(ro.closed_by)
        response = ro.response_time()
        values = {
            "opened_at": ro.opened_at,
            "clock_start": ro.clock_start,
            "due_at": ro.due_at(target),
            "target_seconds": target,
            "closed_by_id": closed_by,
            "closed_at": ro.closed_at,
            # Whole seconds, rounded down: what the figures and the UI show.
            "response_seconds": None if response is None else int(response.total_seconds()),
            "responder_id": None if closed_by is None else by_pk[closed_by].author_id,
            "status": ro.status(now, target),
            "starts_conversation": ro.starts_conversation,
        }
        seen.add(opened_by)
        current = existing.get(opened_by)
        if current is None:
            ResponseOpportunity.objects.create(
                page=page, conversation=conversation, kind=conversation.kind, opened_by_id=opened_by, **values
            )
            continue
        changed = [name for name, value in values.items() if getattr(current, name) != value]
        if changed:
            for name in changed:
                setattr(current, name, values[name])
            current.save(update_fields=changed)
    gone = [pk for pk in existing if pk not in seen]
    if gone:
        ResponseOpportunity.objects.filter(conversation=conversation, opened_by_id__in=gone).delete()
    _update_due(conversation, page)


def _update_due(conversation: Conversation, page: Page) -> None:
    open_ro = (
        ResponseOpportunity.objects.filter(conversation=conversation, closed_at__isnull=True)
        .order_by("-opened_at")
        .only("due_at", "opened_at", "clock_start")
        .first()
    )
    due_at = None if open_ro is None else open_ro.due_at
    while_closed = open_ro is not None and open_ro.clock_start > open_ro.opened_at
    if conversation.due_at != due_at or conversation.received_while_closed != while_closed:
        conversation.due_at = due_at
        conversation.received_while_closed = while_closed
        conversation.save(update_fields=["due_at", "received_while_closed"])


# ---------------------------------------------------------------------------
# Live SLA: the beat sweep marks deadlines within seconds of the moment.


def mark_deadlines(*, now: datetime | None = None) -> tuple[int, int]:
    """Mark pending ROs at risk and missed. Each mark is a conditional UPDATE
    (`…__isnull=True`), so it is recorded once whatever the number of workers
    or beats. Returns (newly at risk, newly missed)."""
    now = now or timezone.now()
    missed_ids = list(
        ResponseOpportunity.objects.filter(status=ResponseOpportunityStatus.PENDING, due_at__lt=now)
        .values_list("pk", flat=True)[:1000]
    )
    missed = 0
    if missed_ids:
        missed = ResponseOpportunity.objects.filter(
            pk__in=missed_ids, status=ResponseOpportunityStatus.PENDING, closed_at__isnull=True
        ).update(status=ResponseOpportunityStatus.MISSED, missed_marked_at=now)
    at_risk = 0
    for page_id, at_risk_seconds in Page.objects.values_list("pk", "at_risk_seconds"):
        at_risk += ResponseOpportunity.objects.filter(
            page_id=page_id,
            status=ResponseOpportunityStatus.PENDING,
            at_risk_marked_at__isnull=True,
            due_at__lte=now + timedelta(seconds=at_risk_seconds),
        ).update(at_risk_marked_at=now)
    if missed or at_risk:
        from .. import live

        for page_id in set(
            ResponseOpportunity.objects.filter(
                Q(missed_marked_at=now) | Q(at_risk_marked_at=now)
            ).values_list("page_id", flat=True)
        ):
            transaction.on_commit(lambda page_id=page_id: live.bump(page_id=page_id))
    return at_risk, missed


def kinds() -> tuple[str, str]:
    return (ConversationKind.PRIVATE, ConversationKind.PUBLIC)

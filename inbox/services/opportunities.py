"""Response opportunities kept in step with messages (DOMAIN.md "Responsiveness").

The rules live in the pure module inbox.responsiveness; this module feeds it a
conversation's messages and stores what it returns, so that a window's figures
are a bounded query over ResponseOpportunity rows (and DailyRollup rows, see
services.rollups). The worker's incremental path (`refresh`) and `rebuild`
share the same rules, and tests/test_rebuild_property.py holds them equal
whatever order events arrive in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q, Subquery
from django.utils import timezone

from .. import responsiveness as rules
from ..models import (
    Channel,
    Conversation,
    ConversationEvent,
    Direction,
    Message,
    Page,
    ResponseOpportunity,
    ResponseOpportunityStatus,
    SendStatus,
)
from . import hours, rollups, rows

# Messages that take part in responsiveness: customer messages, Page replies
# (sent or seen as echoes) and automatic ones (they end Meta's 24 h silence,
# whatever became of their sending: the rule is about messages, and a status
# change of an away message never triggers a recomputation, so counting it
# from the start keeps the worker and `rebuild` in agreement).
_RELEVANT = ~Q(channel=Channel.NOTE) & (
    Q(direction=Direction.INBOUND)
    | Q(send_status__in=[SendStatus.SENT, SendStatus.EXTERNAL])
    | Q(is_automatic=True)
)
_EVENT_FIELDS = ("pk", "timestamp", "direction", "channel", "is_automatic", "send_status", "author_id")

# Fields of a stored RO that a tally (and so a DailyRollup) depends on.
_TALLIED = ("opened_at", "clock_start", "closed_at", "starts_conversation", "responder_id")

# The deadline sweep handles this many ROs per statement, and loops.
SWEEP_BATCH = 500


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


def _clock_start_keeping_history(
    page: Page, stored: Iterable[ResponseOpportunity]
) -> Callable[[datetime], datetime]:
    """Business hours decide the clock start of new ROs only: an RO already
    stored keeps the clock start it was given (changing the hours does not
    rewrite history; the settings page says so)."""
    known = {ro.opened_at: ro.clock_start for ro in stored}
    schedule = hours.schedule_for(page)

    def clock_start(opened_at: datetime) -> datetime:
        return known.get(opened_at) or schedule.clock_start(opened_at)

    return clock_start


def refresh(
    *, conversation: Conversation, since: datetime, now: datetime | None = None, save: bool = True
) -> list[str]:
    """Recompute the conversation's ROs affected by an event stamped `since`.

    Runs inside the caller's transaction with the conversation row locked
    (select_for_update), so two workers never recompute one thread at once.
    Reads only the ROs from the one containing `since` on, and the messages
    from 24 h before that (Meta's silence rule): bounded by the thread's
    recent history, never the whole of it.

    Returns the conversation's fields it changed (its deadline), saved
    unless `save` is False: then the caller saves them with its own.
    """
    page = conversation.page
    now = now or timezone.now()
    since, stored = _stored_from(conversation, since)
    resume_at = rules.resume_point([_as_rule(ro) for ro in stored], since)
    messages = Message.objects.filter(
        _RELEVANT, conversation=conversation, timestamp__gt=resume_at - rules.CONVERSATION_SILENCE
    ).only(*_EVENT_FIELDS)
    touched, fields = _store(
        conversation=conversation,
        page=page,
        messages=list(messages),
        stored=[ro for ro in stored if ro.opened_at >= resume_at],
        resume_at=resume_at,
        now=now,
        clock_start=_clock_start_keeping_history(page, stored),
    )
    # The day of the event itself: a late reply changes its author's count of
    # replies that day even when it closes nothing.
    touched.add(since)
    rollups.mark_stale(page=page, kind=conversation.kind, instants=touched, now=now)
    if fields and save:
        conversation.save(update_fields=fields)
    return fields


def customer_joined_open_ro(*, conversation: Conversation, at: datetime, now: datetime | None = None) -> None:
    """`refresh` for a customer message stamped `at` that the caller knows
    joins the thread's open RO: the conversation has a deadline (so an RO is
    open: `_deadline` is its only writer) and `at` is not before the thread's
    latest message (so not before that RO's opening). The ROs come out the
    same: `compute_opportunities` adds a customer message after an open RO's
    opening to it and nothing else. Only the day of the event is marked, as
    `refresh` marks it (a past day's rollup is recomputed by the beat)."""
    rollups.mark_stale(page=conversation.page, kind=conversation.kind, instants={at}, now=now or timezone.now())


def _stored_from(conversation: Conversation, since: datetime) -> tuple[datetime, list[ResponseOpportunity]]:
    """The stored RO that may contain `since` and every one opened after it,
    in one query; and `since`, moved back to an orphaned RO's opening.

    Orphaned: a reply that closed an RO and is gone (a duplicate row deleted
    when our own comment's id came back) left that RO closed by nothing, so
    ROs are recomputed from its opening. Rare; the conversation's ROs are few.
    """
    latest_before = (
        ResponseOpportunity.objects.filter(conversation=conversation, opened_at__lte=since)
        .order_by("-opened_at")
        .values("opened_at")[:1]
    )
    stored = list(
        ResponseOpportunity.objects.filter(conversation=conversation).filter(
            Q(opened_at__gt=since)
            | Q(opened_at__gte=Subquery(latest_before))
            | Q(closed_at__isnull=False, closed_by__isnull=True)
        )
    )
    orphaned = min((ro.opened_at for ro in stored if ro.closed_at is not None and ro.closed_by_id is None), default=None)
    if orphaned is not None and orphaned < since:
        return _stored_from(conversation, orphaned)
    return since, stored


def rebuild(*, page: Page | None = None, now: datetime | None = None) -> int:
    """Recompute every RO from the stored messages (`rebuild_responsiveness`),
    then every daily rollup of the Pages concerned. Returns the number of
    conversations."""
    now = now or timezone.now()
    conversations = Conversation.objects.order_by("pk")
    if page is not None:
        conversations = conversations.filter(page=page)
    count = 0
    for conversation_id in conversations.values_list("pk", flat=True).iterator():
        with transaction.atomic():
            conversation = (
                Conversation.objects.select_for_update(no_key=True).select_related("page").get(pk=conversation_id)
            )
            stored = list(ResponseOpportunity.objects.filter(conversation=conversation))
            _touched, fields = _store(
                conversation=conversation,
                page=conversation.page,
                messages=list(
                    Message.objects.filter(_RELEVANT, conversation=conversation).only(*_EVENT_FIELDS)
                ),
                stored=stored,
                resume_at=None,
                now=now,
                clock_start=_clock_start_keeping_history(conversation.page, stored),
            )
            if fields:
                conversation.save(update_fields=fields)
        count += 1
    pages = [page] if page is not None else list(Page.objects.all())
    for one in pages:
        rollups.rebuild(page=one, now=now)
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
) -> tuple[set[datetime], list[str]]:
    """Write the ROs computed from `messages` over the `stored` ones (those
    opened at or after `resume_at`). Returns the openings of the ROs whose
    tallied facts changed, old and new (their days' rollups are stale), and
    the conversation's deadline fields it changed, unsaved."""
    by_pk = {m.pk: m for m in messages}
    events = [e for e in (event_for(m) for m in messages) if e is not None]
    computed = rules.compute_opportunities(events, clock_start)
    if resume_at is not None:
        computed = [ro for ro in computed if ro.opened_at >= resume_at]
    target = page.target_seconds(conversation.kind)
    existing = {ro.opened_by_id: ro for ro in stored}
    touched: set[datetime] = set()
    seen: set[int] = set()
    for ro in computed:
        opened_by = int(ro.opened_by)
        closed_by = None if ro.closed_by is None else int(ro.closed_by)
        values = {
            "opened_at": ro.opened_at,
            "clock_start": ro.clock_start,
            "due_at": ro.due_at(target),
            "target_seconds": target,
            "closed_by_id": closed_by,
            "closed_at": ro.closed_at,
            # Whole seconds, rounded down: what the figures and the UI show.
            "response_seconds": ro.response_seconds(),
            "responder_id": None if closed_by is None else by_pk[closed_by].author_id,
            "status": _status(ro, current=existing.get(opened_by), now=now, target=target),
            "starts_conversation": ro.starts_conversation,
        }
        seen.add(opened_by)
        current = existing.get(opened_by)
        if current is None:
            rows.insert(ResponseOpportunity(
                page=page, conversation=conversation, kind=conversation.kind, opened_by_id=opened_by, **values
            ))
            touched.add(ro.opened_at)
            continue
        changed = [name for name, value in values.items() if getattr(current, name) != value]
        if any(name in _TALLIED for name in changed):
            touched.update((current.opened_at, ro.opened_at))
        if changed:
            for name in changed:
                setattr(current, name, values[name])
            current.save(update_fields=changed)
    gone = [pk for pk in existing if pk not in seen]
    if gone:
        touched.update(existing[pk].opened_at for pk in gone)
        ResponseOpportunity.objects.filter(conversation=conversation, opened_by_id__in=gone).delete()
    # Only the last RO can be open, and every RO opened before `resume_at` is
    # closed (rules.resume_point): the open one, if any, was just computed.
    open_ro = computed[-1] if computed and computed[-1].closed_at is None else None
    return touched, _deadline(conversation, open_ro, target)


def _status(
    ro: rules.Opportunity, *, current: ResponseOpportunity | None, now: datetime, target: int
) -> str:
    """The stored status. An open RO stays `pending` until the deadline sweep
    marks it missed, so that the miss is recorded there, once (its event);
    one the sweep already marked stays missed."""
    if ro.closed_at is not None:
        return ro.status(now, target)
    if current is not None and current.status == ResponseOpportunityStatus.MISSED:
        return ResponseOpportunityStatus.MISSED
    return ResponseOpportunityStatus.PENDING


def _deadline(conversation: Conversation, open_ro: rules.Opportunity | None, target: int) -> list[str]:
    """The queue's order: the open RO's deadline, on the conversation row
    (set here, saved by the caller). Returns the fields that changed."""
    due_at = None if open_ro is None else open_ro.due_at(target)
    while_closed = open_ro is not None and open_ro.clock_start > open_ro.opened_at
    if conversation.due_at == due_at and conversation.received_while_closed == while_closed:
        return []
    conversation.due_at = due_at
    conversation.received_while_closed = while_closed
    return ["due_at", "received_while_closed"]


# ---------------------------------------------------------------------------
# Live SLA: the beat sweep marks deadlines within seconds of the moment.


def mark_deadlines(*, now: datetime | None = None) -> tuple[int, int]:
    """Mark pending ROs at risk, then missed. Returns (newly at risk, newly missed).

    Each RO is claimed with `select_for_update(skip_locked=True, no_key=True)` and marked
    by an UPDATE conditioned on the mark still being unset, so a deadline is
    recorded once — one `deadline_missed` event in its conversation — however
    many beats or workers sweep at the same time. The rows form the partial
    index `ro_pending_due`, so a sweep costs what is due, not what is stored.
    """
    now = now or timezone.now()
    at_risk = missed = 0
    pages: set[int] = set()
    # "At risk" = pending with at most the Page's warning time left (DOMAIN.md),
    # so the due instant itself is still at risk. One condition per distinct
    # warning time (Pages rarely differ): plain comparisons that SQLite, the
    # embedded mode's database, evaluates as well as PostgreSQL.
    warnings = list(Page.objects.order_by("at_risk_seconds").values_list("at_risk_seconds", flat=True).distinct())
    warned = Q(pk__in=[])
    for seconds in warnings:
        warned |= Q(page__at_risk_seconds=seconds, due_at__lte=now + timedelta(seconds=seconds))
    while True:
        with transaction.atomic():
            rows = list(
                ResponseOpportunity.objects.select_for_update(skip_locked=True, of=("self",), no_key=True)
                .filter(
                    status=ResponseOpportunityStatus.PENDING,
                    at_risk_marked_at__isnull=True,
                    # The constant bound lets PostgreSQL use `ro_pending_due`.
                    due_at__lte=now + timedelta(seconds=max(warnings, default=0)),
                )
                .filter(warned)
                .only("pk", "page_id")
                .order_by("due_at")[:SWEEP_BATCH]
            )
            if rows:
                at_risk += ResponseOpportunity.objects.filter(
                    pk__in=[ro.pk for ro in rows], at_risk_marked_at__isnull=True
                ).update(at_risk_marked_at=now)
                pages.update(ro.page_id for ro in rows)
        if len(rows) < SWEEP_BATCH:
            break
    while True:
        with transaction.atomic():
            # Missed: still open strictly after the due instant.
            rows = list(
                ResponseOpportunity.objects.select_for_update(skip_locked=True, no_key=True)
                .filter(status=ResponseOpportunityStatus.PENDING, due_at__lt=now)
                .only("pk", "page_id", "conversation_id", "due_at")
                .order_by("due_at")[:SWEEP_BATCH]
            )
            if rows:
                missed += ResponseOpportunity.objects.filter(
                    pk__in=[ro.pk for ro in rows], status=ResponseOpportunityStatus.PENDING
                ).update(status=ResponseOpportunityStatus.MISSED, missed_marked_at=now)
                ConversationEvent.objects.bulk_create(
                    ConversationEvent(
                        conversation_id=ro.conversation_id,
                        kind="deadline_missed",
                        at=ro.due_at,
                        data={"opportunity": ro.pk},
                    )
                    for ro in rows
                )
                pages.update(ro.page_id for ro in rows)
        if len(rows) < SWEEP_BATCH:
            break
    for page_id in pages:
        transaction.on_commit(_bumper(page_id))
    return at_risk, missed


def _bumper(page_id: int) -> Callable[[], None]:
    """Live views refresh once the marks are committed."""
    from .. import live

    return lambda: live.bump(page_id=page_id)

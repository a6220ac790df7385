"""What agents do to a conversation besides replying: assign, change status,
snooze, notes, read receipts. Every change is logged as a ConversationEvent
and pushed to the live views on commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from ..models import (
    Channel,
    Conversation,
    ConversationEvent,
    ConversationKind,
    ConversationStatus,
    Direction,
    Message,
    ReadReceipts,
)
from .ingestion import notify_conversation_changed


def assign_conversation(*, conversation: Conversation, assignee: Any, actor: Any) -> None:
    with transaction.atomic():
        Conversation.objects.filter(pk=conversation.pk).update(assignee=assignee, updated_at=timezone.now())
        ConversationEvent.objects.create(
            conversation=conversation, kind="assigned", actor=actor,
            data={"assignee": assignee.pk if assignee else None},
        )
        notify_conversation_changed(conversation)
    conversation.assignee = assignee


def set_status(
    *, conversation: Conversation, status: str, actor: Any, snoozed_until: datetime | None = None
) -> None:
    if status not in ConversationStatus.values:
        raise ValueError(f"unknown status {status!r}")
    if status == ConversationStatus.SNOOZED and (snoozed_until is None or snoozed_until <= timezone.now()):
        raise ValueError("snoozing needs a time in the future")
    with transaction.atomic():
        Conversation.objects.filter(pk=conversation.pk).update(
            status=status,
            snoozed_until=snoozed_until if status == ConversationStatus.SNOOZED else None,
            updated_at=timezone.now(),
        )
        ConversationEvent.objects.create(
            conversation=conversation, kind="status", actor=actor,
            data={"status": status, "snoozed_until": snoozed_until.isoformat() if snoozed_until else None},
        )
        notify_conversation_changed(conversation)
    conversation.status = status
    conversation.snoozed_until = snoozed_until


def wake_snoozed(*, now: datetime | None = None) -> int:
    """Beat: snoozed conversations whose time has come go back to the queue."""
    now = now or timezone.now()
    woken = 0
    for conversation in Conversation.objects.filter(status=ConversationStatus.SNOOZED, snoozed_until__lte=now)[:500]:
        # Conditional: an agent may have changed it meanwhile.
        if Conversation.objects.filter(pk=conversation.pk, status=ConversationStatus.SNOOZED).update(
            status=ConversationStatus.OPEN, snoozed_until=None
        ):
            ConversationEvent.objects.create(conversation=conversation, kind="woken", data={})
            notify_conversation_changed(conversation)
            woken += 1
    return woken


def add_note(*, conversation: Conversation, author: Any, text: str) -> Message:
    """An internal note: seen by the team, never by the customer, never a reply."""
    text = text.strip()
    if not text:
        raise ValueError("empty note")
    with transaction.atomic():
        note = Message.objects.create(
            page=conversation.page,
            conversation=conversation,
            direction=Direction.OUTBOUND,
            channel=Channel.NOTE,
            timestamp=timezone.now(),
            author=author,
            text=text,
        )
        notify_conversation_changed(conversation)
    return note


def conversation_opened(*, conversation: Conversation, now: datetime | None = None) -> bool:
    """An agent opened the conversation: send `mark_seen` only when the Page's
    setting allows it, and never outside opening hours (a customer writing at
    2 am must not see "seen" and wait for an answer that comes at 9)."""
    from . import hours

    page = conversation.page
    now = now or timezone.now()
    if (
        conversation.kind != ConversationKind.PRIVATE
        or page.read_receipts != ReadReceipts.ON_OPEN_IN_HOURS
        or conversation.last_customer_message_at is None
        or (conversation.mark_seen_sent_at and conversation.mark_seen_sent_at >= conversation.last_customer_message_at)
        or not hours.schedule_for(page).is_available(now)
    ):
        return False
    from ..tasks import enqueue_mark_seen

    transaction.on_commit(lambda: enqueue_mark_seen(conversation.pk))
    return True

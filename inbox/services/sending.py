"""Replies out through Meta's Send API and comment edges (META.md §4).

A reply is stored before any call to Meta (status `queued`), then a Celery
task sends it. Transient errors are retried with backoff; an error that may
hide a message that did go out (1/1357046, a read timeout) is never retried,
so a customer never gets the same answer twice. The echo Meta sends back is
matched to the stored row by `metadata` (see ingestion).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from templates_app import guidance

from ..graph import GraphClient, GraphError
from ..models import (
    AuditLog,
    Channel,
    Conversation,
    ConversationEvent,
    ConversationKind,
    Direction,
    Message,
    Page,
    SendStatus,
)
from .ingestion import message_added, metadata_for, notify_conversation_changed

log = logging.getLogger(__name__)

# Backoff for transient errors (codes 1, 2, 4, 613, 5xx): 5 s, 20 s, 80 s,
# 320 s. The longest stays far below the broker's visibility timeout.
MAX_SEND_ATTEMPTS = 5
BACKOFF_BASE_SECONDS = 5
# A reply still `sending` after this long lost its worker mid-call: it may or
# may not have reached Meta, so it is failed (never re-sent) unless its echo
# comes back.
SENDING_STALE_AFTER = timedelta(minutes=5)
QUEUED_STALE_AFTER = timedelta(minutes=2)


class SendRefused(Exception):
    """A reply Réactif will not send, with a reason the agent can act on."""

    def __init__(self, reason: str, code: str = "refused"):
        super().__init__(reason)
        self.reason = reason
        self.code = code


@dataclass(frozen=True)
class SavedReplyUse:
    saved_reply_id: int
    similarity: float
    unedited: bool


def send_reply(
    *,
    conversation: Conversation,
    author: Any,
    text: str,
    channel: str = Channel.MESSENGER,
    comment: Message | None = None,
    saved_reply_use: SavedReplyUse | None = None,
    now: datetime | None = None,
) -> Message:
    """Queue a reply from an agent. Raises SendRefused with a clear reason.

    channel: `messenger` (a private conversation), `comment` (a public reply
    under `comment`), or `private_reply` (a private message to the author of
    `comment`, from a public thread).
    """
    now = now or timezone.now()
    page = conversation.page
    text = text.strip()
    if not text:
        raise SendRefused(_("Write something before sending."), "empty")
    if len(text) >= guidance.MAX_TEXT_LENGTH:
        raise SendRefused(
            _("Meta refuses messages of %(limit)s characters or more; this one has %(count)s.")
            % {"limit": guidance.MAX_TEXT_LENGTH, "count": len(text)},
            "too_long",
        )
    if page.needs_reconnect:
        raise SendRefused(_("Meta no longer accepts this Page's access token: an admin must reconnect the Page."),
                          "reconnect")
    fields: dict[str, Any] = {}
    if channel == Channel.MESSENGER:
        if conversation.kind != ConversationKind.PRIVATE:
            raise SendRefused(_("This is a public thread: reply publicly or privately to a comment."), "channel")
        decision = guidance.check_window(
            now=now,
            last_customer_message_at=conversation.last_customer_message_at,
            human_agent_enabled=page.human_agent_enabled,
        )
        if not decision.allowed:
            raise SendRefused(window_refusal_text(decision.reason), "window")
        fields = {"messaging_type": decision.messaging_type, "tag": decision.tag or ""}
    elif channel in (Channel.COMMENT, Channel.PRIVATE_REPLY):
        if comment is None or comment.conversation_id != conversation.pk or comment.channel != Channel.COMMENT:
            raise SendRefused(_("Choose the comment to answer."), "comment")
        if channel == Channel.PRIVATE_REPLY:
            if comment.direction != Direction.INBOUND:
                raise SendRefused(_("A Page cannot reply privately to its own comment."), "private_reply")
            already = Message.objects.filter(
                recipient_comment_id=comment.mid, channel=Channel.PRIVATE_REPLY
            ).exclude(send_status=SendStatus.FAILED).exists()
            decision = guidance.check_private_reply(
                now=now, comment_created_at=comment.timestamp, already_private_replied=already
            )
            if not decision.allowed:
                raise SendRefused(private_reply_refusal_text(decision.reason), "private_reply")
            fields = {"recipient_comment_id": comment.mid or ""}
        else:
            fields = {"parent_comment_id": comment.mid or ""}
    else:
        raise SendRefused(_("Unknown channel."), "channel")

    with transaction.atomic():
        message = Message.objects.create(
            page=page,
            conversation=conversation,
            direction=Direction.OUTBOUND,
            channel=channel,
            timestamp=now,
            author=author,
            text=text,
            send_status=SendStatus.QUEUED,
            saved_reply_id=saved_reply_use.saved_reply_id if saved_reply_use else None,
            saved_reply_similarity=saved_reply_use.similarity if saved_reply_use else None,
            is_unedited_saved_reply=bool(saved_reply_use and saved_reply_use.unedited),
            **fields,
        )
        # Replying assigns an unassigned conversation to the replier.
        Conversation.objects.filter(pk=conversation.pk, assignee__isnull=True).update(assignee=author)
        _enqueue_send(message.pk)
        notify_conversation_changed(conversation)
    return message


def send_automatic(*, conversation: Conversation, text: str, now: datetime | None = None) -> Message:
    """An away message: sent by Réactif itself, marked automatic, never a Page reply."""
    now = now or timezone.now()
    message = Message.objects.create(
        page=conversation.page,
        conversation=conversation,
        direction=Direction.OUTBOUND,
        channel=Channel.MESSENGER,
        timestamp=now,
        text=text,
        is_automatic=True,
        send_status=SendStatus.QUEUED,
        messaging_type="RESPONSE",
    )
    _enqueue_send(message.pk)
    return message


def retry_send(*, message: Message, actor: Any) -> bool:
    """An agent retries a failed reply. Only a reply that certainly did not
    reach Meta can be retried this way (see `perform_send`)."""
    updated = Message.objects.filter(pk=message.pk, send_status=SendStatus.FAILED).update(
        send_status=SendStatus.QUEUED, send_error="", send_error_code=None, send_error_subcode=None,
        send_attempts=0,
    )
    if updated:
        _enqueue_send(message.pk)
        notify_conversation_changed(message.conversation)
    return bool(updated)


def _enqueue_send(message_id: int, countdown: float = 0) -> None:
    from ..tasks import enqueue_send

    transaction.on_commit(lambda: enqueue_send(message_id, countdown))


def perform_send(*, message_id: int) -> str:
    """The task's body. Claims the reply with a conditional UPDATE so that two
    workers (a redelivered task, the sweep) never send it twice."""
    claimed = Message.objects.filter(pk=message_id, send_status=SendStatus.QUEUED).update(
        send_status=SendStatus.SENDING, send_attempts=F("send_attempts") + 1
    )
    if not claimed:
        return "not-queued"
    message = Message.objects.select_related("page", "conversation__contact").get(pk=message_id)
    page = message.page
    client = GraphClient(page.access_token)
    try:
        result = _call_graph(client, message)
    except GraphError as error:
        return _send_failed(message, error)
    external_id = str(result.get("message_id") or result.get("id") or "")
    with transaction.atomic():
        message = Message.objects.select_for_update().get(pk=message_id)
        if message.send_status != SendStatus.SENDING:
            return "already-confirmed"  # the echo came back first
        message.send_status = SendStatus.SENT
        message.sent_at = timezone.now()
        message.timestamp = message.sent_at
        update = ["send_status", "sent_at", "timestamp", "send_error"]
        message.send_error = ""
        if external_id:
            # The comment webhook of our own public reply may have arrived
            # before this answer and been stored as a reply "from elsewhere".
            Message.objects.filter(page=page, mid=external_id).exclude(pk=message.pk).delete()
            message.mid = external_id
            update.append("mid")
        try:
            message.save(update_fields=update)
        except IntegrityError:
            log.warning("Message %s: mid %s already stored", message.pk, external_id)
            raise
        if not message.is_automatic:
            message_added(message)
        else:
            notify_conversation_changed(message.conversation)
    return "sent"


def _call_graph(client: GraphClient, message: Message) -> dict[str, Any]:
    page = message.page
    if message.channel == Channel.COMMENT:
        return client.reply_to_comment(message.parent_comment_id, message.text)
    if message.channel == Channel.PRIVATE_REPLY:
        recipient: dict[str, str] = {"comment_id": message.recipient_comment_id}
    else:
        recipient = {"id": message.conversation.contact.external_id}
    payload: dict[str, Any] = {
        "recipient": recipient,
        "message": {"text": message.text, "metadata": metadata_for(message)},
    }
    if message.channel == Channel.MESSENGER:
        payload["messaging_type"] = message.messaging_type or "RESPONSE"
        if message.tag:
            payload["tag"] = message.tag
    return client.send_message(page.meta_page_id, payload)


def _send_failed(message: Message, error: GraphError) -> str:
    fields = {
        "send_error": str(error)[:500],
        "send_error_code": error.code,
        "send_error_subcode": error.subcode,
    }
    if error.token_invalid:
        Page.objects.filter(pk=message.page_id).update(needs_reconnect=True)
    if error.is_transient and message.send_attempts < MAX_SEND_ATTEMPTS:
        Message.objects.filter(pk=message.pk, send_status=SendStatus.SENDING).update(
            send_status=SendStatus.QUEUED, **fields
        )
        _enqueue_send(message.pk, countdown=BACKOFF_BASE_SECONDS * 4 ** (message.send_attempts - 1))
        return "retrying"
    if error.is_ambiguous:
        fields["send_error"] = (
            _("Meta answered with an error, but the message may have been delivered: check the "
              "conversation on Facebook before sending it again. (%(error)s)") % {"error": error}
        )[:500]
    Message.objects.filter(pk=message.pk, send_status=SendStatus.SENDING).update(
        send_status=SendStatus.FAILED, **fields
    )
    notify_conversation_changed(message.conversation)
    return "failed"


def sweep_outbox(*, now: datetime | None = None) -> tuple[int, int]:
    """Re-enqueue replies whose task was lost; fail those interrupted mid-call."""
    now = now or timezone.now()
    requeued = 0
    for pk in Message.objects.filter(
        send_status=SendStatus.QUEUED, created_at__lt=now - QUEUED_STALE_AFTER
    ).values_list("pk", flat=True)[:500]:
        from ..tasks import enqueue_send

        enqueue_send(pk, 0)
        requeued += 1
    interrupted = Message.objects.filter(
        send_status=SendStatus.SENDING, created_at__lt=now - SENDING_STALE_AFTER
    ).update(
        send_status=SendStatus.FAILED,
        send_error=_("Sending was interrupted; the message may have been delivered: check before sending again."),
    )
    return requeued, interrupted


# ---------------------------------------------------------------------------


def hide_comment(*, comment: Message, actor: Any, hidden: bool, reason: str) -> None:
    """Hide (or unhide) a comment. Hiding criticism erodes trust: a reason is
    required and logged."""
    reason = reason.strip()
    if hidden and not reason:
        raise SendRefused(_("Say why this comment is hidden: hiding is a last resort."), "reason")
    if comment.channel != Channel.COMMENT or comment.direction != Direction.INBOUND:
        raise SendRefused(_("Only a customer's comment can be hidden."), "channel")
    with transaction.atomic():
        ConversationEvent.objects.create(
            conversation=comment.conversation, kind="hide_requested" if hidden else "unhide_requested",
            actor=actor, data={"comment_id": comment.mid, "reason": reason},
        )
        AuditLog.objects.create(
            actor=actor, page=comment.page, action="comment_hidden" if hidden else "comment_unhidden",
            data={"comment_id": comment.mid, "reason": reason, "conversation": comment.conversation_id},
        )
        from ..tasks import enqueue_hide

        transaction.on_commit(lambda: enqueue_hide(comment.pk, hidden))


def perform_hide(*, message_id: int, hidden: bool) -> str:
    message = Message.objects.select_related("page").get(pk=message_id)
    if message.is_hidden == hidden:
        return "unchanged"
    try:
        GraphClient(message.page.access_token).set_comment_hidden(message.mid or "", hidden)
    except GraphError as error:
        if error.token_invalid:
            Page.objects.filter(pk=message.page_id).update(needs_reconnect=True)
        ConversationEvent.objects.create(
            conversation=message.conversation, kind="hide_failed", data={"error": str(error)[:500]}
        )
        notify_conversation_changed(message.conversation)
        return "failed"
    Message.objects.filter(pk=message.pk).update(is_hidden=hidden)
    notify_conversation_changed(message.conversation)
    return "done"


def fetch_profile(*, contact_id: int) -> str:
    from ..models import Contact

    contact = Contact.objects.select_related("page").get(pk=contact_id)
    if contact.profile_fetched_at is not None:
        return "known"
    try:
        profile = GraphClient(contact.page.access_token).user_profile(contact.external_id)
    except GraphError as error:
        if error.is_transient:
            raise
        # Meta refuses some profiles (phone-number-only accounts: 100/2018218).
        # The contact keeps a neutral name rather than an invented one.
        Contact.objects.filter(pk=contact.pk).update(profile_fetched_at=timezone.now())
        return "refused"
    first, last = str(profile.get("first_name") or ""), str(profile.get("last_name") or "")
    name = str(profile.get("name") or " ".join(p for p in (first, last) if p))
    Contact.objects.filter(pk=contact.pk).update(
        first_name=first[:100], last_name=last[:100], name=name[:200], profile_fetched_at=timezone.now()
    )
    return "fetched"


def window_refusal_text(reason: str) -> str:
    if reason == "no_customer_message":
        return _("The customer has not written yet: Meta only lets a Page answer a customer who wrote first.")
    if reason == "human_agent_disabled":
        return _("More than 24 hours since the customer's last message: only a human agent reply with the "
                 "HUMAN_AGENT tag is allowed now, and this Page does not have it enabled.")
    return _("More than 7 days since the customer's last message: Meta no longer allows a reply.")


def private_reply_refusal_text(reason: str) -> str:
    if reason == "already_replied":
        return _("This comment already received its private reply: Meta allows only one.")
    return _("Meta allows a private reply only within 7 days of the comment.")

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
from django.db.models import F, Q
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
    text = text.strip()
    if not text:
        raise SendRefused(_("Write something before sending."), "empty")
    if channel in (Channel.MESSENGER, Channel.PRIVATE_REPLY) and len(text) >= guidance.MAX_TEXT_LENGTH:
        raise SendRefused(
            _("Meta refuses messages of %(limit)s characters or more; this one has %(count)s.")
            % {"limit": guidance.MAX_TEXT_LENGTH, "count": len(text)},
            "too_long",
        )
    with transaction.atomic():
        # Locked so that two agents answering at once are checked one after
        # the other (a comment's single private reply, the window).
        conversation = Conversation.objects.select_for_update(no_key=True).select_related("page").get(pk=conversation.pk)
        page = conversation.page
        if page.needs_reconnect:
            raise SendRefused(
                _("Meta no longer accepts this Page's access token: an admin must reconnect the Page."),
                "reconnect",
            )
        fields = _channel_fields(conversation=conversation, channel=channel, comment=comment, now=now)
        message = Message.objects.create(
            page=page,
            conversation=conversation,
            direction=Direction.OUTBOUND,
            channel=channel,
            timestamp=now,
            author=author,
            text=text,
            send_status=SendStatus.QUEUED,
            next_attempt_at=now,
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


def _channel_fields(
    *, conversation: Conversation, channel: str, comment: Message | None, now: datetime,
    retrying: Message | None = None,
) -> dict[str, Any]:
    """Meta's rules for where a reply may go now (DOMAIN.md "Meta's messaging
    rules"), as the fields the outbound row needs. Raises SendRefused."""
    if channel == Channel.MESSENGER:
        if conversation.kind != ConversationKind.PRIVATE:
            raise SendRefused(_("This is a public thread: reply publicly or privately to a comment."), "channel")
        decision = guidance.check_window(
            now=now,
            last_customer_message_at=conversation.last_customer_message_at,
            human_agent_enabled=conversation.page.human_agent_enabled,
        )
        if not decision.allowed:
            raise SendRefused(window_refusal_text(decision.reason), "window")
        return {"messaging_type": decision.messaging_type, "tag": decision.tag or ""}
    if channel not in (Channel.COMMENT, Channel.PRIVATE_REPLY):
        raise SendRefused(_("Unknown channel."), "channel")
    if comment is None or comment.conversation_id != conversation.pk or comment.channel != Channel.COMMENT:
        raise SendRefused(_("Choose the comment to answer."), "comment")
    if not comment.mid:
        raise SendRefused(_("This comment is not on Facebook yet: wait until it is posted."), "comment")
    if channel == Channel.COMMENT:
        return {"parent_comment_id": comment.mid}
    if comment.direction != Direction.INBOUND:
        raise SendRefused(_("A Page cannot reply privately to its own comment."), "private_reply")
    # Meta takes one private reply per comment. A failed one counts too when
    # it may have reached Meta.
    earlier = Message.objects.filter(
        page_id=conversation.page_id, recipient_comment_id=comment.mid, channel=Channel.PRIVATE_REPLY
    ).exclude(send_status=SendStatus.FAILED, maybe_delivered=False)
    if retrying is not None:
        earlier = earlier.exclude(pk=retrying.pk)
    private = guidance.check_private_reply(
        now=now, comment_created_at=comment.timestamp, already_private_replied=earlier.exists()
    )
    if not private.allowed:
        raise SendRefused(private_reply_refusal_text(private.reason), "private_reply")
    return {"recipient_comment_id": comment.mid}


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
        next_attempt_at=now,
        messaging_type="RESPONSE",
    )
    _enqueue_send(message.pk)
    return message


def retry_send(*, message: Message, actor: Any, confirmed: bool = False, now: datetime | None = None) -> bool:
    """An agent sends a failed reply again. Returns False when it is not
    failed (any more). Meta's rules are checked again, as of now; a reply
    that may have reached Meta (`maybe_delivered`) is only sent again once
    the agent confirms it did not (`confirmed`). Raises SendRefused."""
    now = now or timezone.now()
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update(no_key=True).select_related("page").get(
            pk=message.conversation_id
        )
        message = Message.objects.select_for_update(no_key=True).get(pk=message.pk)
        if message.send_status != SendStatus.FAILED:
            return False
        if message.maybe_delivered and not confirmed:
            raise SendRefused(
                _("This reply may have reached the customer: check the conversation on Facebook, then "
                  "confirm to send it again."),
                "maybe_delivered",
            )
        if conversation.page.needs_reconnect:
            raise SendRefused(
                _("Meta no longer accepts this Page's access token: an admin must reconnect the Page."),
                "reconnect",
            )
        fields: dict[str, Any] = {}
        if not message.is_automatic:
            comment = None
            if message.channel in (Channel.COMMENT, Channel.PRIVATE_REPLY):
                comment = Message.objects.filter(
                    page_id=message.page_id,
                    mid=message.parent_comment_id or message.recipient_comment_id,
                ).first()
            fields = _channel_fields(
                conversation=conversation, channel=message.channel, comment=comment, now=now, retrying=message
            )
        Message.objects.filter(pk=message.pk).update(
            **fields, send_status=SendStatus.QUEUED, send_error="", send_error_code=None,
            send_error_subcode=None, send_attempts=0, maybe_delivered=False, next_attempt_at=now,
            attempt_started_at=None, timestamp=now,
        )
        ConversationEvent.objects.create(
            conversation=conversation, kind="send_retried", actor=actor,
            data={"message": message.pk, "confirmed_not_delivered": bool(message.maybe_delivered)},
        )
        _enqueue_send(message.pk)
        notify_conversation_changed(conversation)
    return True


def _enqueue_send(message_id: int, countdown: float = 0) -> None:
    from ..tasks import enqueue_send

    transaction.on_commit(lambda: enqueue_send(message_id, countdown))


def perform_send(*, message_id: int) -> str:
    """The task's body. Claims the reply with a conditional UPDATE so that two
    workers (a redelivered task, the sweep) never send it twice."""
    claimed = Message.objects.filter(pk=message_id, send_status=SendStatus.QUEUED).update(
        send_status=SendStatus.SENDING, send_attempts=F("send_attempts") + 1,
        attempt_started_at=timezone.now(), next_attempt_at=None,
    )
    if not claimed:
        return "not-queued"
    message = Message.objects.select_related("page", "conversation__contact").get(pk=message_id)
    client = GraphClient(message.page.access_token)
    try:
        result = _call_graph(client, message)
    except GraphError as error:
        return _send_failed(message, error)
    return _send_succeeded(message_id, str(result.get("message_id") or result.get("id") or ""))


def _send_succeeded(message_id: int, external_id: str) -> str:
    try:
        return _record_sent(message_id, external_id)
    except IntegrityError:
        # The webhook of this very reply was being stored while we took its
        # id; now that it is committed, take its place.
        return _record_sent(message_id, external_id)


def _record_sent(message_id: int, external_id: str) -> str:
    with transaction.atomic():
        message = Message.objects.select_for_update(no_key=True).get(pk=message_id)
        if message.send_status == SendStatus.SENT:
            return "already-confirmed"  # the echo came back first
        # SENDING, or FAILED by a sweep that took this attempt for dead: Meta
        # has just said it went out, which settles it.
        queued_at = message.timestamp
        message.send_status = SendStatus.SENT
        message.sent_at = timezone.now()
        message.timestamp = message.sent_at
        message.send_error = ""
        message.maybe_delivered = False
        update = ["send_status", "sent_at", "timestamp", "send_error", "maybe_delivered"]
        if external_id:
            # The webhook of our own public reply may have come first and been
            # stored as a reply "from elsewhere": this row takes its place and
            # its platform timestamp.
            earlier = Message.objects.filter(page_id=message.page_id, mid=external_id).exclude(pk=message.pk)
            for duplicate in earlier.select_for_update(no_key=True):
                message.timestamp = duplicate.timestamp
                duplicate.delete()
            message.mid = external_id
            update.append("mid")
        message.save(update_fields=update)
        if not message.is_automatic:
            message_added(message, since=min(queued_at, message.timestamp))
        else:
            notify_conversation_changed(message.conversation)
    return "sent"


def _call_graph(client: GraphClient, message: Message) -> dict[str, Any]:
    page = message.page
    if message.channel == Channel.COMMENT:
        return client.reply_to_comment(message.parent_comment_id, message.text)
    if message.channel == Channel.PRIVATE_REPLY:
        recipient: dict[str, str] = {"comment_id": message.recipient_comment_id}
    elif message.conversation.contact is not None:
        recipient = {"id": message.conversation.contact.external_id}
    else:  # a private conversation always has its contact
        raise GraphError("This conversation has no contact to write to")
    payload: dict[str, Any] = {
        "recipient": recipient,
        "message": {"text": message.text, "metadata": metadata_for(message)},
    }
    if message.channel == Channel.MESSENGER:
        payload["messaging_type"] = message.messaging_type or "RESPONSE"
        if message.tag:
            payload["tag"] = message.tag
    return client.send_message(page.meta_page_id, payload)


def backoff_seconds(attempt: int) -> int:
    """Delay before the next try after `attempt` failed: 5 s, 20 s, 80 s, 320 s."""
    return BACKOFF_BASE_SECONDS * 4 ** (attempt - 1)


def _send_failed(message: Message, error: GraphError) -> str:
    fields: dict[str, Any] = {
        "send_error": str(error)[:500],
        "send_error_code": error.code,
        "send_error_subcode": error.subcode,
    }
    if error.token_invalid:
        Page.objects.filter(pk=message.page_id).update(needs_reconnect=True)
        fields["send_error"] = (
            _("Meta no longer accepts this Page's access token: an admin must reconnect the Page. (%(error)s)")
            % {"error": error}
        )[:500]
    if error.is_transient and message.send_attempts < MAX_SEND_ATTEMPTS:
        delay = backoff_seconds(message.send_attempts)
        retrying = Message.objects.filter(pk=message.pk, send_status=SendStatus.SENDING).update(
            send_status=SendStatus.QUEUED, next_attempt_at=timezone.now() + timedelta(seconds=delay), **fields
        )
        if retrying:
            _enqueue_send(message.pk, countdown=delay)
        return "retrying"
    if error.is_ambiguous:
        fields["maybe_delivered"] = True
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
    """Beat: re-enqueue replies whose task was lost (broker down, worker gone
    before it claimed them); fail, never re-send, those whose attempt was cut
    off mid-call (it may have reached Meta; an echo can still confirm it)."""
    from ..tasks import enqueue_send

    now = now or timezone.now()
    lost = list(
        Message.objects.filter(send_status=SendStatus.QUEUED)
        .filter(Q(next_attempt_at__lt=now - QUEUED_STALE_AFTER)
                | Q(next_attempt_at__isnull=True, created_at__lt=now - QUEUED_STALE_AFTER))
        .values_list("pk", flat=True)[:500]
    )
    # Pushed forward so that a broker still down is not flooded every minute.
    Message.objects.filter(pk__in=lost, send_status=SendStatus.QUEUED).update(next_attempt_at=now)
    for pk in lost:
        enqueue_send(pk, 0)
    cutoff = now - SENDING_STALE_AFTER
    interrupted = list(
        Message.objects.filter(send_status=SendStatus.SENDING)
        .filter(Q(attempt_started_at__lt=cutoff) | Q(attempt_started_at__isnull=True, created_at__lt=cutoff))
        .select_related("conversation")[:500]
    )
    failed = 0
    for message in interrupted:
        with transaction.atomic():
            failed += Message.objects.filter(pk=message.pk, send_status=SendStatus.SENDING).update(
                send_status=SendStatus.FAILED,
                maybe_delivered=True,
                send_error=_("Sending was interrupted; the message may have been delivered: check the "
                             "conversation on Facebook before sending it again."),
            )
            notify_conversation_changed(message.conversation)
    return len(lost), failed


# ---------------------------------------------------------------------------


def hide_comment(*, comment: Message, actor: Any, hidden: bool, reason: str) -> None:
    """Hide (or unhide) a comment. Hiding criticism erodes trust: a reason is
    required and logged."""
    reason = reason.strip()[:500]
    if hidden and not reason:
        raise SendRefused(_("Say why this comment is hidden: hiding is a last resort."), "reason")
    if comment.channel != Channel.COMMENT or comment.direction != Direction.INBOUND or not comment.mid:
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
            raise  # the task retries with backoff
        if error.token_invalid:
            Page.objects.filter(pk=contact.page_id).update(needs_reconnect=True)
            return "failed"
        # Meta refuses some profiles for good (phone-number-only accounts:
        # 100/2018218). Like Meta's own inbox, the contact is then shown as
        # "Facebook user" (Contact.display_name), never an invented name.
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

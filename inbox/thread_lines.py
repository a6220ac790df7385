"""A conversation's messages as its thread shows them: every line worked out
in one pass (`build_lines`), its HTML rendered once per distinct content
(`render_lines`, through inbox.fragments), as the queue's rows are.

The frozen `ThreadLine` holds every value the line template
(templates/inbox/_message.html) reads and nothing else, so the line itself
is its cache key: a message edited, reacted to, read by the customer, hidden
or failed is another line, hence another key; nothing is invalidated and
nothing can be stale. Per line, the template's many conditions cost more
than anything else on a long thread. The CSRF token (a new mask per
response) is the one slot filled per response.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from . import fragments
from .models import Channel, Conversation, ConversationKind, Direction, SendStatus
from .queue_rows import LocalTimes, urls_by_pk
from .selectors import ThreadMessage


@dataclass(frozen=True, slots=True)
class LineAttachment:
    type: str
    url: str
    title: str


@dataclass(frozen=True, slots=True)
class LineReaction:
    reaction: str
    emoji: str


@dataclass(frozen=True, slots=True)
class LinePage:
    """What a line reads of its Page: the comment guidance's order-number
    pattern (templates_app.selectors.sensitive_data_warning)."""

    order_number_pattern: str


@dataclass(frozen=True, slots=True)
class ThreadLine:
    """One message of the thread: every value its line shows, and only those.
    The comment guidance reads `direction`, `channel`, `text`, `pk` and
    `can_private_reply` as it would read a message's."""

    pk: str
    css_class: str  # "msg msg-in msg-reply is-hidden"…
    direction: str
    channel: str
    is_note: bool
    is_automatic: bool
    is_removed: bool
    is_hidden: bool
    text: str
    postback_title: str
    attachments: tuple[LineAttachment, ...]
    edits: tuple[str, ...]  # earlier texts, oldest first
    reactions: tuple[LineReaction, ...]
    author: str  # who wrote it, as the line names them
    time_iso: str
    time_text: str
    # Delivery of our replies: ("is-seen", "Seen"), or ("", "") for none.
    delivery_class: str
    delivery_label: str
    failed: bool
    send_error: str
    maybe_delivered: bool
    retry_url: str
    # A customer's public comment still online: its answer, hide and
    # private-reply actions (None: not such a comment).
    is_open_comment: bool
    can_private_reply: bool | None
    private_reply_refusal: str
    hide_url: str


def _css_class(message: ThreadMessage) -> str:
    if message.is_note:
        classes = ["msg", "msg-note"]
    else:
        classes = ["msg", "msg-in" if message.direction == Direction.INBOUND else "msg-out"]
    if message.is_automatic:
        classes.append("msg-auto")
    if message.is_reply:
        classes.append("msg-reply")
    if message.removed_at:
        classes.append("is-removed")
    if message.is_hidden:
        classes.append("is-hidden")
    return " ".join(classes)


class _Words:
    """What a thread's lines say, translated once per thread."""

    def __init__(self, conversation: Conversation) -> None:
        contact = conversation.contact
        self.contact = contact.display_name if contact else _("Unknown contact")
        self.someone_else = _("Another person in the thread")
        self.page = conversation.page.name
        self.outside = _("Page (outside Réactif)")
        self.sending = _("Sending…")
        self.not_sent = _("Not sent")
        self.seen = _("Seen")
        self.delivered = _("Delivered")
        self.sent = _("Sent")


def _author(message: ThreadMessage, conversation: Conversation, words: _Words) -> str:
    if message.direction == Direction.INBOUND:
        if conversation.kind == ConversationKind.PRIVATE or message.mid == conversation.root_comment_id:
            return words.contact
        return words.someone_else
    if message.author_name:
        return message.author_name
    if message.is_automatic:
        return "Réactif"
    if message.send_status == SendStatus.EXTERNAL:
        return words.outside
    return words.page


def _delivery(message: ThreadMessage, conversation: Conversation, words: _Words) -> tuple[str, str]:
    """How far one of our replies went: sending, not sent, seen, delivered, sent."""
    if message.direction != Direction.OUTBOUND or message.is_note:
        return "", ""
    status = message.send_status
    if status in (SendStatus.QUEUED, SendStatus.SENDING):
        return "is-sending", words.sending
    if status == SendStatus.FAILED:
        return "is-failed", words.not_sent
    # Read and delivery receipts are Messenger's only.
    if conversation.kind == ConversationKind.PRIVATE and message.channel == Channel.MESSENGER:
        read, delivered = conversation.contact_read_up_to, conversation.contact_delivered_up_to
        if read and message.timestamp <= read:
            return "is-seen", words.seen
        if delivered and message.timestamp <= delivered:
            return "is-delivered", words.delivered
    if status in (SendStatus.SENT, SendStatus.EXTERNAL):
        return "is-sent", words.sent
    return "", ""


def _attachments(items: Any) -> tuple[LineAttachment, ...]:
    return tuple(
        LineAttachment(type=str(a.get("type") or ""), url=str(a.get("url") or ""), title=str(a.get("title") or ""))
        for a in items or () if isinstance(a, dict)
    )


def _reactions(items: Any) -> tuple[LineReaction, ...]:
    return tuple(
        LineReaction(reaction=str(r.get("reaction") or ""), emoji=str(r.get("emoji") or ""))
        for r in items or () if isinstance(r, dict)
    )


def _edits(items: Any) -> tuple[str, ...]:
    return tuple(str(e.get("text") or "") if isinstance(e, dict) else "" for e in items or ())


def build_lines(conversation: Conversation, messages: Iterable[ThreadMessage], times: LocalTimes) -> list[ThreadLine]:
    """Each message's line, in the given order. `messages` went through the
    view's presentation first (`is_reply`, and for customers' comments
    `can_private_reply` and `private_reply_refusal`)."""
    words = _Words(conversation)
    retry_url = urls_by_pk("inbox:retry")
    hide_url = urls_by_pk("inbox:hide")
    lines = []
    for message in messages:
        time_iso, time_text = times.day_and_time(message.timestamp)
        delivery_class, delivery_label = _delivery(message, conversation, words)
        failed = message.send_status == SendStatus.FAILED
        is_open_comment = (
            message.channel == Channel.COMMENT and message.direction == Direction.INBOUND and not message.removed_at
        )
        lines.append(ThreadLine(
            pk=str(message.pk),
            css_class=_css_class(message),
            direction=message.direction,
            channel=message.channel,
            is_note=message.is_note,
            is_automatic=message.is_automatic,
            is_removed=message.removed_at is not None,
            is_hidden=message.is_hidden,
            text=message.text,
            postback_title=message.postback_title,
            attachments=_attachments(message.attachments),
            edits=_edits(message.edit_history),
            reactions=_reactions(message.reactions),
            author=_author(message, conversation, words),
            time_iso=time_iso,
            time_text=time_text,
            delivery_class=delivery_class,
            delivery_label=delivery_label,
            failed=failed,
            send_error=message.send_error if failed else "",
            maybe_delivered=failed and message.maybe_delivered,
            retry_url=retry_url(message.pk) if failed else "",
            is_open_comment=is_open_comment,
            can_private_reply=message.can_private_reply if is_open_comment else None,
            private_reply_refusal=message.private_reply_refusal if is_open_comment else "",
            hide_url=hide_url(message.pk) if is_open_comment else "",
        ))
    return lines


def render_lines(lines: list[ThreadLine], *, page: LinePage, csrf_input: str) -> list[SafeString]:
    """Each line's `<li>`, from the cache when the same content was rendered
    before in this language and time zone."""
    csrf_slot = fragments.slot("csrf")
    return [
        fragments.fill(
            fragments.render("inbox/_message.html", fragments.THREAD, line=line, page=page, csrf_input=csrf_slot),
            csrf=csrf_input,
        )
        for line in lines
    ]


def line_page(conversation: Conversation) -> LinePage:
    return LinePage(order_number_pattern=conversation.page.order_number_pattern)

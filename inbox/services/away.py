"""Away messages (DOMAIN.md "Availability").

While a Page is unavailable, Réactif answers a new customer message with the
Page's away message, at most once per conversation per closed period, never
when an agent replied in that conversation in the last 5 minutes, and marks
it automatic: it never counts as a response (it closes no response
opportunity; only Meta's 24 h silence rule sees it).

Only private conversations (Messenger) get one. A public comment does not
open the messaging window (META.md §4), so Réactif could only answer it
publicly, under the customer's comment for everyone to read, or with the
comment's one and only private reply, which belongs to an agent. Neither is
an automatic message's to spend.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from templates_app import rendering

from .. import availability
from ..models import (
    AuditLog,
    AwayMessage,
    Channel,
    Contact,
    ConversationKind,
    ConversationStatus,
    Direction,
    Message,
    Page,
    SendStatus,
)
from . import hours

# DOMAIN.md: an agent who answered within the last 5 minutes is still there,
# and an automatic "we are closed" right after their reply would contradict them.
AGENT_REPLY_GRACE = timedelta(minutes=5)
# Meta accepts a RESPONSE only within 24 h of the customer's message (META.md
# §4); a delivery processed later than that gets no away message.
RESPONSE_WINDOW = timedelta(hours=24)

# The variables an away message may use. `agent.first_name` is left out: no
# agent writes it.
VARIABLES = ("contact.first_name", "page.name", "page.next_opening")
NEXT_OPENING = "page.next_opening"

# What a customer reads where the next opening goes when none is known (an
# away switch with no end). Written in the away message's language, which is
# not the agent's interface language, hence not gettext.
_NO_NEXT_OPENING = {"fr": "dès que possible", "en": "as soon as possible"}

# Offered in the settings page until the Page saves its own.
SUGGESTED_BODIES = {
    "fr": (
        "Bonjour {{ contact.first_name }}, merci pour votre message ! Nous sommes fermés pour le "
        "moment : nous vous répondrons {{ page.next_opening }}."
    ),
    "en": (
        "Hello {{ contact.first_name }}, thanks for your message! We are closed right now: "
        "we will answer {{ page.next_opening }}."
    ),
}

_FIRST_NAME = re.compile(r"[ \t]*\{\{\s*contact\.first_name\s*\}\}")


def after_customer_message(message: Message) -> Message | None:
    """Answer a customer message received while the Page is unavailable.

    Called by ingestion for every new customer message, inside the
    transaction that stored it, with the conversation row locked: two
    workers never both decide to answer the same conversation. Returns the
    queued away message, if one was sent.
    """
    conversation = message.conversation
    if (
        message.channel != Channel.MESSENGER
        or message.direction != Direction.INBOUND
        or conversation.kind != ConversationKind.PRIVATE
        or message.removed_at is not None
        or conversation.status == ConversationStatus.SPAM
    ):
        return None
    page = conversation.page
    if page.needs_reconnect:
        return None
    schedule = hours.schedule_for(page)
    sent_at = message.timestamp
    if schedule.is_available(sent_at):
        return None
    now = timezone.now()
    # A delivery processed late: once the team is back (or Meta's window has
    # passed) "we will answer at 9" is no longer true or no longer allowed.
    if now - sent_at > RESPONSE_WINDOW or schedule.is_available(now):
        return None
    if _agent_replied_recently(message):
        return None
    if _already_answered_this_closed_period(message, schedule):
        return None
    away_message = message_for(page, conversation.contact)
    if away_message is None:
        return None
    text = render_away_message(
        away_message.body,
        page=page,
        contact=conversation.contact,
        language=away_message.language,
        next_opening=schedule.next_opening(now),
        now=now,
    )
    if not text.strip():
        return None
    from .sending import send_automatic

    return send_automatic(conversation=conversation, text=text, now=now)


def _agent_replied_recently(message: Message) -> bool:
    # Queued and sending replies count: the agent is there, the reply is on its way.
    return (
        Message.objects.filter(
            conversation_id=message.conversation_id,
            direction=Direction.OUTBOUND,
            is_automatic=False,
            timestamp__gte=message.timestamp - AGENT_REPLY_GRACE,
        )
        .exclude(channel=Channel.NOTE)
        .exclude(send_status=SendStatus.FAILED)
        .exists()
    )


def _already_answered_this_closed_period(message: Message, schedule: availability.Schedule) -> bool:
    """Whether the conversation's last away message belongs to the same closed
    period as `message`: nothing opened between the two."""
    last = (
        Message.objects.filter(conversation_id=message.conversation_id, is_automatic=True)
        .order_by("-timestamp")
        .values_list("timestamp", flat=True)
        .first()
    )
    if last is None:
        return False
    earlier, later = sorted((last, message.timestamp))
    if schedule.is_available(earlier):
        return False
    opening = schedule.next_opening(earlier)
    return opening is None or opening > later


def message_for(page: Page, contact: Contact | None) -> AwayMessage | None:
    """The away message in the contact's language if the Page wrote one, else
    in the Page's language, else any the Page enabled."""
    candidates = [m for m in page.away_messages.filter(enabled=True).order_by("language") if m.body.strip()]
    if not candidates:
        return None
    wanted = [_base_language(contact.language)] if contact is not None and contact.language else []
    wanted.append(_base_language(page.language))
    for language in wanted:
        for candidate in candidates:
            if _base_language(candidate.language) == language:
                return candidate
    return candidates[0]


def _base_language(code: str) -> str:
    # Meta and browsers say "fr_FR", "en-US": the away message is per language.
    return re.split(r"[-_]", code.lower(), maxsplit=1)[0]


def render_away_message(
    body: str,
    *,
    page: Page,
    contact: Contact | None,
    language: str,
    next_opening: datetime | None,
    now: datetime,
) -> str:
    """Plain text for the customer. The next opening reads in the message's
    language and the Page's time zone: "nous vous répondrons lundi à 9 h"."""
    first_name = ""
    if contact is not None:
        first_name = contact.first_name or (contact.name.split()[0] if contact.name.strip() else "")
    if not first_name:
        # "Bonjour {{ contact.first_name }}," reads "Bonjour," rather than "Bonjour ,"
        # when Meta has not told us the name (yet).
        body = _FIRST_NAME.sub("", body)
    if next_opening is None:
        when = _NO_NEXT_OPENING.get(_base_language(language), _NO_NEXT_OPENING["en"])
    else:
        when = availability.format_next_opening(next_opening, language=language, now=now, tz=page.timezone)
    return rendering.render(
        body, {"contact.first_name": first_name, "page.name": page.name, NEXT_OPENING: when}
    ).strip()


def placeholder(name: str) -> str:
    """How a variable is written in a message: {{ page.next_opening }}."""
    return "{{ " + name + " }}"


def unknown_variables(body: str) -> list[str]:
    return [name for name in rendering.find_variables(body) if name not in VARIABLES]


def save_away_message(*, page: Page, language: str, body: str, enabled: bool, actor: Any) -> AwayMessage:
    body = body.strip()
    unknown = unknown_variables(body)
    if unknown:
        raise ValueError(f"unknown variables: {', '.join(unknown)}")
    with transaction.atomic():
        away_message, created = AwayMessage.objects.update_or_create(
            page=page, language=language, defaults={"body": body, "enabled": enabled}
        )
        AuditLog.objects.create(
            actor=actor, page=page, action="away_message_saved",
            data={"language": language, "enabled": enabled, "created": created},
        )
    return away_message

"""A conversation's header (who, which Page, its status, and the buttons
that change it), rendered once per distinct content through inbox.fragments,
as the queue's rows and the thread's lines are.

`ConversationHead` holds every value the header's partial
(templates/inbox/conversation.html#head_fragment) reads and nothing else:
a conversation assigned, snoozed, reopened or renamed is another key. The
CSRF token is the one slot filled per response.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.template.backends.utils import csrf_input
from django.urls import reverse
from django.utils import dateformat
from django.utils.safestring import SafeString

from . import fragments
from .forms import SNOOZE_CHOICES
from .models import Conversation, ConversationKind, ConversationStatus


@dataclass(frozen=True, slots=True)
class ConversationHead:
    pk: str
    contact_name: str  # "" for an unknown contact
    is_public: bool
    status: str
    status_display: str
    # "until 24 Nov. 09:00" for a snoozed conversation, in the Page's zone; else "".
    snoozed_until_text: str
    page_name: str
    page_timezone: str
    assigned_to_me: bool
    status_url: str
    assign_url: str
    # The snooze menu's choices, translated ("custom" has its own field).
    snooze_choices: tuple[tuple[str, str], ...]


def build_head(conversation: Conversation, *, user_id: int | None) -> ConversationHead:
    page, contact = conversation.page, conversation.contact
    snoozed = ""
    if conversation.status == ConversationStatus.SNOOZED and conversation.snoozed_until:
        snoozed = dateformat.format(conversation.snoozed_until.astimezone(ZoneInfo(page.timezone)), "j N H:i")
    return ConversationHead(
        pk=str(conversation.pk),
        contact_name=contact.display_name if contact else "",
        is_public=conversation.kind == ConversationKind.PUBLIC,
        status=conversation.status,
        status_display=str(ConversationStatus(conversation.status).label),
        snoozed_until_text=snoozed,
        page_name=page.name,
        page_timezone=page.timezone,
        assigned_to_me=user_id is not None and conversation.assignee_id == user_id,
        status_url=reverse("inbox:status", args=[conversation.pk]),
        assign_url=reverse("inbox:assign", args=[conversation.pk]),
        snooze_choices=tuple((value, str(label)) for value, label in SNOOZE_CHOICES if value != "custom"),
    )


def render_head(head: ConversationHead, *, oob: bool, csrf_input: str) -> SafeString:
    html = fragments.render("inbox/conversation.html#head_fragment", head=head, oob=oob,
                            csrf_input=fragments.slot("csrf"))
    return fragments.fill(html, csrf=csrf_input)


def head_html(context: Any) -> SafeString:
    """The header for a conversation page's template context."""
    request = context["request"]
    head = build_head(context["conversation"], user_id=request.user.pk)
    return render_head(head, oob=bool(context.get("oob")), csrf_input=csrf_input(request))

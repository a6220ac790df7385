"""Reads for saved replies (STYLE.md habit 2): the picker, the list with its
usage figures, the rendered text for one conversation, and the stored
history the composer's warnings are computed from.

Every query here is index-served and bounded, so that the picker answers in
a few milliseconds with thousands of saved replies on a Page and a draft's
warnings stay cheap with millions of messages stored (the benchmarks call
these functions directly: ``picker`` and ``draft_warnings``):

- saved replies of a scope: the partial indexes ``saved_reply_page_live`` /
  ``saved_reply_owner_live`` (live rows, by shortcut, pattern ops);
- uses of a saved reply: ``msg_saved_reply_recent`` (saved_reply, timestamp);
- an agent's last replies: ``msg_author_recent_out`` (author, -timestamp);
- public replies under a post: ``conv_public_post_replied`` then
  ``msg_thread_order`` (conversation, timestamp).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any, Literal

from django.db.models import (
    Case,
    Count,
    Exists,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.utils import timezone

from inbox.availability import format_next_opening
from inbox.models import (
    Channel,
    Contact,
    Conversation,
    ConversationKind,
    Direction,
    Membership,
    Message,
    Page,
    Role,
    SendStatus,
)
from inbox.services.hours import schedule_for
from inbox.services.sending import SavedReplyUse

from . import guidance, rendering, similarity
from .models import SavedReply

# --- Scopes -------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """Where saved replies live: one Page's (``page``) or one person's own
    (``owner``). ``can_manage``: the user looking may create, edit, archive
    and import here (a Page's admins; anyone for their own)."""

    page: Page | None
    owner: Any
    can_manage: bool

    @property
    def is_personal(self) -> bool:
        return self.page is None

    def q(self) -> Q:
        return Q(page=self.page) if self.page is not None else Q(owner=self.owner)

    def saved_replies(self) -> QuerySet[SavedReply]:
        return SavedReply.objects.filter(self.q())


def manageable_pages(user: Any) -> QuerySet[Page]:
    """The Pages whose saved replies ``user`` manages (admin role)."""
    return Page.objects.filter(memberships__user=user, memberships__role=Role.ADMIN)


def is_admin(user: Any, page: Page) -> bool:
    return Membership.objects.filter(user=user, page=page, role=Role.ADMIN).exists()


# --- The picker ------------------------------------------------------------------

PICKER_LIMIT = 8
# Rows fetched before keeping one language version per shortcut: enough for
# a shortcut written in several languages without scanning the whole scope.
PICKER_CANDIDATES = 40

MatchKind = Literal["shortcut", "title", "body", "all"]
_MATCH_KINDS: tuple[MatchKind, ...] = ("shortcut", "title", "body")


@dataclass(frozen=True)
class PickerEntry:
    saved_reply: SavedReply
    match: MatchKind
    # Other languages this shortcut exists in, for the badge.
    other_languages: tuple[str, ...] = ()


def language_key(language: str | None) -> str:
    """"fr_FR", "fr-fr", "FR" → "fr": Meta gives locales, saved replies
    carry a language."""
    return (language or "").replace("-", "_").split("_")[0].lower()


def normalize_query(query: str) -> str:
    return query.strip().lstrip("/").strip().lower()


def picker(
    *, page: Page, agent: Any, query: str, contact_language: str = "", limit: int = PICKER_LIMIT
) -> list[PickerEntry]:
    """Saved replies matching what the agent typed after ``/``: shortcut
    prefix first, then title, then body matches. One entry per shortcut (and
    scope), in the contact's language when Meta gave it and a version exists,
    else the Page's, else the first that matched.

    One query over this Page's and this agent's live saved replies (the
    partial indexes), never the whole table, bounded by PICKER_CANDIDATES.
    Title and body are matched on their lower-cased copies with a plain
    LIKE, a few milliseconds over thousands of saved replies.
    """
    text = normalize_query(query)
    qs = SavedReply.objects.filter(Q(page=page) | Q(owner=agent), archived_at__isnull=True)
    if text:
        qs = qs.filter(
            Q(shortcut__startswith=text) | Q(title_folded__contains=text) | Q(body_folded__contains=text)
        )
        rank: Any = Case(
            When(shortcut__startswith=text, then=Value(0)),
            When(title_folded__contains=text, then=Value(1)),
            default=Value(2),
            output_field=IntegerField(),
        )
    else:
        rank = Value(0, output_field=IntegerField())
    rows = list(
        qs.annotate(match_rank=rank)
        .only("id", "page_id", "owner_id", "title", "shortcut", "body", "language")
        .order_by("match_rank", "shortcut", "language", "id")[:PICKER_CANDIDATES]
    )
    preferred = [key for key in (language_key(contact_language), language_key(page.language)) if key]

    def preference(saved_reply: SavedReply) -> int:
        key = language_key(saved_reply.language)
        return preferred.index(key) if key in preferred else len(preferred)

    groups: dict[tuple[int | None, int | None, str], list[SavedReply]] = {}
    for saved_reply in rows:
        groups.setdefault((saved_reply.page_id, saved_reply.owner_id, saved_reply.shortcut), []).append(saved_reply)
    entries = []
    for versions in groups.values():
        # min() keeps the first (best-ranked) among equally preferred versions.
        best = min(versions, key=preference)
        match = _MATCH_KINDS[best.match_rank] if text else "all"  # type: ignore[attr-defined]
        others = tuple(sorted({v.language for v in versions if v.language != best.language}))
        entries.append(PickerEntry(best, match, others))
    return entries[:limit]


def saved_reply_for_conversation(*, saved_reply_id: int | None, conversation: Conversation, agent: Any) -> SavedReply | None:
    """A saved reply the agent may use in this conversation (the Page's, or
    their own), archived or not: a reply drafted before an archive still
    remembers where it came from. None for anything else."""
    if not saved_reply_id:
        return None
    return (
        SavedReply.objects.filter(Q(page_id=conversation.page_id) | Q(owner=agent), pk=saved_reply_id)
        .defer("title_folded", "body_folded")
        .first()
    )


# --- Rendering for a conversation ---------------------------------------------------


def next_opening_text(*, page: Page, language: str, now: datetime) -> str:
    """``{{ page.next_opening }}``: when the Page next opens. While it is
    open, that is the opening after the current stretch closes ("we open
    again Monday at 9"); a Page that never closes has none (empty)."""
    schedule = schedule_for(page)
    if schedule.is_available(now):
        closing = schedule.next_closing(now)
        opening = schedule.next_opening(closing) if closing is not None else None
    else:
        opening = schedule.next_opening(now)
    if opening is None:
        return ""
    return format_next_opening(opening, language=language, now=now, tz=page.timezone)


def contact_first_name(contact: Contact | None) -> str:
    if contact is None:
        return ""
    if contact.first_name:
        return contact.first_name
    parts = contact.name.split()
    return parts[0] if parts else ""


def agent_first_name(agent: Any) -> str:
    return (getattr(agent, "first_name", "") or getattr(agent, "username", "") or "").strip()


def variable_values(
    *, page: Page, agent: Any, contact_first: str, language: str, now: datetime | None = None
) -> dict[str, str]:
    now = now or timezone.now()
    return {
        "contact.first_name": contact_first,
        "agent.first_name": agent_first_name(agent),
        "page.name": page.name,
        "page.next_opening": next_opening_text(page=page, language=language, now=now),
    }


def rendered_for_conversation(
    *, saved_reply: SavedReply, conversation: Conversation, agent: Any, now: datetime | None = None
) -> tuple[str, int | None]:
    """The saved reply's text for this conversation's contact, this agent and
    this Page, and where the caret goes (None: at the end)."""
    values = variable_values(
        page=conversation.page,
        agent=agent,
        contact_first=contact_first_name(conversation.contact),
        language=saved_reply.language,
        now=now,
    )
    return rendering.render_with_cursor(saved_reply.body, values)


def signature_names(*, agent: Any, page: Page) -> list[str]:
    """Names a reply may be signed with, left out when comparing texts."""
    return [name for name in (agent_first_name(agent), page.name) if name]


# --- History for the composer's warnings -------------------------------------------

# Replies still on their way count as sent (they are about to be); failed ones
# never reached anyone.
_NOT_DELIVERED = [SendStatus.FAILED]


def _replies() -> QuerySet[Message]:
    return Message.objects.filter(direction=Direction.OUTBOUND, is_automatic=False).exclude(
        channel=Channel.NOTE
    ).exclude(send_status__in=_NOT_DELIVERED)


# A contact who got the same saved reply more often than this in 30 days is
# already a case for confirming; comparing more texts would change nothing.
REPEAT_CONTACT_TEXTS = 20


def texts_sent_to_contact(
    *, saved_reply_id: int, contact_id: int, since: datetime
) -> list[tuple[str, datetime]]:
    """What this contact received from this saved reply since ``since``, most
    recent first: the contact's few conversations, then their messages by
    ``msg_thread_order``."""
    conversations = Conversation.objects.filter(contact_id=contact_id).values("pk")
    return list(
        _replies()
        .filter(conversation_id__in=conversations, timestamp__gte=since, saved_reply_id=saved_reply_id)
        .order_by("-timestamp")
        .values_list("text", "timestamp")[:REPEAT_CONTACT_TEXTS]
    )


def uses_on_page(*, saved_reply_id: int, page_id: int, since: datetime) -> int:
    """How many times this saved reply was sent on this Page since ``since``
    (``msg_saved_reply_recent``: one range of one saved reply's uses)."""
    return _replies().filter(saved_reply_id=saved_reply_id, page_id=page_id, timestamp__gte=since).count()


AGENT_RELIANCE_LAST_N = 50


def agent_recent_unedited_flags(*, agent_id: int, limit: int = AGENT_RELIANCE_LAST_N) -> list[bool]:
    """One flag per reply of the agent, most recent first: was it an unedited
    saved reply? (``msg_author_recent_out``, the first ``limit`` rows)."""
    return list(
        _replies()
        .filter(author_id=agent_id)
        .order_by("-timestamp", "-id")
        .values_list("is_unedited_saved_reply", flat=True)[:limit]
    )


# Public replies under one post in 24 h: beyond this many, the warning is
# long since due; the bound keeps a viral post's thread count harmless.
PUBLIC_REPEAT_TEXTS = 50


def public_texts_under_post(*, page_id: int, post_id: str, since: datetime) -> list[str]:
    """The Page's public replies posted under ``post_id`` since ``since``,
    most recent first: the post's threads the Page answered lately
    (``conv_public_post_replied``), then their replies (``msg_thread_order``).
    A reply still on its way (queued seconds ago) does not count until it is
    sent: its thread's ``last_page_reply_at`` moves when it is."""
    threads = Conversation.objects.filter(
        page_id=page_id, kind=ConversationKind.PUBLIC, post_id=post_id, last_page_reply_at__gte=since
    )
    return list(
        _replies()
        .filter(conversation_id__in=threads.values("pk"), channel=Channel.COMMENT, timestamp__gte=since)
        .order_by("-timestamp")
        .values_list("text", flat=True)[:PUBLIC_REPEAT_TEXTS]
    )


# --- The list, with usage figures -----------------------------------------------

LIST_PAGE_SIZE = 50
STALE_AFTER = timedelta(days=90)
ListStatus = Literal["live", "stale", "archived"]


@dataclass(frozen=True)
class Usage:
    sent_7d: int = 0
    sent_30d: int = 0
    unedited_30d: int = 0
    last_used_at: datetime | None = None

    @property
    def unedited_percent(self) -> int | None:
        """Share of the last 30 days' sends that went out unedited; None when
        there were none."""
        if not self.sent_30d:
            return None
        return self.unedited_30d * 100 // self.sent_30d


@dataclass
class Row:
    saved_reply: SavedReply
    usage: Usage

    @property
    def is_stale(self) -> bool:
        return getattr(self.saved_reply, "is_stale_now", False)


@dataclass
class ListPage:
    rows: list[Row]
    next_cursor: str | None


def _encode_cursor(shortcut: str, language: str, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{shortcut}|{language}|{pk}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str, str, int]:
    try:
        raw = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()).decode()
        shortcut, language, pk = raw.rsplit("|", 2)
        return shortcut, language, int(pk)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ValueError("bad cursor") from exc


def _last_use() -> Subquery:
    return Subquery(
        _replies().filter(saved_reply_id=OuterRef("pk")).order_by("-timestamp").values("timestamp")[:1]
    )


def _used_since(since: datetime) -> Exists:
    return Exists(_replies().filter(saved_reply_id=OuterRef("pk"), timestamp__gte=since))


def _stale_q(now: datetime) -> Q:
    # Unused for 90 days, and old enough to have had the chance.
    return Q(archived_at__isnull=True, created_at__lt=now - STALE_AFTER) & ~Q(used_lately=True)


def saved_reply_list(
    *,
    scope: Scope,
    search: str = "",
    status: ListStatus = "live",
    after: str | None = None,
    limit: int = LIST_PAGE_SIZE,
    now: datetime | None = None,
) -> ListPage:
    """One page of a scope's saved replies, by shortcut then language,
    keyset-paginated (no OFFSET), each with its usage figures."""
    now = now or timezone.now()
    qs = scope.saved_replies().annotate(used_lately=_used_since(now - STALE_AFTER), last_used_at=_last_use())
    if status == "archived":
        qs = qs.filter(archived_at__isnull=False)
    elif status == "stale":
        qs = qs.filter(_stale_q(now))
    else:
        qs = qs.filter(archived_at__isnull=True)
    text = search.strip().lower()
    if text:
        qs = qs.filter(
            Q(shortcut__contains=normalize_query(text))
            | Q(title_folded__contains=text)
            | Q(body_folded__contains=text)
            | Q(tags__contains=text)  # stored lower-case (services.normalize_tags)
        )
    if after:
        shortcut, language, pk = _decode_cursor(after)
        qs = qs.filter(
            Q(shortcut__gt=shortcut)
            | Q(shortcut=shortcut, language__gt=language)
            | Q(shortcut=shortcut, language=language, pk__gt=pk)
        )
    saved_replies = list(
        qs.defer("title_folded", "body_folded").order_by("shortcut", "language", "pk")[: limit + 1]
    )
    more = len(saved_replies) > limit
    saved_replies = saved_replies[:limit]
    figures = usage_for(saved_reply_ids=[s.pk for s in saved_replies], now=now)
    rows = []
    for saved_reply in saved_replies:
        saved_reply.is_stale_now = (  # type: ignore[attr-defined]
            saved_reply.archived_at is None
            and saved_reply.created_at < now - STALE_AFTER
            and not saved_reply.used_lately  # type: ignore[attr-defined]
        )
        usage = figures.get(saved_reply.pk, Usage())
        rows.append(Row(saved_reply, Usage(usage.sent_7d, usage.sent_30d, usage.unedited_30d,
                                           saved_reply.last_used_at)))  # type: ignore[attr-defined]
    last = saved_replies[-1] if more and saved_replies else None
    return ListPage(rows, _encode_cursor(last.shortcut, last.language, last.pk) if last else None)


def usage_for(*, saved_reply_ids: Sequence[int], now: datetime | None = None) -> dict[int, Usage]:
    """Sends in the last 7 and 30 days and the unedited ones among the 30
    days', per saved reply: one grouped query over the 30-day range of
    ``msg_saved_reply_recent`` for these saved replies only."""
    if not saved_reply_ids:
        return {}
    now = now or timezone.now()
    rows = (
        _replies()
        .filter(saved_reply_id__in=list(saved_reply_ids), timestamp__gte=now - timedelta(days=30), timestamp__lte=now)
        .values("saved_reply_id")
        .annotate(
            sent_30d=Count("pk"),
            sent_7d=Count("pk", filter=Q(timestamp__gte=now - timedelta(days=7))),
            unedited_30d=Count("pk", filter=Q(is_unedited_saved_reply=True)),
        )
    )
    return {
        row["saved_reply_id"]: Usage(row["sent_7d"], row["sent_30d"], row["unedited_30d"]) for row in rows
    }


def counts(*, scope: Scope, now: datetime | None = None) -> dict[str, int]:
    """How many live, stale and archived saved replies a scope holds, for
    the tabs. One query; a scope holds thousands at most."""
    now = now or timezone.now()
    return scope.saved_replies().annotate(used_lately=_used_since(now - STALE_AFTER)).aggregate(
        live=Count("pk", filter=Q(archived_at__isnull=True)),
        stale=Count("pk", filter=_stale_q(now)),
        archived=Count("pk", filter=Q(archived_at__isnull=False)),
    )


def export_rows(*, scope: Scope) -> Iterable[SavedReply]:
    return scope.saved_replies().filter(archived_at__isnull=True).order_by("shortcut", "language", "pk")


# --- The dashboard's per-agent table ------------------------------------------------


def unedited_share_by_agent(
    *, page: Page, since: datetime, until: datetime | None = None
) -> dict[int, tuple[int, int]]:
    """Per agent of the Page: (unedited saved replies, replies) sent on this
    Page in [since, until). The dashboard shows the share beside each agent.
    Served by ``msg_author_recent_out``: the members' replies in the window."""
    members = Membership.objects.filter(page=page).values("user_id")
    qs = _replies().filter(page=page, author_id__in=members, timestamp__gte=since)
    if until is not None:
        qs = qs.filter(timestamp__lt=until)
    return {
        row["author_id"]: (row["unedited"], row["replies"])
        for row in qs.values("author_id").annotate(
            replies=Count("pk"), unedited=Count("pk", filter=Q(is_unedited_saved_reply=True))
        )
    }


# --- The composer's checks (reads only: the stored history against a draft) ----------

# Order in which the composer lists them: what stops the send first, then
# what needs a confirmation, then warnings, then suggestions.
_KIND_ORDER = {"refuse": 0, "confirm": 1, "warn": 2, "info": 3}
_SENDABLE_CHANNELS = (Channel.MESSENGER, Channel.COMMENT, Channel.PRIVATE_REPLY)


def default_channel(conversation: Conversation) -> str:
    return Channel.MESSENGER if conversation.kind == ConversationKind.PRIVATE else Channel.COMMENT


def draft_warnings(
    *,
    conversation: Conversation,
    agent: Any,
    text: str,
    saved_reply_id: int | None,
    channel: str,
    comment: Message | None = None,
    now: datetime | None = None,
) -> list[guidance.Warning]:
    """Every warning and piece of guidance for a draft, computed from the
    stored history, in the order the composer shows them.

    ``channel``: how the draft would go out (``messenger``, ``comment`` for a
    public reply, ``private_reply``); a note (``note``) gets none. The
    thresholds are the Page's settings.
    """
    now = now or timezone.now()
    page = conversation.page
    if channel not in _SENDABLE_CHANNELS:
        return []
    warnings: list[guidance.Warning | None] = [_window(conversation, channel, comment, now)]
    text = text.strip()
    if text:
        names = signature_names(agent=agent, page=page)
        saved_reply = saved_reply_for_conversation(
            saved_reply_id=saved_reply_id, conversation=conversation, agent=agent
        )
        if saved_reply is not None:
            warnings += _saved_reply_warnings(text, saved_reply, conversation, agent, names, now)
        warnings.append(
            guidance.check_agent_reliance(
                agent_recent_unedited_flags(agent_id=agent.pk),
                share=Fraction(page.agent_reliance_permille, 1000),
            )
        )
        if channel == Channel.COMMENT:
            if conversation.post_id:
                warnings.append(
                    guidance.check_public_repeat(
                        text,
                        public_texts_under_post(
                            page_id=page.pk, post_id=conversation.post_id, since=now - timedelta(hours=24)
                        ),
                        threshold=page.public_repeat_threshold,
                        signature_names=names,
                    )
                )
            warnings.append(sensitive_data_warning(text, page=page))
        if channel == Channel.COMMENT:
            warnings.append(guidance.check_too_long(text))
        else:
            warnings.append(guidance.check_message_length(text) or guidance.check_too_long(text))
        if page.signature_required:
            warnings.append(
                guidance.check_signature(
                    text, agent_first_name=agent_first_name(agent), page_name=page.name
                )
            )
    found = [warning for warning in warnings if warning is not None]
    return sorted(found, key=lambda warning: _KIND_ORDER[warning.kind])


def _saved_reply_warnings(
    text: str,
    saved_reply: SavedReply,
    conversation: Conversation,
    agent: Any,
    names: list[str],
    now: datetime,
) -> list[guidance.Warning | None]:
    page = conversation.page
    rendered, _cursor = rendered_for_conversation(
        saved_reply=saved_reply, conversation=conversation, agent=agent, now=now
    )
    warnings: list[guidance.Warning | None] = []
    if conversation.contact_id is not None:
        previous = texts_sent_to_contact(
            saved_reply_id=saved_reply.pk,
            contact_id=conversation.contact_id,
            since=now - timedelta(days=guidance.REPEAT_CONTACT_DAYS),
        )
        repeat = guidance.check_repeat_contact(text, [t for t, _at in previous], signature_names=names)
        if repeat is not None:
            similar_dates = [
                at for t, at in previous if similarity.similarity(text, t, signature_names=names)
                >= similarity.UNEDITED_THRESHOLD
            ]
            repeat = replace(repeat, params={**repeat.params, "last_sent_at": max(similar_dates)})
        warnings.append(repeat)
    warnings.append(guidance.check_unedited(text, rendered, signature_names=names))
    warnings.append(
        guidance.check_hot_template(
            uses_on_page(saved_reply_id=saved_reply.pk, page_id=page.pk, since=now - timedelta(hours=24)),
            threshold=page.hot_template_threshold,
        )
    )
    return warnings


def _window(
    conversation: Conversation, channel: str, comment: Message | None, now: datetime
) -> guidance.Warning | None:
    page = conversation.page
    if channel == Channel.MESSENGER:
        if conversation.kind != ConversationKind.PRIVATE:
            return None
        decision = guidance.check_window(
            now=now,
            last_customer_message_at=conversation.last_customer_message_at,
            human_agent_enabled=page.human_agent_enabled,
        )
        return guidance.window_warning(decision)
    # Meta allows a private reply to a comment within 7 days of it; the send
    # refuses the rest (one per comment…) with its own reason.
    if (
        channel == Channel.PRIVATE_REPLY
        and comment is not None
        and comment.direction == Direction.INBOUND
        and now - comment.timestamp >= guidance.PRIVATE_REPLY_WINDOW
    ):
        return guidance.Warning("window", "refuse", {"reason": "comment_too_old"})
    return None


def sensitive_data_warning(text: str, *, page: Page) -> guidance.Warning | None:
    """``sensitive_public`` for a public text (a draft, or a customer's
    comment). A Page whose order-number pattern is unusable still gets the
    other detectors rather than an error."""
    pattern = page.order_number_pattern or None
    try:
        return guidance.check_sensitive_public(text, order_pattern=pattern)
    except ValueError:
        return guidance.check_sensitive_public(text)


def comment_guidance(*, message: Message, page: Page | None = None) -> guidance.Warning | None:
    """A customer's public comment holding personal data: the inbox suggests
    answering privately (and perhaps hiding the comment)."""
    if message.direction != Direction.INBOUND or message.channel != Channel.COMMENT or not message.text:
        return None
    return sensitive_data_warning(message.text, page=page or message.page)


def saved_reply_origin(
    *, conversation: Conversation, agent: Any, text: str, saved_reply_id: int | None
) -> SavedReplyUse | None:
    """Which saved reply a reply came from and how similar it stayed to the
    saved reply as rendered for this conversation; None when it came from
    none the agent may use here."""
    saved_reply = saved_reply_for_conversation(
        saved_reply_id=saved_reply_id, conversation=conversation, agent=agent
    )
    if saved_reply is None:
        return None
    rendered, _cursor = rendered_for_conversation(
        saved_reply=saved_reply, conversation=conversation, agent=agent
    )
    names = signature_names(agent=agent, page=conversation.page)
    score = similarity.similarity(text.strip(), rendered, signature_names=names)
    return SavedReplyUse(
        saved_reply_id=saved_reply.pk, similarity=round(score, 4), unedited=score >= similarity.UNEDITED_THRESHOLD
    )

"""The agent's inbox: the triage queue, a conversation, the composer, and the
live poll that keeps them fresh.

Every view opens with the access helper (anything outside the user's Pages is
a 404), validates a form, makes one service call and renders. htmx requests
get the page's partials (`inbox/queue.html#rows`…); the same URLs work without
JavaScript.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.views import redirect_to_login
from django.core import signing
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render, resolve_url
from django.template.backends.utils import csrf_input
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event
from django_htmx.middleware import HtmxDetails

from templates_app import guidance
from templates_app import services as saved_replies

from . import live, presence, queue_rows, selectors, services, thread_lines
from .access import get_conversation_among, get_conversation_for_user, get_message_for_user
from .forms import WAITING, AssignForm, HideForm, NoteForm, QueueFilterForm, ReplyForm, StatusForm
from .hours_selectors import HoursStatus
from .models import (
    Channel,
    Conversation,
    ConversationKind,
    ConversationStatus,
    Direction,
    Page,
    SendStatus,
    person_name,
)
from .services import SendRefused
from .templatetags.inbox_tags import duration_units, epoch_ms, format_duration

log = logging.getLogger(__name__)

# Browsers poll /live this often (inbox.js pauses it in background tabs). A
# new message shows within this plus the worker's processing time: well
# inside the 3 s the inbox promises.
LIVE_POLL_SECONDS = 2
LIVE_SALT = "inbox.live"
# A token outlives a working day in an open tab; after that the page reloads.
LIVE_TOKEN_MAX_AGE = 24 * 3600


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


# --- Access ------------------------------------------------------------------


def inbox_login_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """login_required that also works for htmx: a fragment request whose
    session expired gets a client redirect to the sign-in page, never the
    sign-in page swapped into a corner of the inbox."""

    @wraps(view)
    def wrapper(request: HtmxHttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated:
            return view(request, *args, **kwargs)
        if request.htmx:
            back = request.htmx.current_url_abs_path or reverse("inbox:queue")
            return HttpResponseClientRedirect(f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': back})}")
        return redirect_to_login(request.get_full_path())

    return wrapper


def _user_id(request: HtmxHttpRequest) -> int:
    # Behind inbox_login_required: the user is signed in and has an id.
    return int(request.user.pk or 0)


def _display_name(user: Any) -> str:
    return person_name(user.first_name, user.get_username())


# --- Live updates -------------------------------------------------------------


def live_context(
    request: HtmxHttpRequest, *, page_ids: list[int], conversation: Conversation | None = None,
    member_ids: list[int] | None = None,
) -> dict[str, Any]:
    """The polling element's starting state, rendered into the page."""
    token = signing.dumps(
        {
            "u": request.user.pk,
            "n": _display_name(request.user),
            "p": sorted(page_ids),
            "c": conversation.pk if conversation else None,
            "m": member_ids or [],
        },
        salt=LIVE_SALT,
        compress=True,
    )
    versions = live.versions(page_ids=sorted(page_ids), conversation_id=conversation.pk if conversation else None)
    return {
        "live_token": token,
        "live_versions": _versions_text(versions),
        "live_presence": "-",
        "live_seconds": LIVE_POLL_SECONDS,
    }


def _versions_text(versions: dict[str, int]) -> str:
    return ".".join(str(versions[key]) for key in versions)


@require_GET
def live_poll(request: HtmxHttpRequest) -> HttpResponse:
    """GET /live?t=<token>&v=<versions>&ps=<presence>: 204 while nothing
    changed, with no database query (the session comes from the cache, the
    versions and presence from the cache; the user is never loaded). When
    something changed: the next polling element, presence out of band, and an
    `inbox:changed` event that makes the regions on the page refresh
    themselves through the normal, scoped views."""
    try:
        data = signing.loads(request.GET.get("t", ""), salt=LIVE_SALT, max_age=LIVE_TOKEN_MAX_AGE)
    except signing.BadSignature:
        # Tampered with, or a tab open for more than a day: start afresh.
        return HttpResponseClientRedirect(request.htmx.current_url_abs_path or "/") if request.htmx \
            else HttpResponseBadRequest("bad token")
    # The token names its user; the session must still be that user's.
    if str(request.session.get(SESSION_KEY, "")) != str(data["u"]):
        back = (request.htmx.current_url_abs_path if request.htmx else None) or reverse("inbox:queue")
        return HttpResponseClientRedirect(f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': back})}")
    conversation_id = data.get("c")
    versions = _versions_text(live.versions(page_ids=data["p"], conversation_id=conversation_id))
    others: list[presence.Presence] = []
    if conversation_id:
        presence.viewing(conversation_id=conversation_id, user_id=data["u"], name=data["n"])
        others = presence.others(conversation_id=conversation_id, member_ids=data["m"], user_id=data["u"])
    signature = presence.signature(others)
    changed = versions != request.GET.get("v")
    if not changed and signature == request.GET.get("ps"):
        return HttpResponse(status=204)
    html = render_to_string(
        "inbox/_live.html",
        {
            "live_token": request.GET.get("t", ""),
            "live_versions": versions,
            "live_presence": signature,
            "live_seconds": LIVE_POLL_SECONDS,
            "presences": others,
            "presence_oob": bool(conversation_id),
        },
    )
    response = HttpResponse(html)
    if changed:
        trigger_client_event(response, "inbox:changed")
    return response


# --- Queue ---------------------------------------------------------------------


@inbox_login_required
@require_GET
def queue(request: HtmxHttpRequest) -> HttpResponse:
    # The user's Pages, read once: the layout's memberships (by Page name, as
    # pages_for orders them) serve the filters, the rows and the topbar.
    hours_status = HoursStatus(request.user)
    pages = hours_status.member_pages
    form = QueueFilterForm(request.GET, pages=pages)
    view, status = form.value("view"), form.value("status")
    selected_page: Page | None = form.value("page") or None  # type: ignore[assignment]
    search, after = form.value("q"), form.value("after") or None
    waiting = status == WAITING
    arguments: dict[str, Any] = {
        "pages": [selected_page] if selected_page else pages,
        "status": ConversationStatus.OPEN if waiting else status,
        "waiting": waiting,
        "kind": form.value("kind") or None,
        "assignee": request.user if view == "mine" else None,
        "unassigned": view == "unassigned",
        "search": search,
        "with_open_ro": False,
    }
    arguments["limit"] = selectors.QUEUE_PAGE_SIZE
    try:
        result = selectors.queue(**arguments, after=after)
    except ValueError:  # a cursor mangled by hand: start from the top
        after = None
        result = selectors.queue(**arguments)
    filters = {
        "view": view, "status": status, "kind": form.value("kind"),
        "page": selected_page.pk if selected_page else "", "q": search,
    }
    filter_query = urlencode({k: v for k, v in filters.items() if v and v not in ("all", WAITING)})
    now = timezone.now()
    context: dict[str, Any] = {
        "nav": "inbox",
        "hours_status": hours_status,
        "form": form,
        "filters": filters,
        "filter_query": filter_query,
        "row_html": queue_rows.render_rows(
            queue_rows.build_rows(result.rows, now, user_id=_user_id(request)),
            several_pages=len(pages) > 1, csrf_input=csrf_input(request),
        ),
        "next_cursor": result.next_cursor,
        "after": after,
        "pages": pages,
        "selected_page": selected_page,
        "waiting": waiting,
        "now": now,
        "units": duration_units(),
        "view_choices": QueueFilterForm.VIEW_CHOICES,
        "kind_choices": QueueFilterForm.KIND_CHOICES,
        "status_choices": QueueFilterForm.STATUS_CHOICES,
    }
    if request.htmx:
        template = "inbox/queue.html#rows" if after else "inbox/queue.html#results"
        return render(request, template, context)
    context.update(live_context(request, page_ids=[p.pk for p in pages]))
    return render(request, "inbox/queue.html", context)


# --- Conversation --------------------------------------------------------------


def _window(conversation: Conversation, now: datetime) -> dict[str, Any] | None:
    """The 24-hour window as the agent should read it (DOMAIN.md "Meta's
    messaging rules"): private conversations only."""
    if conversation.kind != ConversationKind.PRIVATE:
        return None
    decision = guidance.check_window(
        now=now,
        last_customer_message_at=conversation.last_customer_message_at,
        human_agent_enabled=conversation.page.human_agent_enabled,
    )
    ends_at = now + decision.remaining if decision.remaining else None
    remaining = format_html(
        '<span class="js-countdown" data-due="{}" data-mode="left">{}</span>',
        epoch_ms(ends_at), format_duration(decision.remaining.total_seconds()),
    ) if decision.remaining else ""
    text: str
    if decision.reason == "response_window":
        text = format_html(_("You can reply for {remaining}."), remaining=remaining)
    elif decision.reason == "human_agent":
        text = format_html(
            _("The 24-hour window has closed: you can still answer as a human agent (HUMAN_AGENT tag) "
              "for {remaining}."),
            remaining=remaining,
        )
    else:
        text = services.sending.window_refusal_text(decision.reason)
    return {"decision": decision, "text": text, "ends_at": ends_at, "allowed": decision.allowed}


def _present_thread(
    request: HttpRequest, conversation: Conversation, thread: selectors.Thread, now: datetime
) -> list[selectors.ThreadMessage]:
    """What each line of the thread shows, worked out in one pass: its time
    in the Page's zone, whether a comment answers another one, and a public
    thread's per-comment actions; each message's line as HTML
    (`line_html`, inbox.thread_lines). Returns the comments an agent can
    answer, newest first."""
    times = queue_rows.LocalTimes(conversation.page.timezone, now)
    for entry in thread.entries:
        if entry.event is not None:
            entry.event.time_iso, entry.event.time_text = times.day_and_time(entry.at)  # type: ignore[attr-defined]
    comments = _present_comments(conversation, thread, now)
    lines = thread_lines.build_lines(conversation, thread.messages, times)
    html = thread_lines.render_lines(lines, page=thread_lines.line_page(conversation), csrf_input=csrf_input(request))
    for message, line_html in zip(thread.messages, html, strict=True):
        message.line_html = line_html
    return comments


def _present_comments(
    conversation: Conversation, thread: selectors.Thread, now: datetime
) -> list[selectors.ThreadMessage]:
    if conversation.kind != ConversationKind.PUBLIC:
        return []
    private_replied = {
        m.recipient_comment_id for m in thread.messages
        if m.channel == Channel.PRIVATE_REPLY and m.send_status != SendStatus.FAILED
    }
    comments = []
    for message in thread.messages:
        message.is_reply = (
            message.channel in (Channel.COMMENT, Channel.PRIVATE_REPLY)
            and message.parent_comment_id not in ("", conversation.post_id)
        )
        if message.channel == Channel.COMMENT and message.direction == Direction.INBOUND:
            decision = guidance.check_private_reply(
                now=now, comment_created_at=message.timestamp,
                already_private_replied=message.mid in private_replied,
            )
            message.can_private_reply = decision.allowed
            message.private_reply_refusal = (
                "" if decision.allowed else services.sending.private_reply_refusal_text(decision.reason)
            )
            comments.append(message)
    return comments[::-1]  # newest first: the composer answers the latest by default


def _ro_state(conversation: Conversation, now: datetime) -> dict[str, Any] | None:
    if conversation.due_at is None:
        return None
    target = conversation.page.target_seconds(conversation.kind)
    clock_start = conversation.due_at - timedelta(seconds=target)
    left = (conversation.due_at - now).total_seconds()
    opening = queue_rows.when(clock_start, conversation.page, now) if clock_start > now else ""
    times = queue_rows.LocalTimes(conversation.page.timezone, now)
    due = times.local(conversation.due_at)
    return {
        "due_at": conversation.due_at,
        # "by 14:05" today; a deadline on another day says which ("by 19 nov. 10:57").
        "due_text": f"{due:%H:%M}" if due.date() == times.today else times.day_and_time(conversation.due_at)[1],
        "clock_start": clock_start,
        "clock_not_started": clock_start > now,
        "next_opening": opening,
        "is_missed": left < 0,
        "is_at_risk": 0 <= left <= conversation.page.at_risk_seconds,
        "seconds_left": left,
        "target": target,
    }


def _render_conversation(request: HtmxHttpRequest, template: str, context: dict[str, Any]) -> HttpResponse:
    """Times in a conversation read in its Page's time zone."""
    with timezone.override(_zone(context["page"])):
        return render(request, template, context)


def _conversation_context(
    request: HtmxHttpRequest, conversation: Conversation, *, before: str | None = None, **extra: Any
) -> dict[str, Any]:
    now = timezone.now()
    try:
        thread = selectors.thread(conversation, before=before)
    except ValueError:
        thread = selectors.thread(conversation)
    comments = _present_thread(request, conversation, thread, now)
    members = selectors.members_of(conversation.page)
    member_names = {m.pk: _display_name(m) for m in members}
    for entry in thread.entries:
        if entry.event is not None and entry.event.kind == "assigned":
            entry.event.assignee_name = member_names.get(entry.event.data.get("assignee"), "")  # type: ignore[attr-defined]
    context: dict[str, Any] = {
        "nav": "inbox",
        "conversation": conversation,
        "page": conversation.page,
        "contact": conversation.contact,
        "thread": thread,
        "comments": comments,
        "members": members,
        "window": _window(conversation, now),
        "ro": _ro_state(conversation, now),
        "now": now,
        "units": duration_units(),
        "is_public": conversation.kind == ConversationKind.PUBLIC,
        "composer_text": "",
        "composer_channel": Channel.COMMENT if conversation.kind == ConversationKind.PUBLIC else Channel.MESSENGER,
        "composer_comment": comments[0].pk if comments else None,
        "composer_saved_reply_id": "",
        "warnings": [],
        "pending_confirmation": "",
        "confirmed": [],
        "composer_error": "",
        "sent": False,
        "notice": "",
        "oob": False,
        "max_length": guidance.MAX_TEXT_LENGTH - 1,
    }
    context.update(extra)
    return context


@inbox_login_required
@require_GET
def conversation(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    before = request.GET.get("before") or None
    if request.htmx and before:
        conversation = get_conversation_for_user(request.user, pk)
        return _render_conversation(request, "inbox/conversation.html#earlier",
                      _conversation_context(request, conversation, before=before))
    if request.htmx and request.GET.get("part") == "refresh":
        conversation = get_conversation_for_user(request.user, pk)
        return _render_conversation(request, "inbox/conversation.html#refresh",
                                    _conversation_context(request, conversation, oob=True))
    # The whole page shows the layout, which reads the user's memberships
    # with their Pages: the access check uses them (one join fewer).
    hours_status = HoursStatus(request.user)
    pages = hours_status.member_pages
    conversation = get_conversation_among(pages, pk)
    # Read receipts: the service decides (Page setting, opening hours).
    services.conversation_opened(conversation=conversation)
    context = _conversation_context(request, conversation, hours_status=hours_status)
    context.update(live_context(
        request, page_ids=[conversation.page_id], conversation=conversation,
        member_ids=[m.pk for m in context["members"]],
    ))
    return _render_conversation(request, "inbox/conversation.html", context)


def _refreshed(request: HtmxHttpRequest, conversation: Conversation, *, notice: str = "", **extra: Any) -> HttpResponse:
    """After an action on the conversation page: every region, out of band."""
    conversation = get_conversation_for_user(request.user, conversation.pk)
    return _render_conversation(request, "inbox/conversation.html#refresh",
                                _conversation_context(request, conversation, oob=True, notice=notice, **extra))


def _composer(request: HtmxHttpRequest, conversation: Conversation, *, sent: bool = False, **state: Any) -> HttpResponse:
    """The composer after a send attempt. Refused: the draft stays, with the
    reason or the warnings. Sent: an empty composer, and the thread out of
    band so the reply shows as "Sending…" at once."""
    if not request.htmx:
        if state.get("composer_error"):
            messages.error(request, state["composer_error"])
        elif sent:
            messages.success(request, _("Reply queued."))
        if sent or not (state.get("warnings") or state.get("composer_error")):
            return redirect("inbox:conversation", pk=conversation.pk)
        return _render_conversation(request, "inbox/conversation.html", {
            **_conversation_context(request, conversation, **state),
            **live_context(request, page_ids=[conversation.page_id], conversation=conversation),
        })
    template = "inbox/conversation.html#after_send" if sent else "inbox/conversation.html#composer"
    return _render_conversation(
        request, template, _conversation_context(request, conversation, oob=sent, sent=sent, **state)
    )


@inbox_login_required
@require_POST
def reply(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    conversation = get_conversation_for_user(request.user, pk)
    form = ReplyForm(request.POST)
    if not form.is_valid():
        return _composer(request, conversation, composer_text=request.POST.get("text", ""),
                         composer_error=_("This reply could not be read: try again."))
    data = form.cleaned_data
    text = data["text"]
    is_public = conversation.kind == ConversationKind.PUBLIC
    channel = data["channel"] or (Channel.COMMENT if is_public else Channel.MESSENGER)
    comment = selectors.thread_comment(conversation, data["comment"]) if is_public else None
    state: dict[str, Any] = {
        "composer_text": text, "composer_channel": channel,
        "composer_comment": comment.pk if comment else data["comment"],
        "composer_saved_reply_id": data["saved_reply_id"] or "",
    }
    warnings = saved_replies.composer_warnings(
        conversation=conversation, agent=request.user, text=text,
        saved_reply_id=data["saved_reply_id"], channel=channel, comment=comment,
    )
    confirmed = form.confirmed()
    refused = [w for w in warnings if w.kind == "refuse"]
    to_confirm = [w for w in warnings if w.kind == "confirm" and w.id not in confirmed]
    if refused or to_confirm:
        return _composer(request, conversation, warnings=warnings, confirmed=sorted(confirmed),
                         pending_confirmation="" if refused else ",".join(w.id for w in to_confirm), **state)
    use = saved_replies.saved_reply_use(
        conversation=conversation, agent=request.user, text=text, saved_reply_id=data["saved_reply_id"],
    )
    try:
        services.send_reply(conversation=conversation, author=request.user, text=text, channel=channel,
                            comment=comment, saved_reply_use=use)
    except SendRefused as refusal:
        return _composer(request, conversation, composer_error=refusal.reason, warnings=warnings, **state)
    presence.stopped_typing(conversation_id=conversation.pk, user_id=_user_id(request))
    return _composer(request, conversation, sent=True)


@inbox_login_required
@require_POST
def note(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    conversation = get_conversation_for_user(request.user, pk)
    form = NoteForm(request.POST)
    if not form.is_valid():
        return _composer(request, conversation, composer_text=request.POST.get("text", ""),
                         composer_error=_("Write the note before adding it."))
    services.add_note(conversation=conversation, author=request.user, text=form.cleaned_data["text"])
    presence.stopped_typing(conversation_id=conversation.pk, user_id=_user_id(request))
    return _composer(request, conversation, sent=True)


@inbox_login_required
@require_POST
def typing(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The composer's heartbeat while the agent types ("Bob is replying")."""
    conversation = get_conversation_for_user(request.user, pk)
    presence.typing(conversation_id=conversation.pk, user_id=_user_id(request), name=_display_name(request.user))
    return HttpResponse(status=204)


STATUS_DONE_MESSAGES = {
    ConversationStatus.DONE: _("Conversation with %(name)s marked done."),
    ConversationStatus.PENDING: _("Conversation with %(name)s is pending: waiting for the customer."),
    ConversationStatus.SNOOZED: _("Conversation with %(name)s snoozed until %(until)s."),
    ConversationStatus.SPAM: _("Conversation with %(name)s marked as spam."),
    ConversationStatus.OPEN: _("Conversation with %(name)s reopened."),
}


def _from_queue(request: HtmxHttpRequest) -> bool:
    return request.POST.get("from") == "queue"


def _after_queue_action(request: HtmxHttpRequest, text: str) -> HttpResponse:
    if request.htmx:
        # The queue refreshes its rows itself, through its scoped view.
        response = HttpResponse(status=204)
        trigger_client_event(response, "inbox:changed")
        trigger_client_event(response, "inbox:notice", {"text": text})
        return response
    messages.success(request, text)
    return redirect("inbox:queue")


@inbox_login_required
@require_POST
def set_status(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    conversation = get_conversation_for_user(request.user, pk)
    form = StatusForm(request.POST, page=conversation.page)
    if not form.is_valid():
        error = " ".join(str(e) for errors in form.errors.values() for e in errors)
        if _from_queue(request):
            return _after_queue_action(request, error)
        if request.htmx:
            return _refreshed(request, conversation, notice=error)
        messages.error(request, error)
        return redirect("inbox:conversation", pk=conversation.pk)
    status = form.cleaned_data["status"]
    until = form.cleaned_data["snoozed_until"]
    services.set_status(conversation=conversation, status=status, actor=request.user, snoozed_until=until)
    name = conversation.contact.display_name if conversation.contact else _("an unknown contact")
    text = STATUS_DONE_MESSAGES[status] % {
        "name": name,
        "until": until and date_format(timezone.localtime(until, _zone(conversation.page)), "DATETIME_FORMAT"),
    }
    if _from_queue(request):
        return _after_queue_action(request, text)
    if status == ConversationStatus.OPEN:
        return _refreshed(request, conversation, notice=text) if request.htmx else redirect(
            "inbox:conversation", pk=conversation.pk)
    # Done with this one: back to the queue, where the next one waits.
    messages.success(request, text)
    if request.htmx:
        return HttpResponseClientRedirect(reverse("inbox:queue"))
    return redirect("inbox:queue")


def _zone(page: Page) -> ZoneInfo:
    return ZoneInfo(page.timezone)


@inbox_login_required
@require_POST
def assign(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    conversation = get_conversation_for_user(request.user, pk)
    form = AssignForm(request.POST, user=request.user, members=selectors.members_of(conversation.page))
    if not form.is_valid():
        error = " ".join(str(e) for errors in form.errors.values() for e in errors)
        if _from_queue(request):
            return _after_queue_action(request, error)
        return _refreshed(request, conversation, notice=error) if request.htmx else redirect(
            "inbox:conversation", pk=conversation.pk)
    assignee = form.cleaned_data["assignee"]
    services.assign_conversation(conversation=conversation, assignee=assignee, actor=request.user)
    name = conversation.contact.display_name if conversation.contact else _("an unknown contact")
    if assignee is None:
        text = _("Conversation with %(name)s is unassigned.") % {"name": name}
    elif assignee.pk == request.user.pk:
        text = _("Conversation with %(name)s is now yours.") % {"name": name}
    else:
        text = _("Conversation with %(name)s assigned to %(agent)s.") % {
            "name": name, "agent": _display_name(assignee)}
    if _from_queue(request):
        return _after_queue_action(request, text)
    if request.htmx:
        return _refreshed(request, conversation, notice=text)
    messages.success(request, text)
    return redirect("inbox:conversation", pk=conversation.pk)


@inbox_login_required
@require_POST
def retry(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    message = get_message_for_user(request.user, pk)
    # "Send again anyway": the agent checked on Facebook that a reply which
    # may have gone out did not.
    confirmed = request.POST.get("confirmed") == "1"
    try:
        retried = services.retry_send(message=message, actor=request.user, confirmed=confirmed)
    except SendRefused as refusal:
        notice = refusal.reason
    else:
        notice = _("Sending again…") if retried else _("This reply is no longer waiting for a retry.")
    if request.htmx:
        return _refreshed(request, message.conversation, notice=notice)
    messages.info(request, notice)
    return redirect("inbox:conversation", pk=message.conversation_id)


@inbox_login_required
@require_POST
def hide(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    message = get_message_for_user(request.user, pk)
    form = HideForm(request.POST)
    form.is_valid()
    hidden = bool(form.cleaned_data.get("hidden"))
    try:
        services.hide_comment(comment=message, actor=request.user, hidden=hidden,
                              reason=form.cleaned_data.get("reason") or "")
    except SendRefused as refusal:
        notice = refusal.reason
    else:
        notice = _("Hiding the comment on Facebook…") if hidden else _("Showing the comment again on Facebook…")
    if request.htmx:
        return _refreshed(request, message.conversation, notice=notice)
    messages.info(request, notice)
    return redirect("inbox:conversation", pk=message.conversation_id)

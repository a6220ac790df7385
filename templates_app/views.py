"""Saved replies: the management pages (list, create, edit, archive,
duplicate, import, export, live preview) and the composer's endpoints (the
``/`` picker, inserting one, the live guidance).

Each view: access helper (404 for anything outside the user's Pages) → form
→ one service or selector call → render or redirect.
"""

from __future__ import annotations

import re
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST
from django_htmx.middleware import HtmxDetails

from inbox.access import get_conversation_for_user, get_page_for_user, pages_for
from inbox.models import Channel, Message

from . import guidance as rules
from . import rendering, selectors, services
from .access import get_saved_reply_for_user, get_scope_for_user
from .forms import PERSONAL, GuidanceSettingsForm, ImportForm, PreviewForm, SavedReplyForm
from .selectors import Scope

# The sample contact the editor's preview renders for.
SAMPLE_CONTACT_FIRST_NAME = "Camille"
SEARCH_MAX_LENGTH = 100
# A draft that is only "/hor": the agent is choosing a saved reply.
SLASH_QUERY = re.compile(r"/[\w-]*")


def _list_url(scope: Scope) -> str:
    if scope.page is None:
        return reverse("templates_app:personal_list")
    return reverse("templates_app:page_list", args=[scope.page.pk])


# --- The list -----------------------------------------------------------------------


@login_required
def index(request: HttpRequest) -> HttpResponse:
    page = pages_for(request.user).order_by("name").first()
    if page is None:
        return redirect("templates_app:personal_list")
    return redirect("templates_app:page_list", page.pk)


@login_required
@require_GET
def page_list(request: HttpRequest, page_id: int) -> HttpResponse:
    return _list(request, get_scope_for_user(request.user, page_id=page_id))  # type: ignore[arg-type]


@login_required
@require_GET
def personal_list(request: HttpRequest) -> HttpResponse:
    return _list(request, get_scope_for_user(request.user, page_id=None))  # type: ignore[arg-type]


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _list(request: HtmxHttpRequest, scope: Scope) -> HttpResponse:
    status = request.GET.get("status", "live")
    if status not in ("live", "stale", "archived"):
        status = "live"
    search = request.GET.get("q", "").replace("\x00", "").strip()[:SEARCH_MAX_LENGTH]
    try:
        result = selectors.saved_reply_list(
            scope=scope, search=search, status=status, after=request.GET.get("after") or None  # type: ignore[arg-type]
        )
    except ValueError:
        raise Http404("bad cursor") from None
    context: dict[str, Any] = {
        "scope": scope,
        "rows": result.rows,
        "next_cursor": result.next_cursor,
        "status": status,
        "q": search,
        "list_url": _list_url(scope),
        "nav": "saved_replies",
    }
    if request.htmx and request.GET.get("after"):
        return render(request, "templates_app/list.html#rows", context)
    context["counts"] = selectors.counts(scope=scope)
    if request.htmx and request.htmx.target == "saved-reply-results":
        return render(request, "templates_app/list.html#results", context)
    context["pages"] = list(pages_for(request.user).order_by("name"))
    return render(request, "templates_app/list.html", context)


# --- Create, edit, archive, restore, duplicate ------------------------------------------


def _form_page(request: HttpRequest, form: SavedReplyForm, *, scope: Scope, saved_reply: Any = None) -> HttpResponse:
    preview_page = scope.page or pages_for(request.user).order_by("name").first()
    preview_text, problems = "", list[str]()
    body = form["body"].value() or ""
    if body:
        preview_text, problems = services.preview(
            body=body, page=preview_page, agent=request.user,
            language=form["language"].value() or "fr", contact_first=SAMPLE_CONTACT_FIRST_NAME,
        )
    return render(
        request,
        "templates_app/form.html",
        {
            "form": form,
            "scope": scope,
            "saved_reply": saved_reply,
            "list_url": _list_url(scope),
            "variables": rendering.VARIABLES,
            "preview_text": preview_text,
            "problems": problems,
            "length": len(preview_text),
            "too_long_limit": rules.TOO_LONG_LIMIT,
            "sample_name": SAMPLE_CONTACT_FIRST_NAME,
            "nav": "saved_replies",
        },
        status=400 if form.is_bound and form.errors else 200,
    )


@login_required
def create_for_page(request: HttpRequest, page_id: int) -> HttpResponse:
    return _create(request, get_scope_for_user(request.user, page_id=page_id, manage=True))


@login_required
def create_personal(request: HttpRequest) -> HttpResponse:
    return _create(request, get_scope_for_user(request.user, page_id=None, manage=True))


def _create(request: HttpRequest, scope: Scope) -> HttpResponse:
    if request.method == "POST":
        form = SavedReplyForm(request.POST, user=request.user)
        if form.is_valid():
            try:
                saved_reply = services.create_saved_reply(
                    actor=request.user, scope=form.cleaned_data["scope_obj"], data=form.cleaned_data["reply"]
                )
            except services.SavedReplyRefused as refused:
                _add_errors(form, refused)
            else:
                messages.success(request, _("Saved reply /%(shortcut)s created.") % {"shortcut": saved_reply.shortcut})
                return redirect(_list_url(form.cleaned_data["scope_obj"]))
    else:
        language = scope.page.language if scope.page else (request.LANGUAGE_CODE or "fr")
        form = SavedReplyForm(
            user=request.user,
            initial={"scope": str(scope.page.pk) if scope.page else PERSONAL, "language": language},
        )
    return _form_page(request, form, scope=scope)


def _add_errors(form: SavedReplyForm, refused: services.SavedReplyRefused) -> None:
    for name, problems in refused.errors.items():
        for problem in problems:
            form.add_error(name if name in form.fields else None, problem)


@login_required
def edit(request: HttpRequest, pk: int) -> HttpResponse:
    saved_reply, scope = get_saved_reply_for_user(request.user, pk, manage=True)
    if request.method == "POST":
        form = SavedReplyForm(request.POST, user=request.user, instance=saved_reply)
        if form.is_valid():
            try:
                services.update_saved_reply(
                    saved_reply=saved_reply, actor=request.user, scope=form.cleaned_data["scope_obj"],
                    data=form.cleaned_data["reply"],
                )
            except services.SavedReplyRefused as refused:
                _add_errors(form, refused)
            else:
                messages.success(request, _("Saved reply /%(shortcut)s saved.") % {"shortcut": saved_reply.shortcut})
                return redirect(_list_url(form.cleaned_data["scope_obj"]))
    else:
        form = SavedReplyForm(
            user=request.user,
            instance=saved_reply,
            initial={
                "title": saved_reply.title, "shortcut": saved_reply.shortcut, "body": saved_reply.body,
                "language": saved_reply.language, "tags": saved_reply.tags,
                "scope": str(saved_reply.page_id) if saved_reply.page_id else PERSONAL,
            },
        )
    return _form_page(request, form, scope=scope, saved_reply=saved_reply)


@login_required
@require_POST
def archive(request: HttpRequest, pk: int) -> HttpResponse:
    saved_reply, scope = get_saved_reply_for_user(request.user, pk, manage=True)
    services.archive_saved_reply(saved_reply=saved_reply, actor=request.user)
    messages.success(
        request, _("/%(shortcut)s archived: it no longer appears in the picker.") % {"shortcut": saved_reply.shortcut}
    )
    return redirect(_back(request, scope))


@login_required
@require_POST
def restore(request: HttpRequest, pk: int) -> HttpResponse:
    saved_reply, scope = get_saved_reply_for_user(request.user, pk, manage=True)
    try:
        services.restore_saved_reply(saved_reply=saved_reply, actor=request.user)
    except services.SavedReplyRefused as refused:
        messages.error(request, str(refused))
    else:
        messages.success(request, _("/%(shortcut)s restored.") % {"shortcut": saved_reply.shortcut})
    return redirect(_back(request, scope))


@login_required
@require_POST
def duplicate(request: HttpRequest, pk: int) -> HttpResponse:
    """A copy to adapt: in the same scope when the user manages it, else
    among their personal saved replies."""
    saved_reply, scope = get_saved_reply_for_user(request.user, pk)
    target = scope if scope.can_manage else get_scope_for_user(request.user, page_id=None)
    try:
        copy = services.duplicate_saved_reply(saved_reply=saved_reply, actor=request.user, scope=target)
    except services.SavedReplyRefused as refused:
        messages.error(request, str(refused))
        return redirect(_back(request, scope))
    messages.success(request, _("Copy created as /%(shortcut)s: adapt it, then save.") % {"shortcut": copy.shortcut})
    return redirect("templates_app:edit", copy.pk)


def _back(request: HttpRequest, scope: Scope) -> str:
    """Back to the list the action came from (its filters kept), never
    anywhere else."""
    back = request.POST.get("next", "")
    base = _list_url(scope)
    return back if back.startswith(base) and "//" not in back else base


# --- Live preview -----------------------------------------------------------------------


@login_required
@require_POST
def preview(request: HttpRequest) -> HttpResponse:
    form = PreviewForm(request.POST)
    if not form.is_valid():
        return HttpResponse(status=400)
    raw_scope = form.cleaned_data["scope"]
    pages = pages_for(request.user)
    page = get_object_or_404(pages, pk=raw_scope) if raw_scope.isdigit() else pages.order_by("name").first()
    body = form.cleaned_data["body"]
    text, problems = services.preview(
        body=body, page=page, agent=request.user, language=form.cleaned_data["language"] or "fr",
        contact_first=SAMPLE_CONTACT_FIRST_NAME,
    )
    return render(
        request,
        "templates_app/_preview.html",
        {
            "preview_text": text, "problems": problems, "length": len(text),
            "too_long_limit": rules.TOO_LONG_LIMIT, "sample_name": SAMPLE_CONTACT_FIRST_NAME,
        },
    )


# --- CSV import and export -------------------------------------------------------------


@login_required
def import_for_page(request: HttpRequest, page_id: int) -> HttpResponse:
    return _import(request, get_scope_for_user(request.user, page_id=page_id, manage=True))


@login_required
def import_personal(request: HttpRequest) -> HttpResponse:
    return _import(request, get_scope_for_user(request.user, page_id=None, manage=True))


def _import(request: HttpRequest, scope: Scope) -> HttpResponse:
    errors: list[str] = []
    if request.method == "POST":
        form = ImportForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                records = services.parse_csv(form.cleaned_data["file"])
                result = services.import_saved_replies(
                    scope=scope, actor=request.user, records=records, default_language=form.cleaned_data["language"]
                )
            except services.ImportRefused as refused:
                errors = refused.errors
            else:
                messages.success(
                    request,
                    _("Import done: %(created)s created, %(updated)s updated.")
                    % {"created": result.created, "updated": result.updated},
                )
                return redirect(_list_url(scope))
    else:
        form = ImportForm(initial={"language": scope.page.language if scope.page else "fr"})
    return render(
        request,
        "templates_app/import.html",
        {"form": form, "scope": scope, "errors": errors, "list_url": _list_url(scope), "nav": "saved_replies",
         "columns": services.CSV_COLUMNS},
        status=400 if errors or form.errors else 200,
    )


@login_required
@require_GET
def export_for_page(request: HttpRequest, page_id: int) -> HttpResponse:
    return _export(request, get_scope_for_user(request.user, page_id=page_id, manage=True))


@login_required
@require_GET
def export_personal(request: HttpRequest) -> HttpResponse:
    return _export(request, get_scope_for_user(request.user, page_id=None, manage=True))


def _export(request: HttpRequest, scope: Scope) -> HttpResponse:
    content = services.export_csv(scope=scope, actor=request.user)
    name = "personal" if scope.page is None else scope.page.meta_page_id
    response = HttpResponse(content.encode("utf-8"), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="saved-replies-{name}-{timezone.localdate():%Y-%m-%d}.csv"'
    )
    return response


# --- A Page's composer thresholds ---------------------------------------------------------


@login_required
def guidance_settings(request: HttpRequest, page_id: int) -> HttpResponse:
    scope = get_scope_for_user(request.user, page_id=page_id, manage=True)
    page = get_page_for_user(request.user, pk=page_id)
    if request.method == "POST":
        form = GuidanceSettingsForm(request.POST)
        if form.is_valid():
            services.update_guidance_settings(page=page, actor=request.user, **form.cleaned_data)
            messages.success(request, _("Composer guidance for %(page)s saved.") % {"page": page.name})
            return redirect(_list_url(scope))
    else:
        form = GuidanceSettingsForm(initial={
            "hot_template_threshold": page.hot_template_threshold,
            "agent_reliance_percent": page.agent_reliance_permille // 10,
            "public_repeat_threshold": page.public_repeat_threshold,
            "signature_required": page.signature_required,
            "order_number_pattern": page.order_number_pattern,
        })
    return render(
        request, "templates_app/guidance_settings.html",
        {"form": form, "scope": scope, "page": page, "list_url": _list_url(scope), "nav": "saved_replies"},
        status=400 if form.is_bound and form.errors else 200,
    )


# --- The composer ------------------------------------------------------------------------


@login_required
@require_GET
def picker(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = get_conversation_for_user(request.user, conversation_id)
    # NUL cannot reach PostgreSQL (a 500, found by tests/test_access_sweep.py).
    query = request.GET.get("q", "").replace("\x00", "")[:SEARCH_MAX_LENGTH]
    entries = selectors.picker(
        page=conversation.page,
        agent=request.user,
        query=query,
        contact_language=conversation.contact.language if conversation.contact else "",
    )
    return render(
        request,
        "templates_app/_picker.html",
        {"entries": entries, "query": selectors.normalize_query(query), "conversation": conversation},
    )


@login_required
@require_GET
def insert(request: HttpRequest, conversation_id: int, pk: int) -> HttpResponse:
    """The saved reply rendered for this conversation, as JSON the composer
    puts in its textarea (plain text: never HTML)."""
    conversation = get_conversation_for_user(request.user, conversation_id)
    saved_reply = selectors.saved_reply_for_conversation(
        saved_reply_id=pk, conversation=conversation, agent=request.user
    )
    if saved_reply is None or saved_reply.archived_at is not None:
        raise Http404("no such saved reply here")
    text, cursor = selectors.rendered_for_conversation(
        saved_reply=saved_reply, conversation=conversation, agent=request.user
    )
    return JsonResponse({"id": saved_reply.pk, "text": text, "cursor": cursor, "title": saved_reply.title})


@login_required
@require_POST
def guidance(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """The composer's warnings for the draft being typed (debounced)."""
    conversation = get_conversation_for_user(request.user, conversation_id)
    channel = request.POST.get("channel") or selectors.default_channel(conversation)
    comment = None
    if request.POST.get("comment", "").isdigit():
        comment = Message.objects.filter(
            conversation=conversation, pk=int(request.POST["comment"]), channel=Channel.COMMENT
        ).first()
    raw_id = request.POST.get("saved_reply_id", "")
    text = request.POST.get("text", "")[: rules.MAX_TEXT_LENGTH * 4]
    if SLASH_QUERY.fullmatch(text.strip()):
        text = ""  # still choosing in the picker: nothing to judge yet
    warnings = services.composer_warnings(
        conversation=conversation,
        agent=request.user,
        text=text,
        saved_reply_id=int(raw_id) if raw_id.isdigit() else None,
        channel=channel,
        comment=comment,
    )
    return render(request, "templates_app/_warnings.html", {"warnings": warnings})

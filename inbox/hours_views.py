"""A Page's settings (admins) and the away switch (any member).

Each view: access helper (404 for anything outside the user's Pages, and for
agents on settings) → form → one service call → the section re-rendered
(htmx) or a redirect back to the page. Sections that show the Page's state
right now come back out of band, so the status card follows every change.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST
from django_htmx.middleware import HtmxDetails

from . import hours_selectors
from .access import get_admin_page_for_user, get_page_for_user, role_on
from .forms_hours import (
    AwayForm,
    AwayMessageForm,
    ClosureForm,
    CopyDayForm,
    HolidaysForm,
    IntervalForm,
    PageSettingsForm,
    TimezoneForm,
)
from .models import Page, Role, person_name
from .services import away, hours, page_settings

SETTINGS = "hours/settings.html"


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails

VARIABLE_HELP = {
    "contact.first_name": gettext_lazy("the customer's first name, when Meta gives it"),
    "page.name": gettext_lazy("the Page's name"),
    "page.next_opening": gettext_lazy("when the Page opens next, in the message's language and the Page's time zone"),
}
ACTION_LABELS = {
    "timezone_changed": gettext_lazy("Time zone changed"),
    "opening_interval_added": gettext_lazy("Opening hours added"),
    "opening_interval_removed": gettext_lazy("Opening hours removed"),
    "opening_day_copied": gettext_lazy("Day copied to other days"),
    "hours_replaced": gettext_lazy("Hours replaced from the command line"),
    "closure_added": gettext_lazy("Closure date added"),
    "closure_removed": gettext_lazy("Closure date removed"),
    "french_holidays_added": gettext_lazy("Public holidays added"),
    "away_started": gettext_lazy("Away switched on"),
    "away_ended": gettext_lazy("Away switched off"),
    "away_message_saved": gettext_lazy("Away message saved"),
    "page_settings_changed": gettext_lazy("Settings changed"),
}


def _zone(page: Page) -> ZoneInfo:
    return ZoneInfo(page.timezone)


def _preview_opening(page: Page, now: datetime) -> datetime | None:
    """The next opening a customer writing at the next closed moment would read."""
    schedule = hours.schedule_for(page)
    closed_from = now if not schedule.is_available(now) else schedule.next_closing(now)
    return None if closed_from is None else schedule.next_opening(closed_from)


def _context(request: HtmxHttpRequest, page: Page, **extra: Any) -> dict[str, Any]:
    now = timezone.now()
    today = now.astimezone(_zone(page)).date()
    saved_messages = hours_selectors.away_messages(page)
    preview_opening = _preview_opening(page, now)
    away_forms = []
    for code, name in PageSettingsForm.base_fields["language"].choices:  # type: ignore[attr-defined]
        saved = saved_messages.get(code)
        form = extra.pop(f"away_form_{code}", None) or AwayMessageForm(
            initial={
                "body": saved.body if saved else away.SUGGESTED_BODIES.get(code, ""),
                "enabled": saved.enabled if saved else False,
            },
            prefix=f"away-{code}",
        )
        body = form.data.get(f"away-{code}-body") if form.is_bound else form.initial.get("body", "")
        away_forms.append({
            "code": code,
            "name": name,
            "form": form,
            "saved": saved,
            "error": _first_error(form) if form.is_bound and form.errors else "",
            "preview": away.render_away_message(
                body or "", page=page, contact=None, language=code,
                next_opening=preview_opening, now=now,
            ),
        })
    week = hours_selectors.week(page)
    context: dict[str, Any] = {
        "page": page,
        "nav": "settings",
        "admin_pages": hours_selectors.admin_pages(request.user),
        "status": hours_selectors.page_availability(page, is_admin=True, now=now),
        "week": week,
        # No hours at all: DOMAIN.md's "always available", not seven closed days.
        "always_open": not any(day.intervals for day in week),
        "closures": hours_selectors.closures(page, today=today),
        "holiday_years": [today.year, today.year + 1],
        "holidays_missing": {
            year: hours.french_holidays_to_add(page=page, year=year) for year in (today.year, today.year + 1)
        },
        "timezone_form": TimezoneForm(initial={"timezone": page.timezone}),
        "general_form": PageSettingsForm(initial=PageSettingsForm.initial_for(page)),
        "closure_form": ClosureForm(page=page, today=today),
        "away_form": AwayForm(page=page, now=now),
        "away_forms": away_forms,
        "variables": [
            (away.placeholder(name), VARIABLE_HELP[name]) for name in away.VARIABLES
        ],
        "changes": [
            (row, ACTION_LABELS.get(row.action, row.action),
             person_name(row.actor.first_name, row.actor.username) if row.actor else _("command line"))
            for row in hours_selectors.recent_changes(page)
        ],
        "day_errors": {},
        "day_values": {},
        "times": [f"{minute // 60:02d}:{minute % 60:02d}" for minute in range(0, 1441, 30)],
        "today": today,
    }
    context.update(extra)
    return context


def _sections(request: HtmxHttpRequest, page: Page, main: str, *, also: tuple[str, ...] = ("now",),
              **extra: Any) -> HttpResponse:
    """One settings section for htmx, and the sections it affects out of band."""
    context = _context(request, page, **extra)
    html = render_to_string(f"{SETTINGS}#{main}", context, request=request)
    for name in also:
        html += render_to_string(f"{SETTINGS}#{name}", {**context, "oob": True}, request=request)
    return HttpResponse(html)


def _done(request: HtmxHttpRequest, page: Page, section: str, text: str, **extra: Any) -> HttpResponse:
    if request.htmx:
        return _sections(request, page, section, **extra)
    messages.success(request, text)
    return redirect(f"{reverse('inbox:page_settings', args=[page.pk])}#{section}")


def _refused(request: HtmxHttpRequest, page: Page, section: str, text: str, **extra: Any) -> HttpResponse:
    if request.htmx:
        return _sections(request, page, section, also=(), **extra)
    messages.error(request, text)
    return render(request, SETTINGS, _context(request, page, **extra), status=400)


def _first_error(form: Any) -> str:
    for errors in form.errors.values():
        return str(errors[0])
    return _("Check the form.")


# --- Pages ----------------------------------------------------------------------------


@login_required
@require_GET
def settings_index(request: HtmxHttpRequest) -> HttpResponse:
    pages = list(hours_selectors.admin_pages(request.user))
    if not pages:
        raise Http404("not an admin of any Page")
    if len(pages) == 1:
        return redirect("inbox:page_settings", page_id=pages[0].pk)
    return render(request, "hours/settings_index.html", {"pages": pages, "nav": "settings"})


@login_required
@require_GET
def page_settings_view(request: HtmxHttpRequest, page_id: int) -> HttpResponse:
    page = get_admin_page_for_user(request.user, pk=page_id)
    return render(request, SETTINGS, _context(request, page))


@login_required
@require_POST
def general_update(request: HtmxHttpRequest, page_id: int) -> HttpResponse:
    page = get_admin_page_for_user(request.user, pk=page_id)
    form = PageSettingsForm(request.POST)
    if not form.is_valid():
        return _refused(request, page, "general", _first_error(form), general_form=form)
    page_settings.update_page_settings(page=page, actor=request.user, **form.values(page))
    return _done(request, page, "general", _("Settings saved."), also=(), general_saved=True)


@login_required
@require_POST
def timezone_update(request: HtmxHttpRequest, page_id: int) -> HttpResponse:
    page = get_admin_page_for_user(request.user, pk=page_id)
    form = TimezoneForm(request.POST)
    if not form.is_valid():
        return _refused(request, page, "hours", _first_error(form), timezone_form=form)
    hours.set_timezone(page=page, tz=form.cleaned_data["timezone"], actor=request.user)
    return _done(request, page, "hours", _("Time zone saved."), also=("now", "topbar", "previews", "changes"))


@login_required
@require_POST
def interval_add(request: HtmxHttpRequest, page_id: int) -> HttpResponse:
    page = get_admin_page_for_user(request.user, pk=page_id)
    form = IntervalForm(request.POST, page=page)
    if not form.is_valid():
        weekday = _int(request.POST.get("weekday"))
        return _refused(
            request, page, "hours", _first_error(form),
            day_errors={weekday: _first_error(form)},
            day_values={weekday: {"start": request.POST.get("start", ""), "end": request.POST.get("end", "")}},
        )
    data = form.cleaned_data
    try:
        hours.add_interval(page=page, weekday=data["weekday"], start=data["start"], end=data["end"],
                           actor=request.user)
    except hours.HoursRefused as refusal:  # a concurrent change made it overlap
        return _refused(request, page, "hours", str(refusal), day_errors={data["weekday"]: str(refusal)})
    return _done(request, page, "hours", _("Opening hours saved."), also=("now", "topbar", "previews", "changes"))


@login_required
@require_POST
def interval_remove(request: HtmxHttpRequest, page_id: int, interval_id: int) -> HttpResponse:
    page = get_admin_page_for_user(request.user, pk=page_id)
    if not hours.remove_interval(page=page, interval_id=interval_id, actor=request.user):
        raise Http404("no such interval on this Page")
    return _done(request, page, "hours", _("Opening hours saved."), also=("now", "topbar", "previews", "changes"))


@login_required
@require_POST
def day_copy(request: HtmxHttpRequest, page_id: int) -> HttpResponse:
    page = get_admin_page_for_user(request.user, pk=page_id)
    form = CopyDayForm(request.POST)
    if not form.is_valid():
        weekday = _int(request.POST.get("weekday"))
        return _refused(request, page, "hours", _first_error(form), copy_errors={weekday: _first_error(form)})
    hours.copy_day(page=page, weekday=form.cleaned_data["weekday"], to_weekdays=form.cleaned_data["to"],
                   actor=request.user)
    return _done(request, page, "hours", _("Opening hours saved."), also=("now", "topbar", "previews", "changes"))


@login_required
@require_POST
def closure_add(request: HtmxHttpRequest, page_id: int) -> HttpResponse:
    page = get_admin_page_for_user(request.user, pk=page_id)
    today = timezone.now().astimezone(_zone(page)).date()
    form = ClosureForm(request.POST, page=page, today=today)
    if not form.is_valid():
        return _refused(request, page, "closures", _first_error(form), closure_form=form)
    data = form.cleaned_data
    try:
        hours.add_closure(page=page, day=data["day"], yearly=data["yearly"], label=data["label"],
                          actor=request.user)
    except hours.HoursRefused as refusal:
        form.add_error("day", str(refusal))
        return _refused(request, page, "closures", str(refusal), closure_form=form)
    return _done(request, page, "closures", _("Closure date added."), also=("now", "topbar", "previews", "changes"))


@login_required
@require_POST
def closure_remove(request: HtmxHttpRequest, page_id: int, closure_id: int) -> HttpResponse:
    page = get_admin_page_for_user(request.user, pk=page_id)
    if not hours.remove_closure(page=page, closure_id=closure_id, actor=request.user):
        raise Http404("no such closure on this Page")
    return _done(request, page, "closures", _("Closure date removed."), also=("now", "topbar", "previews", "changes"))


@login_required
@require_POST
def holidays_add(request: HtmxHttpRequest, page_id: int) -> HttpResponse:
    page = get_admin_page_for_user(request.user, pk=page_id)
    today = timezone.now().astimezone(_zone(page)).date()
    form = HolidaysForm(request.POST, today=today)
    if not form.is_valid():
        return _refused(request, page, "closures", _first_error(form))
    added = hours.add_french_public_holidays(page=page, year=form.cleaned_data["year"], actor=request.user)
    return _done(request, page, "closures", _("%(count)s public holidays added.") % {"count": added},
                 also=("now", "topbar", "previews", "changes"))


@login_required
@require_POST
def away_message_save(request: HtmxHttpRequest, page_id: int, language: str) -> HttpResponse:
    page = get_admin_page_for_user(request.user, pk=page_id)
    if language not in dict(PageSettingsForm.base_fields["language"].choices):  # type: ignore[attr-defined]
        raise Http404("no such language")
    form = AwayMessageForm(request.POST, prefix=f"away-{language}")
    if not form.is_valid():
        return _refused(request, page, "away_messages", _first_error(form), **{f"away_form_{language}": form})
    away.save_away_message(page=page, language=language, body=form.cleaned_data["body"],
                           enabled=form.cleaned_data["enabled"], actor=request.user)
    return _done(request, page, "away_messages", _("Away message saved."), also=("changes",),
                 saved_language=language)


# --- The away switch: any member of the Page ------------------------------------------


@login_required
@require_POST
def away_switch(request: HtmxHttpRequest, page_id: int) -> HttpResponse:
    page = get_page_for_user(request.user, pk=page_id)
    now = timezone.now()
    form = AwayForm(request.POST, page=page, now=now)
    error = None
    if not form.is_valid():
        error = _first_error(form)
    elif form.cleaned_data["action"] == "start":
        try:
            hours.start_away(page=page, actor=request.user, until=form.cleaned_data["until_at"], now=now)
        except hours.HoursRefused as refusal:
            error = str(refusal)
    else:
        hours.end_away(page=page, actor=request.user, now=now)
    from_settings = request.POST.get("from") == "settings" and role_on(request.user, page) == Role.ADMIN
    if request.htmx:
        if from_settings:
            return _sections(request, page, "now", also=("topbar", "previews", "changes") if error is None else (),
                             away_error=error)
        return render(request, "hours/_inbox_header.html", {"away_errors": {page.pk: error} if error else {}})
    if error:
        messages.error(request, error)
    # Back to the page the switch was on: a path of this site, nothing else.
    # (Never through redirect(), which would read "0" or "x" as a view name.)
    next_url = request.POST.get("next", "")
    if not next_url.startswith("/") or not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = reverse("inbox:queue")
    return HttpResponseRedirect(next_url)


@login_required
@require_GET
def inbox_header(request: HtmxHttpRequest) -> HttpResponse:
    """The inbox header alone, for its periodic refresh."""
    return render(request, "hours/_inbox_header.html")


def _int(value: str | None) -> int | None:
    try:
        return int(value or "")
    except ValueError:
        return None

"""The responsiveness dashboard, its CSV export and the live SLA banner.

Members only: a Page the user does not belong to is a 404 (inbox.access).
Reads come from inbox.dashboard; the one write (logging an export) goes
through services.exports.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.safestring import SafeString
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails

from . import charts, dashboard, fragments
from . import responsiveness as rules
from .access import get_page_among, get_page_for_user, pages_for
from .hours_selectors import HoursStatus
from .models import ConversationKind, Page
from .services import exports

# The dashboard remembers the last Page looked at, per session: in the
# cache, keyed by the session, not in the session itself, which is written to
# the database whenever it changes (cached_db), and going from Page to Page is
# what the dashboard is for. A lost key only sends /dashboard/ to the first Page.
REMEMBERED_PAGE = "dashboard-page:{session}"


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


class WindowForm(forms.Form):
    kind = forms.ChoiceField(choices=ConversationKind.choices, required=False)
    days = forms.TypedChoiceField(
        choices=[(str(days), days) for days in dashboard.WINDOW_CHOICES], coerce=int, required=False
    )


def _window(request: HttpRequest, page: Page) -> tuple[str, int]:
    """The kind and window asked for; anything else falls back to the
    defaults (private messages, the Page's window) rather than an error."""
    form = WindowForm(request.GET)
    kind, days = ConversationKind.PRIVATE, page.window_days
    if form.is_valid():
        kind = form.cleaned_data["kind"] or kind
        days = form.cleaned_data["days"] or days
    if days not in dashboard.WINDOW_CHOICES:
        days = 7
    return kind, days


@login_required
def index(request: HttpRequest) -> HttpResponse:
    """/dashboard/: the Page asked for (the selector), the last one seen, or the first."""
    pages = list(pages_for(request.user).order_by("name").values_list("pk", flat=True))
    if not pages:
        return render(request, "dashboard/empty.html", {"nav": "dashboard"})
    wanted = request.GET.get("page", "")
    remembered = _remembered_page(request)
    if wanted.isdigit() and int(wanted) in pages:
        chosen = int(wanted)
    elif remembered in pages:
        chosen = remembered
    else:
        chosen = pages[0]
    query = {key: request.GET[key] for key in ("kind", "days") if request.GET.get(key)}
    url = reverse("inbox:dashboard_page", args=[chosen])
    return redirect(f"{url}?{urlencode(query)}" if query else url)


def _remembered_page(request: HttpRequest) -> int | None:
    session = request.session.session_key
    return cache.get(REMEMBERED_PAGE.format(session=session)) if session else None


def _remember_page(request: HttpRequest, page: Page) -> None:
    """One cache write (no read first: a SET costs what a GET does)."""
    session = request.session.session_key
    if session:
        cache.set(REMEMBERED_PAGE.format(session=session), page.pk, timeout=settings.SESSION_COOKIE_AGE)


@dataclass(frozen=True)
class MissRow:
    """One line of the latest misses: every value its template reads, so the
    line is its own cache key (inbox.fragments)."""

    opened_at: datetime
    while_closed: bool  # the clock started at the next opening
    customer: str
    response_seconds: int | None
    answered_by: str  # the agent who closed it in Réactif, or ""
    closed: bool
    conversation_id: int


def _miss_rows(misses: list[dashboard.Miss], zone: str) -> list[SafeString]:
    """The misses' lines, each rendered once per distinct content, language
    and time zone (their times read in the Page's zone)."""
    rows = []
    with timezone.override(zone):
        for miss in misses:
            row = MissRow(
                opened_at=miss.opened_at,
                while_closed=miss.clock_start > miss.opened_at,
                customer=miss.customer,
                response_seconds=miss.response_seconds,
                answered_by=miss.answered_by,
                closed=miss.closed_at is not None,
                conversation_id=miss.conversation_id,
            )
            rows.append(fragments.fill(fragments.render("dashboard/page.html#miss", row=row)))
    return rows


def _trend_table(rows: list[charts.TrendRow]) -> list[SafeString]:
    """The trend's table, newest day first, each day's line rendered once per
    distinct content and language (past days' lines come back unchanged)."""
    return [fragments.fill(fragments.render("dashboard/page.html#trend_day", row=row)) for row in reversed(rows)]


def _context(
    request: HttpRequest, page: Page, kind: str, days: int, *, hours_status: HoursStatus
) -> dict[str, Any]:
    now = timezone.now()
    pages = hours_status.member_pages
    win, history = dashboard.window_and_history(page=page, kind=kind, days=days, now=now)
    trend_rows = charts.trend_rows(history.trend)
    misses = dashboard.recent_misses(win)
    return {
        "nav": "dashboard",
        # The layout's own (the context processor's is lazy and would read
        # the same memberships again).
        "hours_status": hours_status,
        "sla": dashboard.sla_status(user=request.user, now=now, pages=pages),
        "page": page,
        "pages": pages,
        "kind": kind,
        "days": days,
        "window_choices": dashboard.WINDOW_CHOICES,
        "kinds": ConversationKind.choices,
        "win": win,
        "figures": win.figures,
        "calendar": win.calendar,
        "standing": win.standing,
        "agents": dashboard.agents(win),
        "misses": misses,
        "miss_rows": _miss_rows(misses, page.timezone),
        "departures": dashboard.departures(win, misses=misses),
        "history": history,
        "gauge_svg": charts.gauge(win.figures.share_on_time, win.target_share),
        "trend_rows": trend_rows,
        "trend_table": _trend_table(trend_rows),
        "trend_svg": charts.trend(trend_rows, win.target_share),
        "heatmap_svg": charts.heatmap(history.heatmap),
        "heat_legend": charts.legend_items(),
        "weekdays": charts.weekday_names(),
        "meta_rate_target": rules.META_BADGE_RATE,
        "meta_time_target": rules.META_BADGE_TIME_SECONDS,
        "query": urlencode({"kind": kind, "days": str(days)}),
    }


@login_required
def page_dashboard(request: HtmxHttpRequest, page_id: int) -> HttpResponse:
    # The user's Pages, read once for the access check, the Page selector, the
    # SLA banner and the layout's topbar (its memberships, by Page name).
    hours_status = HoursStatus(request.user)
    pages = hours_status.member_pages
    page = get_page_among(pages, pk=page_id)
    kind, days = _window(request, page)
    _remember_page(request, page)
    template = "dashboard/page.html#body" if request.htmx and not request.htmx.boosted else "dashboard/page.html"
    return render(request, template, _context(request, page, kind, days, hours_status=hours_status))


def _csv_cell(value: Any) -> Any:
    """Spreadsheets run cells that start with = + - @ as formulas: a customer's
    name must never do that (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


class _Echo:
    def write(self, value: str) -> str:
        return value


def _local(instant: datetime | None, zone: Any) -> str:
    return "" if instant is None else instant.astimezone(zone).isoformat(timespec="seconds")


@login_required
def export_csv(request: HttpRequest, page_id: int) -> StreamingHttpResponse:
    """Every response opportunity of the window, one row each, streamed."""
    page = get_page_for_user(request.user, pk=page_id)
    kind, days = _window(request, page)
    now = timezone.now()
    exports.record_export(
        user=request.user, page=page, what="responsiveness", kind=kind, days=days,
        ip_address=request.META.get("REMOTE_ADDR"),
    )
    zone = ZoneInfo(page.timezone)
    target = page.target_seconds(kind)
    base = request.build_absolute_uri("/")[:-1]
    # Excel in French reads ";" as the separator; in English, ",".
    writer = csv.writer(_Echo(), delimiter=";" if (get_language() or "").startswith("fr") else ",")

    def rows() -> Iterator[str]:
        yield "\ufeff"  # so that spreadsheets read UTF-8 (accented names)
        yield writer.writerow([
            _("Customer wrote at"), _("Clock started at"), _("Answered at"), _("Response time (s)"),
            _("Response time in calendar time (s)"), _("Status"), _("Starts a conversation (Meta)"),
            _("Customer"), _("Answered by"), _("Conversation"),
        ])
        for ro in dashboard.export_rows(page=page, kind=kind, days=days, now=now).iterator(chunk_size=1000):
            rule = rules.Opportunity(
                opened_by="", opened_at=ro.opened_at, clock_start=ro.clock_start, closed_by=None,
                closed_at=ro.closed_at, starts_conversation=ro.starts_conversation,
            )
            status = rule.status(now, target)
            calendar = None if ro.closed_at is None else int((ro.closed_at - ro.opened_at).total_seconds())
            contact = ro.conversation.contact
            yield writer.writerow([
                _local(ro.opened_at, zone), _local(ro.clock_start, zone), _local(ro.closed_at, zone),
                "" if ro.response_seconds is None else ro.response_seconds,
                "" if calendar is None else max(0, calendar),
                {"on_time": _("on time"), "missed": _("missed"), "pending": _("waiting")}[status],
                _("yes") if ro.starts_conversation else _("no"),
                _csv_cell(contact.display_name if contact else ""),
                _csv_cell(ro.responder.get_full_name() or ro.responder.get_username()) if ro.responder else "",
                base + reverse("inbox:conversation", args=[ro.conversation_id]),
            ])

    filename = f"reactif-{page.meta_page_id}-{kind}-{days}d-{now:%Y%m%d-%H%M}.csv"
    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def sla_banner(request: HtmxHttpRequest) -> HttpResponse:
    """The banner's poll: 204 while what it shows is unchanged."""
    if not request.user.is_authenticated:
        login = resolve_url(settings.LOGIN_URL)
        if request.htmx:
            back = request.htmx.current_url_abs_path or "/"
            return HttpResponseClientRedirect(f"{login}?{urlencode({'next': back})}")
        return redirect_to_login(request.get_full_path(), login)
    sla = dashboard.sla_status(user=request.user)
    if request.GET.get("fp") == sla.fingerprint:
        return HttpResponse(status=204)
    return render(request, "dashboard/_sla_banner.html", {"sla": sla})


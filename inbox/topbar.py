"""The layout's top bar (templates/_topbar.html), on every signed-in page:
rendered once per distinct content through inbox.fragments, as the queue's
rows are. `Topbar` holds every value the bar reads and nothing else (which
section is current, whether Settings shows, the user's name, the language,
the URLs); the CSRF token, the page's own address and the Pages'
open / closed / away pill (a fragment of its own) are slots filled per
response."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.template.backends.utils import csrf_input
from django.urls import get_script_prefix, reverse
from django.utils.safestring import SafeString

from . import fragments
from .models import person_name
from .templatetags.hours_tags import topbar_status


@dataclass(frozen=True, slots=True)
class Topbar:
    nav: str  # the current section: inbox, dashboard, saved_replies, settings or ""
    user_name: str
    language: str
    languages: tuple[str, ...]
    queue_url: str
    dashboard_url: str
    saved_replies_url: str
    settings_url: str  # "" for a user who administers no Page
    set_language_url: str
    logout_url: str


@lru_cache(maxsize=16)
def _urls(script_prefix: str) -> dict[str, str]:
    # reverse() is the same for every request under one script prefix.
    return {
        "queue_url": reverse("inbox:queue"),
        "dashboard_url": reverse("inbox:dashboard"),
        "saved_replies_url": reverse("templates_app:index"),
        "settings_url": reverse("inbox:settings"),
        "set_language_url": reverse("set_language"),
        "logout_url": reverse("logout"),
    }


def topbar_html(context: Any) -> SafeString:
    request = context["request"]
    user = context["user"]
    hours_status = context.get("hours_status")
    urls = _urls(get_script_prefix())
    is_admin = hours_status is not None and hours_status.is_admin_anywhere
    bar = Topbar(
        nav=str(context.get("nav") or ""),
        user_name=person_name(user.first_name, user.get_username()),
        language=fragments.active_language(),
        languages=tuple(code for code, _name in settings.LANGUAGES),
        queue_url=urls["queue_url"],
        dashboard_url=urls["dashboard_url"],
        saved_replies_url=urls["saved_replies_url"],
        settings_url=urls["settings_url"] if is_admin else "",
        set_language_url=urls["set_language_url"],
        logout_url=urls["logout_url"],
    )
    html = fragments.render("_topbar.html", bar=bar, csrf_input=fragments.slot("csrf"), next=fragments.slot("next"),
                            status=fragments.slot("status"))
    return fragments.fill(html, csrf=csrf_input(request), next=request.get_full_path(),
                          status=topbar_status(context, oob=context.get("oob", False)))

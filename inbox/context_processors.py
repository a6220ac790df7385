"""What every page's layout needs about business hours: the topbar status
(open / closed / away, next change) of the user's Pages, and whether to show
the Settings link (admins of at least one Page).

Lazy: HoursStatus queries the user's memberships only when a template reads
it, once per request, so pages that never show it pay nothing."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from .hours_selectors import HoursStatus


def availability(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None:
        return {}
    # request.user stays lazy too: nothing is read until a template asks.
    return {"hours_status": HoursStatus(user)}

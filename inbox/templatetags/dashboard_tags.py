"""Formatting for the dashboard's templates, and the SLA banner's state.

`sla_status` lets templates/dashboard/_sla_banner.html render itself wherever
it is included (the inbox queue includes it at its top): it reads the state
once per request, or takes the one the banner's own view already read.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from django import template

from .. import charts, dashboard

register = template.Library()


@register.simple_tag(takes_context=True)
def sla_status(context: template.Context) -> dashboard.SlaStatus | None:
    if context.get("sla") is not None:
        return context["sla"]
    request = context.get("request")
    if request is None or not request.user.is_authenticated:
        return None
    return dashboard.sla_status(user=request.user)


@register.filter
def percent(share: Fraction | None, decimals: int = 1) -> str:
    return charts.percent(share, decimals)


@register.filter
def duration(seconds: Any) -> str:
    return charts.duration(seconds)

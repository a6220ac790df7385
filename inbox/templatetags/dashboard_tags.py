"""Formatting for the dashboard's templates (inbox.charts does the work)."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from django import template

from .. import charts

register = template.Library()


@register.filter
def percent(share: Fraction | None, decimals: int = 1) -> str:
    return charts.percent(share, decimals)


@register.filter
def duration(seconds: Any) -> str:
    return charts.duration(seconds)

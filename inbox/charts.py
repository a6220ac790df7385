"""Server-side SVG charts for the dashboard: no chart library, no script.

Under our CSP (style-src 'self') an SVG may not carry style="" attributes,
but presentation attributes (fill, width, x…) are fine, and classes pick up
static/css/dashboard.css. Every label goes through gettext and Django's
localized formats, so the charts read the same in French and English; every
mark has a <title> (a tooltip, and what a screen reader announces), and the
templates add the same numbers as a table.

Nothing a customer wrote ever reaches a chart: labels are dates, numbers and
our own translated words, and all of it is escaped by format_html anyway.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import time
from fractions import Fraction
from functools import lru_cache

from django.utils import formats
from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .dashboard import TrendPoint
from .fragments import active_language
from .tallies import Cell


def percent(share: Fraction | None, decimals: int = 1) -> str:
    """A share as a percentage, rounded DOWN: 89.99 % shows as 89.9 %, never
    as a 90.0 % that the target test would contradict."""
    if share is None:
        return "\N{EN DASH}"
    scale = 10**decimals
    value = Fraction(math.floor(share * 100 * scale), scale)
    number = formats.number_format(float(value), decimal_pos=decimals if value.denominator != 1 else 0)
    return _("%(number)s%%") % {"number": number}


def duration(seconds: int | float | Fraction | None) -> str:
    """45 s, 4 min 10 s, 5 min, 1 h 05 min, 2 d 3 h: the two largest units,
    the second left out when it is zero."""
    if seconds is None:
        return "\N{EN DASH}"
    total = int(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        if not hours:
            return _("%(days)s d") % {"days": days}
        return _("%(days)s d %(hours)s h") % {"days": days, "hours": hours}
    if hours:
        if not minutes:
            return _("%(hours)s h") % {"hours": hours}
        return _("%(hours)s h %(minutes)02d min") % {"hours": hours, "minutes": minutes}
    if minutes:
        if not secs:
            return _("%(minutes)s min") % {"minutes": minutes}
        return _("%(minutes)s min %(seconds)02d s") % {"minutes": minutes, "seconds": secs}
    return _("%(seconds)s s") % {"seconds": secs}


def _joined(parts: Sequence[SafeString]) -> SafeString:
    """Pieces built by format_html, joined without marking anything safe by hand."""
    return format_html_join("", "{}", ((part,) for part in parts))


def _svg(width: int, height: int, label: str, body: SafeString, css_class: str) -> SafeString:
    return format_html(
        '<svg class="chart {}" viewBox="0 0 {} {}" role="img" aria-label="{}" '
        'xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMidYMid meet">{}</svg>',
        css_class, width, height, label, body,
    )


# ---------------------------------------------------------------------------


def gauge(share: Fraction | None, target: Fraction, *, width: int = 360, height: int = 30) -> SafeString:
    """The share on time as a bar against the target's line."""
    inner = width - 2
    parts = [format_html('<rect class="gauge-track" x="1" y="6" width="{}" height="14" rx="7"/>', inner)]
    if share is not None:
        filled = max(0.0, min(1.0, float(share))) * inner
        state = "ok" if share >= target else "bad"
        parts.append(format_html(
            '<rect class="gauge-fill {}" x="1" y="6" width="{}" height="14" rx="7"/>', state, f"{filled:.1f}"
        ))
    mark = 1 + float(target) * inner
    parts.append(format_html(
        '<line class="gauge-target" x1="{x}" x2="{x}" y1="2" y2="24"/>'
        '<text class="gauge-label" x="{x}" y="{y}" text-anchor="middle">{label}</text>',
        x=f"{mark:.1f}", y=height, label=percent(target, 0),
    ))
    label = _("%(share)s on time; target %(target)s") % {"share": percent(share), "target": percent(target, 0)}
    return _svg(width, height + 2, label, _joined(parts), "gauge")


@dataclass(frozen=True)
class TrendRow:
    """One day of the trend, formatted once for the chart's tooltip and the table."""

    point: TrendPoint
    day: str
    share: str
    median: str


def trend_rows(points: Sequence[TrendPoint]) -> list[TrendRow]:
    """Each day formatted once per language and content: the past days of
    the four weeks come back unchanged from one request to the next."""
    language = active_language()
    return [_trend_row(language, point) for point in points]


@lru_cache(maxsize=2048)
def _trend_row(language: str, point: TrendPoint) -> TrendRow:
    # `language` is the active one: it is in the key only.
    return TrendRow(
        point=point, day=formats.date_format(point.day, "D j N"), share=percent(point.share_on_time),
        median=duration(point.median_seconds),
    )


@lru_cache(maxsize=2048)
def _bar_words(language: str, row: TrendRow) -> tuple[str, str]:
    """A day's bar: its tooltip (escaped) and its axis label."""
    point = row.point
    if point.share_on_time is None:
        title = _("%(day)s: no message answered or missed") % {"day": row.day}
    else:
        title = ngettext(
            "%(day)s: %(on_time)s of %(count)s on time (%(share)s), median %(median)s",
            "%(day)s: %(on_time)s of %(count)s on time (%(share)s), median %(median)s",
            point.opportunities,
        ) % {
            "day": row.day, "on_time": point.on_time, "count": point.opportunities,
            "share": row.share, "median": row.median,
        }
        if point.is_today:
            title += " " + _("(today, so far)")
    return escape(title), escape(formats.date_format(point.day, "D j"))


def trend(rows: Sequence[TrendRow], target: Fraction, *, width: int = 1040, height: int = 260) -> SafeString:
    """Daily share on time (bars) against the target (a dashed line).

    The vertical scale starts at 50 % (or lower if a day fell lower) so that
    the difference between 88 % and 95 % — the whole story — is visible.
    """
    left, right, top, bottom = 44, 8, 12, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    points = [row.point for row in rows]
    shares = [p.share_on_time for p in points if p.share_on_time is not None]
    lowest = min(shares, default=Fraction(1))
    floor = min(Fraction(1, 2), Fraction(math.floor(lowest * 10), 10))
    span = 1 - floor

    def y(share: Fraction) -> float:
        return top + plot_h * float((1 - share) / span) if span else top

    parts: list[SafeString] = []
    ticks = sorted({floor, floor + span / 2, Fraction(1)} | {target})
    for tick in ticks:
        is_target = tick == target
        parts.append(format_html(
            '<line class="{}" x1="{}" x2="{}" y1="{y}" y2="{y}"/>'
            '<text class="axis" x="{}" y="{ty}" text-anchor="end">{}</text>',
            "target-line" if is_target else "grid", left, width - right, left - 6, percent(tick, 0),
            y=f"{y(tick):.1f}", ty=f"{y(tick) + 4:.1f}",
        ))
    slot = plot_w / max(1, len(points))
    bar_w = max(2.0, slot * 0.7)
    language = active_language()
    # The bars as plain strings (numbers and our class names; the words are
    # escaped by _bar_words), like the heatmap's cells.
    bars: list[str] = []
    for n, row in enumerate(rows):
        point = row.point
        title, label = _bar_words(language, row)
        x = left + n * slot + (slot - bar_w) / 2
        if point.share_on_time is None:
            bars.append(
                f'<g><title>{title}</title><rect class="bar-empty" x="{x:.1f}" y="{top + plot_h - 2}" '
                f'width="{bar_w:.1f}" height="2"/></g>'
            )
        else:
            share = max(point.share_on_time, floor)
            state = "ok" if point.share_on_time >= target else "bad"
            if point.is_today:
                state += " today"
            bar_y = y(share)
            bars.append(
                f'<g><title>{title}</title><rect class="bar {state}" x="{x:.1f}" y="{bar_y:.1f}" '
                f'width="{bar_w:.1f}" height="{max(1.0, top + plot_h - bar_y):.1f}" rx="2"/></g>'
            )
        # Label every Monday, and the last day.
        if point.day.weekday() == 0 or n == len(points) - 1:
            bars.append(
                f'<text class="axis" x="{x + bar_w / 2:.1f}" y="{height - bottom + 16}" '
                f'text-anchor="middle">{label}</text>'
            )
    # Reviewed: numbers, our class names, and words escaped by _bar_words.
    parts.append(mark_safe("".join(bars)))  # noqa: S308 - numbers, class names, escaped words
    parts.append(format_html(
        '<line class="baseline" x1="{}" x2="{}" y1="{y}" y2="{y}"/>', left, width - right, y=top + plot_h
    ))
    label = _("Share answered on time, day by day, over the last %(days)s days") % {"days": len(points)}
    return _svg(width, height, label, _joined(parts), "trend")


def heat_level(cell: Cell) -> str:
    """Colour class of an hour: none, clear (no miss), then by share missed."""
    if cell.decided == 0:
        return "none"
    # Shares compared in integers: missed / decided <= 1/10 exactly when 10 * missed <= decided.
    if cell.missed == 0:
        return "clear"
    if 10 * cell.missed <= cell.decided:
        return "low"
    if 4 * cell.missed <= cell.decided:
        return "mid"
    return "high"


def weekday_names() -> list[str]:
    # 2024-01-01 was a Monday.
    from datetime import date

    return [formats.date_format(date(2024, 1, 1 + n), "l") for n in range(7)]


@lru_cache(maxsize=16)
def _heatmap_labels(language: str) -> tuple[list[str], list[str], list[str]]:
    """The heatmap's words in one language, escaped: the day names, the
    clock times, and each of the 168 hours (day, start and end)."""
    names = weekday_names()
    clock = [formats.time_format(time(hour), "TIME_FORMAT") for hour in range(24)]
    spans = [
        f"{names[weekday]} {clock[hour]}\N{EN DASH}{clock[(hour + 1) % 24]}"
        for weekday in range(7) for hour in range(24)
    ]
    return [escape(name) for name in names], [escape(text) for text in clock], [escape(span) for span in spans]


@lru_cache(maxsize=4096)
def _heat_detail(language: str, decided: int, missed: int, median: int | None) -> str:
    """An hour's tooltip, escaped; hours repeat the same few counts."""
    if not decided:
        return escape(_("nothing to answer"))
    return escape(ngettext(
        "%(count)s message to answer, %(missed)s missed, median %(median)s",
        "%(count)s messages to answer, %(missed)s missed, median %(median)s",
        decided,
    ) % {"count": decided, "missed": missed, "median": duration(median)})


def heatmap(grid: Sequence[Sequence[Cell]], *, cell_w: int = 28, cell_h: int = 24) -> SafeString:
    """Hours of the week (rows: Monday…Sunday; columns: 0-23 h, local time)
    coloured by the share of misses among the ROs opened then, with the
    number of misses written in the cell.

    168 cells: built as plain strings (numbers and our own class names, and
    texts escaped here), which costs a tenth of format_html per cell; the
    words are worked out once per language and per distinct count."""
    language = active_language()
    names, clock, spans = _heatmap_labels(language)
    left, top = 92, 22
    width, height = left + 24 * cell_w + 4, top + 7 * cell_h + 4
    parts: list[str] = []
    for hour in range(0, 24, 3):
        parts.append(
            f'<text class="axis" x="{left + hour * cell_w + 2}" y="{top - 8}" text-anchor="start">{clock[hour]}</text>'
        )
    for weekday, row in enumerate(grid):
        y = top + weekday * cell_h
        parts.append(
            f'<text class="axis" x="{left - 8}" y="{y + cell_h / 2 + 4}" text-anchor="end">{names[weekday]}</text>'
        )
        for hour, cell in enumerate(row):
            x = left + hour * cell_w
            missed = cell.missed
            detail = _heat_detail(language, cell.decided, missed, cell.median_seconds if cell.decided else None)
            shape = (
                f'<rect class="heat heat-{heat_level(cell)}" x="{x + 1}" y="{y + 1}" '
                f'width="{cell_w - 2}" height="{cell_h - 2}" rx="3"/>'
            )
            if missed:
                shape += (
                    f'<text class="heat-count" x="{x + cell_w / 2}" y="{y + cell_h / 2 + 4}" '
                    f'text-anchor="middle">{missed}</text>'
                )
            parts.append(f"<g><title>{spans[weekday * 24 + hour]}: {detail}</title>{shape}</g>")
    label = _("Misses by hour of the week")
    # Reviewed: numbers, our class names, and texts escaped just above.
    return _svg(width, height, label, mark_safe("".join(parts)), "heatmap")  # noqa: S308 - as the bars


def legend_items() -> list[tuple[str, str]]:
    return [
        ("none", _("nothing to answer")),
        ("clear", _("no miss")),
        ("low", _("up to 10% missed")),
        ("mid", _("up to 25% missed")),
        ("high", _("more than 25% missed")),
    ]


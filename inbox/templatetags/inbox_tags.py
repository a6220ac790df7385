"""Formatting for the inbox's templates: durations in the user's language,
customer links made safe, instants for the client-side countdowns.

Customer text only ever leaves here escaped: `linkify` escapes every piece
it is given and builds links only for http(s) URLs.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django import template
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import pgettext

from .. import fragments

register = template.Library()

# Links in customer text: http(s) only. A trailing dot, comma or closing
# bracket is punctuation of the sentence, not part of the URL.
_URL = re.compile(r"\bhttps?://[^\s<>\"']+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}»"
# The attributes every link to the outside world carries: no window.opener,
# no Referer leaking the inbox's URLs, no search-engine credit.
LINK_REL = "noopener noreferrer nofollow"


def duration_units() -> dict[str, str]:
    """The unit labels, shared with the browser's countdowns (inbox.js)."""
    return {
        "d": pgettext("duration unit: days", "d"),
        "h": pgettext("duration unit: hours", "h"),
        "min": pgettext("duration unit: minutes", "min"),
        "s": pgettext("duration unit: seconds", "s"),
    }


def format_duration(seconds: float, *, units: dict[str, str] | None = None) -> str:
    """"2 d 3 h", "3 h 12 min", "34 min", "4 min 05 s", "45 s" (French:
    "2 j 3 h"…). Two units at most, and seconds only in the last ten minutes,
    where they matter: a countdown is read at a glance. A zero second unit
    is dropped ("5 min", "3 h"). inbox.js formats the same way."""
    units = units or duration_units()
    total = abs(int(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} {units['d']} {hours} {units['h']}" if hours else f"{days} {units['d']}"
    if hours:
        return f"{hours} {units['h']} {minutes:02d} {units['min']}" if minutes else f"{hours} {units['h']}"
    if minutes >= 10 or (minutes and not secs):
        return f"{minutes} {units['min']}"
    if minutes:
        return f"{minutes} {units['min']} {secs:02d} {units['s']}"
    return f"{secs} {units['s']}"


@register.filter
def duration(value: Any) -> str:
    if value is None or value == "":
        return ""
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    return format_duration(seconds)


@register.filter
def epoch_ms(value: datetime | None) -> str:
    """An instant for `data-*` attributes read by the countdowns."""
    if value is None:
        return ""
    return str(int(value.timestamp() * 1000))


def _is_http(url: str, *, https_only: bool = False) -> bool:
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    schemes = ("https",) if https_only else ("http", "https")
    return parts.scheme.lower() in schemes and bool(parts.netloc)


@register.filter
def http_url(value: Any) -> str:
    """The URL if it is http(s), else "" (javascript:, data:, vbscript:… never
    reach an href)."""
    url = str(value or "").strip()
    return url if _is_http(url) else ""


@register.filter
def https_image_url(value: Any) -> str:
    """Images load only over https (no mixed content, no data: or javascript:)."""
    url = str(value or "").strip()
    return url if _is_http(url, https_only=True) else ""


@register.filter(needs_autoescape=True)
def linkify(value: Any, autoescape: bool = True) -> SafeString:
    """Customer text, escaped, with its http(s) URLs turned into links that
    open in a new tab and carry `LINK_REL`. Nothing else becomes markup."""
    text = str(value or "")
    pieces: list[str] = []
    position = 0
    for match in _URL.finditer(text):
        url = match.group(0)
        stripped = url.rstrip(_TRAILING)
        # Keep a closing bracket that closes one opened inside the URL.
        while stripped.count("(") > stripped.count(")") and len(stripped) < len(url) and url[len(stripped)] == ")":
            stripped += ")"
        url = stripped
        start, end = match.start(), match.start() + len(url)
        pieces.append(conditional_escape(text[position:start]))
        if _is_http(url):
            pieces.append(
                format_html('<a href="{}" target="_blank" rel="{}">{}</a>', url, LINK_REL, url)
            )
        else:
            pieces.append(conditional_escape(url))
        position = end
    pieces.append(conditional_escape(text[position:]))
    # Every piece above was escaped or built by format_html.
    return mark_safe("".join(pieces))  # noqa: S308 - every piece escaped or format_html above


@register.simple_tag
def link_rel() -> str:
    return LINK_REL


@register.simple_tag
def keys_help() -> SafeString:
    """The keyboard shortcuts' dialog: the same words for everyone in a
    language, so rendered once per language (inbox.fragments)."""
    return fragments.fill(fragments.render("inbox/_keys_help.html"))


@register.simple_tag(takes_context=True)
def conversation_head(context: Any) -> SafeString:
    """The conversation page's header (inbox.conversation_head)."""
    from ..conversation_head import head_html

    return head_html(context)


@register.simple_tag(takes_context=True)
def topbar(context: Any) -> SafeString:
    """The layout's top bar (inbox.topbar)."""
    from ..topbar import topbar_html

    return topbar_html(context)

"""Fragments rendered once per distinct content, then reused.

The inbox's lists repeat the same markup for many items (a queue row, a
Page's line in the opening-hours header), and the template engine's cost per
variable made those items the better part of a page's time. `render` keeps
each rendered item in a bounded per-process cache keyed by *everything the
fragment shows*: the template, the values it is given (frozen, hashable:
it reads nothing else), the language and the time zone. An item whose
content changed is another key, so nothing is ever invalidated and nothing
can be stale; a deploy starts with an empty cache.

Values that differ on every response (a countdown's text, the CSRF token, the
page's own URL) stay out of the key: the template renders an unguessable
`slot(name)` in their place, and `fill` puts the response's values in.

Two caches, so that one kind of fragment never evicts the other: the lists'
(queue rows, headers, dashboard rows), and conversations' thread lines
(`THREAD`), far more numerous.
"""

from __future__ import annotations

import secrets
from collections.abc import Hashable
from functools import lru_cache

from django.conf import settings
from django.template.loader import get_template
from django.utils import timezone
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language

# Fragments kept per process: the first pages of every filter an agency's
# agents use (a queue row is ~1.5 kB: at most ~6 MB).
CACHE_SIZE = 4096
# Thread lines kept per process: the last 30 lines of ~270 conversations (a
# Messenger line is ~0.8 kB, a customer's comment with its actions ~3 kB:
# at most ~12 MB).
THREAD_CACHE_SIZE = 8192

LISTS = "lists"
THREAD = "thread"

# Random per process: no customer text can carry a slot.
_SLOT = secrets.token_hex(16)


def slot(name: str) -> str:
    """The stand-in a cached fragment holds for the per-response value `name`."""
    return f"slot{name}{_SLOT}"


def active_language() -> str:
    """The active language, as the caches keyed by it name it."""
    return get_language() or settings.LANGUAGE_CODE


def render(template_name: str, space: str = LISTS, /, **values: Hashable) -> str:
    """`template_name` (a template or a partial) rendered with `values` and
    nothing else: no request, no context processor. `space`: which cache
    keeps it (LISTS or THREAD)."""
    if settings.DEBUG:  # templates are edited live
        return get_template(template_name).render(values)
    key = tuple(sorted(values.items()))
    return _CACHES[space](template_name, active_language(), timezone.get_current_timezone_name(), key)


def _render(template_name: str, language: str, zone: str, values: tuple[tuple[str, Hashable], ...]) -> str:
    # `language` and `zone` are the active ones: they are in the key only.
    return get_template(template_name).render(dict(values))


_CACHES = {LISTS: lru_cache(maxsize=CACHE_SIZE)(_render), THREAD: lru_cache(maxsize=THREAD_CACHE_SIZE)(_render)}


def fill(html: str, **values: str) -> SafeString:
    """A rendered fragment with each `slot(name)` replaced by `values[name]`,
    escaped as the template would have escaped it (safe strings, such as
    Django's CSRF input, go in as they are)."""
    for name, value in values.items():
        html = html.replace(slot(name), conditional_escape(value))
    # Reviewed: `html` is the autoescaping template's output, and every value
    # put in went through conditional_escape just above.
    return mark_safe(html)  # noqa: S308 - autoescaped template output, escaped slots


def cache_info(space: str = LISTS) -> object:
    return _CACHES[space].cache_info()


def cache_clear() -> None:
    for cache in _CACHES.values():
        cache.cache_clear()

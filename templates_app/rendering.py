"""Rendering a saved reply's body into the text an agent starts from.

Plain Python, no Django: the composer service calls it with values it has
already fetched, and tests run in milliseconds.

A body holds placeholders written ``{{ name }}`` (white space inside the braces
is optional). Only the names in ``VARIABLES`` are substituted; ``{{ cursor }}``
is a marker for where the composer puts the caret, never shown to anyone.

The output is *plain text*. Escaping is the template layer's job (Django
auto-escapes whatever the composer displays), and the text sent to Meta is
plain text too, so nothing here knows about HTML.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

VARIABLES = ("contact.first_name", "agent.first_name", "page.name", "page.next_opening")

CURSOR = "cursor"

# No braces inside the name, so `{{ a }} }}` or `{{ {{ a }}` never swallows a
# neighbour, and a placeholder can never span a `{{ cursor }}` marker.
_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_CURSOR_MARKER = re.compile(r"\{\{\s*cursor\s*\}\}")
_ELLIPSIS_LINE_END = re.compile(r"(?:…|\.\.\.)[ \t\r]*$", re.MULTILINE)


def find_variables(body: str) -> list[str]:
    """Names of the placeholders in ``body``, each once, in order of first
    appearance; the ``{{ cursor }}`` marker is not a variable and is left out.
    """
    names: list[str] = []
    for match in _PLACEHOLDER.finditer(body):
        name = match.group(1)
        if name != CURSOR and name not in names:
            names.append(name)
    return names


def unknown_variables(body: str) -> list[str]:
    """Placeholders that would not render, e.g. ``contact.firstname`` (a typo):
    the saved-reply form refuses them instead of letting braces reach a
    customer."""
    return [name for name in find_variables(body) if name not in VARIABLES]


def render(body: str, values: Mapping[str, str]) -> str:
    """Substitute the known variables in one pass and drop cursor markers.

    Values are inserted literally and never scanned again: a contact whose
    Facebook name is ``{{ agent.first_name }}`` appears as exactly that, and
    cannot pull in another variable. A known variable missing from ``values``
    (Meta gave no first name, say) renders as an empty string rather than as
    braces a customer would see. Unknown placeholders are left as written, so
    the agent notices them in the composer.
    """

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == CURSOR:
            return ""
        if name in VARIABLES:
            return values.get(name, "")
        return match.group(0)

    return _PLACEHOLDER.sub(substitute, body)


def cursor_position(body: str) -> int | None:
    """Where the composer puts the caret once the saved reply is inserted.

    - The first ``{{ cursor }}`` marker, if there is one. The offset is the
      marker's start, which is the same offset in the text once the markers are
      removed (nothing before the first marker is removed).
    - Otherwise the end of the first line that ends with "…" or "..." (the
      saved reply's way of saying "complete this"), just after the ellipsis and
      before any trailing spaces.
    - Otherwise ``None``: the composer keeps its default (the end).

    The offset holds for ``body`` as written; for a body with variables use
    ``render_with_cursor``, which gives the offset in the rendered text.
    """
    marker = _CURSOR_MARKER.search(body)
    if marker is not None:
        return marker.start()
    return _ellipsis_line_end(body)


def render_with_cursor(body: str, values: Mapping[str, str]) -> tuple[str, int | None]:
    """``render(body, values)`` and the caret offset in that rendered text.

    The body is split at its first cursor marker and each side rendered on its
    own, so the offset is exact however long the inserted values are, and a
    marker inside a value (a hostile contact name) is never taken for one.
    """
    marker = _CURSOR_MARKER.search(body)
    if marker is None:
        text = render(body, values)
        return text, _ellipsis_line_end(text)
    before = render(body[: marker.start()], values)
    return before + render(body[marker.end() :], values), len(before)


def _ellipsis_line_end(text: str) -> int | None:
    match = _ELLIPSIS_LINE_END.search(text)
    if match is None:
        return None
    return match.start() + len(match.group(0).rstrip(" \t\r"))

"""Thin bridges from templates to the saved-replies code: the rules and the
wording live in services.py and wording.py, never here."""

from __future__ import annotations

from typing import Any

from django import template

from .. import selectors, wording

register = template.Library()


@register.filter
def warning_sentence(warning: Any) -> str:
    """A composer warning as one translated sentence (auto-escaped)."""
    return wording.describe(warning)


@register.filter
def warning_kind_label(warning: Any) -> str:
    return wording.kind_label(warning.kind)


@register.simple_tag
def comment_guidance(message: Any, page: Any = None) -> Any:
    """``sensitive_public`` for an inbound public comment, or None."""
    if message is None:
        return None
    return selectors.comment_guidance(message=message, page=page if page else None)

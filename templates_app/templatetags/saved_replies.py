"""Thin bridges from templates to the saved-replies code: the rules and the
wording live in services.py and wording.py, never here."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse
from django.utils.safestring import SafeString

from inbox import fragments

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


@register.simple_tag
def composer_addons(conversation_pk: int) -> SafeString:
    """The composer's saved-reply picker and guidance trigger: the same for
    every conversation in a language, so rendered once per language
    (inbox.fragments), with the conversation's two URLs put in."""
    html = fragments.render("templates_app/_composer_addons.html", picker_url=fragments.slot("picker"),
                            guidance_url=fragments.slot("guidance"))
    return fragments.fill(html, picker=reverse("templates_app:picker", args=[conversation_pk]),
                          guidance=reverse("templates_app:guidance", args=[conversation_pk]))

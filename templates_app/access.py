"""Who may see and manage which saved replies (DOMAIN.md "Member").

A Page's saved replies: every member sees and uses them, its admins manage
them. Personal ones: only their owner. Anything else is a 404, never a 403:
an outsider learns nothing about what exists.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404

from inbox.access import get_page_for_user, pages_for

from .models import SavedReply
from .selectors import Scope, is_admin


def get_scope_for_user(user: Any, *, page_id: int | None, manage: bool = False) -> Scope:
    """The scope at a URL: a Page's (``page_id``) or the user's own."""
    if page_id is None:
        return Scope(page=None, owner=user, can_manage=True)
    page = get_page_for_user(user, pk=page_id)
    can_manage = is_admin(user, page)
    if manage and not can_manage:
        raise Http404("not an admin of this Page")
    return Scope(page=page, owner=None, can_manage=can_manage)


def get_saved_reply_for_user(user: Any, pk: int, *, manage: bool = False) -> tuple[SavedReply, Scope]:
    """A saved reply the user can see (``manage``: may change), with its scope."""
    saved_reply = get_object_or_404(
        SavedReply.objects.select_related("page").filter(Q(page__in=pages_for(user)) | Q(owner=user)), pk=pk
    )
    scope = get_scope_for_user(user, page_id=saved_reply.page_id, manage=manage)
    return saved_reply, scope

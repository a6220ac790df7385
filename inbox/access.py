"""Who may see what. A user sees only the Pages they are a member of; anything
else is a 404, in the UI and the API alike (DOMAIN.md "Member")."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404

from .models import Conversation, Membership, Message, Page, Role


def pages_for(user: Any) -> QuerySet[Page]:
    if not user.is_authenticated or not user.is_active:
        return Page.objects.none()
    return Page.objects.filter(memberships__user=user)


def role_on(user: Any, page: Page) -> str | None:
    return Membership.objects.filter(user=user, page=page).values_list("role", flat=True).first()


def get_page_for_user(user: Any, *, meta_page_id: str | None = None, pk: int | None = None) -> Page:
    lookup = {"meta_page_id": meta_page_id} if meta_page_id is not None else {"pk": pk}
    return get_object_or_404(pages_for(user), **lookup)


def get_page_among(pages: Iterable[Page], *, pk: int) -> Page:
    """`get_page_for_user` when the user's Pages are already read (the
    layout's memberships, HoursStatus.pages): one of them, or a 404."""
    for page in pages:
        if page.pk == pk:
            return page
    raise Http404("not a member of this Page")


def get_admin_page_for_user(user: Any, *, pk: int) -> Page:
    page = get_page_for_user(user, pk=pk)
    if role_on(user, page) != Role.ADMIN:
        # Agents know the Page exists but may not change its settings.
        raise Http404("not an admin of this Page")
    return page


def get_conversation_for_user(user: Any, pk: int) -> Conversation:
    return get_object_or_404(
        Conversation.objects.select_related("page", "contact", "assignee").filter(page__in=pages_for(user)), pk=pk
    )


def get_conversation_among(pages: Iterable[Page], pk: int) -> Conversation:
    """`get_conversation_for_user` when the user's Pages are already read
    (the layout's memberships): the conversation if it is on one of them,
    with that very Page (not read again), or a 404."""
    by_id = {page.pk: page for page in pages}
    conversation = get_object_or_404(
        Conversation.objects.select_related("contact", "assignee").filter(page_id__in=list(by_id)), pk=pk
    )
    conversation.page = by_id[conversation.page_id]
    return conversation


def get_message_for_user(user: Any, pk: int) -> Message:
    return get_object_or_404(
        Message.objects.select_related("page", "conversation").filter(page__in=pages_for(user)), pk=pk
    )

"""Saved replies' writes and the composer's checks (DOMAIN.md "Saved replies
and their overuse", "Composer guidance"). Filled by the saved-replies work;
the inbox's composer calls these two functions."""

from __future__ import annotations

from typing import Any

from inbox.models import Conversation
from inbox.services.sending import SavedReplyUse

from . import guidance


def composer_warnings(
    *, conversation: Conversation, agent: Any, text: str, saved_reply_id: int | None, channel: str
) -> list[guidance.Warning]:
    """Every warning and guidance for a draft, computed from stored history."""
    return []


def saved_reply_use(
    *, conversation: Conversation, agent: Any, text: str, saved_reply_id: int | None
) -> SavedReplyUse | None:
    """Which saved reply a reply came from and how similar it stayed."""
    return None

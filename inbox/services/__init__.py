"""Every state change goes through these functions (STYLE.md habit 1):
views, tasks, commands and the API call them; none writes models itself."""

from .conversations import (
    add_note,
    assign_conversation,
    conversation_opened,
    set_status,
    wake_snoozed,
)
from .ingestion import process_delivery, store_delivery
from .sending import SendRefused, hide_comment, retry_send, send_reply

__all__ = [
    "SendRefused",
    "add_note",
    "assign_conversation",
    "conversation_opened",
    "hide_comment",
    "process_delivery",
    "retry_send",
    "send_reply",
    "set_status",
    "store_delivery",
    "wake_snoozed",
]

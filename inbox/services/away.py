"""Away messages (DOMAIN.md "Availability"): filled by the business-hours work."""

from __future__ import annotations

from ..models import Message


def after_customer_message(message: Message) -> None:
    """Answer a customer message received while the Page is unavailable."""
    return None

"""Deliveries for the responsiveness tests, with exact platform timestamps.

inbox.simulation builds the same shapes from float seconds; here every
instant is an aware datetime and Meta's milliseconds are computed exactly,
so that hand-computed figures are exact to the millisecond.
"""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

from inbox import simulation

_ids = itertools.count(1)
# Meta's own inbox (Business Suite) sends with its app id, never ours.
META_INBOX_APP_ID = "263902037430900"


def ms(at: datetime) -> int:
    return int(at.timestamp()) * 1000 + at.microsecond // 1000


def customer(page_id: str, psid: str, at: datetime, text: str = "Bonjour ?", *, mid: str | None = None) -> dict[str, Any]:
    return {
        "sender": {"id": psid}, "recipient": {"id": page_id}, "timestamp": ms(at),
        "message": {"mid": mid or f"m_in_{next(_ids)}", "text": text},
    }


def echo(page_id: str, psid: str, at: datetime, text: str = "Bonjour !", *, mid: str | None = None,
         metadata: str | None = None, app_id: str = META_INBOX_APP_ID) -> dict[str, Any]:
    body: dict[str, Any] = {"is_echo": True, "app_id": app_id, "mid": mid or f"m_out_{next(_ids)}", "text": text}
    if metadata is not None:
        body["metadata"] = metadata
    return {"sender": {"id": page_id}, "recipient": {"id": psid}, "timestamp": ms(at), "message": body}


def messaging(page_id: str, *items: dict[str, Any]) -> dict[str, Any]:
    return simulation.envelope(page_id, messaging=list(items), time_ms=max(i["timestamp"] for i in items))


def comment(page_id: str, at: datetime, *, from_id: str, from_name: str = "", post: str = "1",
            comment_id: str | None = None, parent_id: str | None = None, text: str = "Prix ?") -> dict[str, Any]:
    """A `feed` change: comments carry whole seconds (created_time)."""
    post_id = f"{page_id}_{post}"
    change = {"field": "feed", "value": {
        "item": "comment", "verb": "add", "comment_id": comment_id or f"{post_id}_{next(_ids)}",
        "post_id": post_id, "parent_id": parent_id or post_id,
        "from": {"id": from_id, "name": from_name}, "message": text, "created_time": int(at.timestamp())}}
    return simulation.envelope(page_id, changes=[change], time_ms=ms(at))

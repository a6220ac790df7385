"""Building a realistic inbox for the inbox's tests: customers write through
signed webhook deliveries (the `deliver` fixture), never by creating rows."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from inbox import simulation
from inbox.models import Contact, Conversation, Message


def now_s() -> float:
    return time.time()


def customer_writes(deliver: Any, page: Any, psid: str, text: str, *, seconds_ago: float = 0,
                    name: str = "", attachments: list[dict[str, Any]] | None = None,
                    mid: str | None = None) -> Conversation:
    """A Messenger message from a customer, `seconds_ago` in platform time."""
    at = now_s() - seconds_ago
    deliver(simulation.envelope(page.meta_page_id, messaging=[
        simulation.message(page.meta_page_id, psid, at, text, attachments=attachments, mid=mid)],
        time_ms=simulation.ms(at)))
    if name:
        # Meta's profile answer, which the worker would fetch.
        Contact.objects.filter(page=page, external_id=psid).update(name=name)
    return Conversation.objects.select_related("contact", "page").get(page=page, contact__external_id=psid)


def customer_comments(deliver: Any, page: Any, *, from_id: str, name: str, text: str, post: str = "1",
                      seconds_ago: float = 0, comment_id: str | None = None,
                      parent_id: str | None = None) -> Message:
    """A public comment under one of the Page's posts."""
    at = now_s() - seconds_ago
    post_id = f"{page.meta_page_id}_{post}"
    change = simulation.comment(page.meta_page_id, at=at, text=text, from_id=from_id, from_name=name,
                                post_id=post_id, comment_id=comment_id, parent_id=parent_id)
    deliver(simulation.envelope(page.meta_page_id, changes=[change], time_ms=int(at)))
    return Message.objects.select_related("conversation").get(page=page, mid=change["value"]["comment_id"])


@pytest.fixture
def local_cache(settings):
    """A cache of this test's own, for tests about what the cache holds
    (live versions, presence, cached sessions). The suite's Redis is shared
    by concurrent runs, and the autouse `cache.clear()` of any of them is a
    FLUSHDB that would wipe this test's keys at a random moment."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": f"inbox-test-{uuid.uuid4().hex}"}}
    yield

"""The countdowns' clock in a real browser: it follows the server's time, and
a slow page load does not make every countdown lag by the load's length."""

from __future__ import annotations

import re
import time

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from .conftest import sign_in
from .inbox_helpers import customer_writes, local_cache  # noqa: F401 - fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("local_cache")]

SLOW_LOAD_SECONDS = 4


def seconds_shown(text: str) -> int:
    """'1 min 56 s' → 116."""
    minutes = re.search(r"(\d+)\s*min", text)
    seconds = re.search(r"(\d+)\s*s\b", text)
    return (int(minutes.group(1)) * 60 if minutes else 0) + (int(seconds.group(1)) if seconds else 0)


def test_a_slow_page_load_does_not_delay_the_countdowns(tab, page, alice, deliver):
    # Due in 2 minutes: the 5-minute target, 3 minutes after the customer wrote.
    conversation = customer_writes(deliver, page, "psid-lent", "Vous êtes ouverts dimanche ?", seconds_ago=180)
    sign_in(tab, "alice")

    def slow(route):
        time.sleep(SLOW_LOAD_SECONDS)  # the page is there; its script comes late (3G, a busy phone)
        route.continue_()

    tab.route(re.compile(r".*/inbox(\.[0-9a-f]+)?\.js$"), slow)
    tab.goto(f"/?page={page.pk}")
    conversation.refresh_from_db()
    assert conversation.due_at is not None
    countdown = tab.locator(".queue-row .js-countdown").first
    expect(countdown).to_contain_text("min")
    tab.wait_for_timeout((SLOW_LOAD_SECONDS + 2) * 1000)  # the script has run and ticked since
    # The script ran SLOW_LOAD_SECONDS after the server stamped its time; the
    # countdown still says what is truly left (the test and the server share
    # this machine's clock), not that plus the load's length.
    left = seconds_shown(countdown.inner_text())
    truly_left = (conversation.due_at - timezone.now()).total_seconds()
    assert abs(left - truly_left) <= 2, f"countdown shows {left} s left, {truly_left:.1f} s truly are"

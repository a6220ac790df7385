"""Helpers shared by the business-hours tests (test_hours, test_away,
test_settings_views, test_set_hours, test_browser_hours)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

PARIS = ZoneInfo("Europe/Paris")


def paris(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """A wall-clock time in Paris, as an aware datetime in UTC."""
    return datetime(year, month, day, hour, minute, second, tzinfo=PARIS).astimezone(UTC)


class Clock:
    """django.utils.timezone.now, frozen where a test puts it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set(self, now: datetime) -> None:
        self.now = now


@pytest.fixture(name="clock")
def clock_fixture(monkeypatch):
    from django.utils import timezone

    frozen = Clock(datetime.now(UTC))
    monkeypatch.setattr(timezone, "now", frozen)
    return frozen


def office_hours(page, spec: str = "mon-fri 09:00-18:00") -> None:
    from inbox.availability import parse_hours
    from inbox.services import hours

    hours.replace_hours(page=page, actor=None, intervals=parse_hours(spec))


def away_message(page, language: str = "fr", body: str | None = None) -> None:
    from inbox.services import away

    away.save_away_message(page=page, language=language, body=body or away.SUGGESTED_BODIES[language],
                           enabled=True, actor=None)

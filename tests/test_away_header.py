"""The inbox header with an away period nobody is named for (set from the
shell or by a deleted user)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from inbox.models import AwayPeriod
from inbox.services import hours

pytestmark = pytest.mark.django_db


def test_it_shows_an_away_period_switched_on_by_nobody_known(client, page, bob):
    AwayPeriod.objects.create(page=page, start=timezone.now() - timedelta(minutes=5), until=None, created_by=None)
    hours.hours_changed(page)
    client.force_login(bob)
    response = client.get("/")
    assert response.status_code == 200
    assert b"switched on" in response.content
    assert b"switched on by" not in response.content

"""Live SLA: the beat's sweep marks ROs at risk and missed within seconds, and
a missed deadline is recorded once, whatever the number of sweeps at once."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection

from inbox import dashboard
from inbox.models import (
    Conversation,
    ConversationEvent,
    ConversationStatus,
    Page,
    ResponseOpportunity,
    ResponseOpportunityStatus,
)
from inbox.services import opportunities

from . import ro_helpers as meta
from .conftest import at

T0 = at("2026-11-20 10:00:00")
DUE = T0 + timedelta(seconds=300)


def _waiting(page, deliver, psid="p1", when=T0):
    deliver(meta.messaging(page.meta_page_id, meta.customer(page.meta_page_id, psid, when)))
    return ResponseOpportunity.objects.get(conversation__contact__external_id=psid)


@pytest.mark.django_db
def test_the_beat_sweeps_deadlines_every_2_seconds():
    # 2 s between sweeps + the sweep itself: a deadline shows within 5 s.
    assert settings.CELERY_BEAT_SCHEDULE["sweep-deadlines"]["schedule"] <= 2.0
    assert settings.CELERY_BEAT_SCHEDULE["sweep-deadlines"]["task"] == "inbox.tasks.sweep_deadlines"


@pytest.mark.django_db
def test_it_marks_an_opportunity_at_risk_60_seconds_before_its_deadline(page, deliver):
    ro = _waiting(page, deliver)

    assert opportunities.mark_deadlines(now=DUE - timedelta(seconds=61)) == (0, 0)
    assert opportunities.mark_deadlines(now=DUE - timedelta(seconds=60)) == (1, 0)
    assert opportunities.mark_deadlines(now=DUE - timedelta(seconds=30)) == (0, 0)  # once

    ro.refresh_from_db()
    assert ro.at_risk_marked_at == DUE - timedelta(seconds=60)
    assert ro.status == ResponseOpportunityStatus.PENDING


def test_it_follows_each_pages_own_warning_time(page, other_page, deliver, db):
    Page.objects.filter(pk=other_page.pk).update(at_risk_seconds=120)
    _waiting(page, deliver, "p1")
    _waiting(other_page, deliver, "p2")

    assert opportunities.mark_deadlines(now=DUE - timedelta(seconds=90)) == (1, 0)
    assert ResponseOpportunity.objects.get(at_risk_marked_at__isnull=False).page == other_page


@pytest.mark.django_db
def test_it_marks_a_deadline_missed_strictly_after_it_passed_and_records_it_once(page, deliver):
    ro = _waiting(page, deliver)

    assert opportunities.mark_deadlines(now=DUE)[1] == 0  # at the due instant: still pending
    assert opportunities.mark_deadlines(now=DUE + timedelta(milliseconds=1))[1] == 1
    assert opportunities.mark_deadlines(now=DUE + timedelta(seconds=2))[1] == 0

    ro.refresh_from_db()
    assert (ro.status, ro.missed_marked_at) == (ResponseOpportunityStatus.MISSED, DUE + timedelta(milliseconds=1))
    [event] = ConversationEvent.objects.filter(kind="deadline_missed")
    assert (event.conversation_id, event.at, event.data) == (ro.conversation_id, DUE, {"opportunity": ro.pk})


@pytest.mark.django_db
def test_a_reply_after_the_sweep_still_decides_the_opportunity(page, deliver):
    ro = _waiting(page, deliver)
    opportunities.mark_deadlines(now=DUE + timedelta(seconds=1))
    pid = page.meta_page_id

    # The reply went out at 10:04:50 but its webhook arrived after the sweep.
    deliver(meta.messaging(pid, meta.echo(pid, "p1", T0 + timedelta(seconds=290))))

    ro.refresh_from_db()
    assert (ro.status, ro.response_seconds) == ("on_time", 290)
    assert ro.missed_marked_at is not None  # the sweep's record stays: it did look missed then


@pytest.mark.django_db
def test_a_message_whose_deadline_passed_before_it_was_processed_is_recorded_by_the_next_sweep(page, deliver):
    ro = _waiting(page, deliver)  # processed "now", long after 10:05
    assert ro.status == ResponseOpportunityStatus.PENDING

    assert opportunities.mark_deadlines()[1] == 1
    assert ConversationEvent.objects.filter(kind="deadline_missed").count() == 1


@pytest.mark.django_db
def test_the_banner_shows_a_deadline_the_moment_it_passes(page, alice, deliver):
    _waiting(page, deliver)
    Conversation.objects.update(status=ConversationStatus.OPEN)

    before = dashboard.sla_status(user=alice, now=DUE - timedelta(seconds=61))
    risk = dashboard.sla_status(user=alice, now=DUE - timedelta(seconds=60))
    due = dashboard.sla_status(user=alice, now=DUE)
    after = dashboard.sla_status(user=alice, now=DUE + timedelta(milliseconds=1))

    assert (before.missed, before.at_risk) == (0, 0)
    assert (risk.missed, risk.at_risk) == (0, 1)
    assert (due.missed, due.at_risk) == (0, 1)
    assert (after.missed, after.at_risk) == (1, 0)
    assert Conversation.objects.get(pk=after.most_urgent.pk).contact.external_id == "p1"


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_racing_record_each_miss_once(page, deliver):
    for n in range(60):
        _waiting(page, deliver, f"p{n}", T0 + timedelta(milliseconds=n))
    now = DUE + timedelta(seconds=5)
    barrier = threading.Barrier(2)
    results: list[tuple[int, int]] = []
    errors: list[BaseException] = []

    def sweep():
        try:
            barrier.wait()
            results.append(opportunities.mark_deadlines(now=now))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sum(missed for _, missed in results) == 60
    assert sum(risk for risk, _ in results) == 60
    assert ConversationEvent.objects.filter(kind="deadline_missed").count() == 60
    assert ResponseOpportunity.objects.filter(status="missed").count() == 60

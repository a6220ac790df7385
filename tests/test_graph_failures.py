"""Meta's side misbehaving (issue 8, item 2): slow, down, rate limiting,
token revoked, outside the window, the ambiguous 1/1357046.

Whatever Meta does, a reply ends in a state the agent sees (sent, or failed
with a reason), the web request that queued it never waits for Meta, nothing
is retried forever, nothing is sent twice, and a revoked token turns the
Page to "reconnect needed". Meta is the fake Graph API over real HTTP."""

from __future__ import annotations

import time

import pytest

from inbox import simulation
from inbox.models import Message, Page, SendStatus
from inbox.services import SendRefused, send_reply, sending

pytestmark = pytest.mark.django_db

PSID = "psid-failures"


@pytest.fixture
def conversation(page, deliver):
    deliver(simulation.envelope(page.meta_page_id, messaging=[
        simulation.message(page.meta_page_id, PSID, time.time() - 60, "Vous livrez à Lyon ?")]))
    return page.conversations.get()


def _reply(conversation, bob, text="Oui, en 48 h. — Bob") -> Message:
    return send_reply(conversation=conversation, author=bob, text=text)


def _run_until_settled(message: Message, limit: int = 20) -> list[str]:
    """Run the send task as the worker would, retries included (their
    countdown skipped), until the reply leaves the queue; bounded."""
    outcomes = []
    for _ in range(limit):
        message.refresh_from_db()
        if message.send_status != SendStatus.QUEUED:
            break
        outcomes.append(sending.perform_send(message_id=message.pk))
    message.refresh_from_db()
    return outcomes


def test_it_queues_a_reply_at_once_however_slow_meta_is(conversation, bob, fake_graph):
    fake_graph.set_mode("ok", delay=10)
    started = time.monotonic()
    message = _reply(conversation, bob)
    assert time.monotonic() - started < 1.0
    assert message.send_status == SendStatus.QUEUED
    assert fake_graph.stats()["calls"] == {}  # nothing called Meta from the request


def test_it_gives_up_on_a_slow_meta_within_the_timeout_and_never_resends(conversation, bob, fake_graph, settings):
    settings.META_GRAPH_TIMEOUT = 1
    fake_graph.set_mode("ok", delay=10)
    message = _reply(conversation, bob)
    started = time.monotonic()
    outcomes = _run_until_settled(message)
    assert time.monotonic() - started < 3
    # The request left: Meta may have sent it, so it is failed with a reason,
    # not retried (a retry could deliver it twice).
    assert outcomes == ["failed"]
    assert message.send_status == SendStatus.FAILED
    assert "may have been delivered" in message.send_error
    assert sending.perform_send(message_id=message.pk) == "not-queued"


def test_the_echo_of_a_reply_meta_sent_slowly_marks_it_sent(conversation, bob, fake_graph, settings, deliver, page):
    settings.META_GRAPH_TIMEOUT = 1
    fake_graph.set_mode("ok", delay=3)
    message = _reply(conversation, bob)
    _run_until_settled(message)
    assert message.send_status == SendStatus.FAILED
    deliver(simulation.envelope(page.meta_page_id, messaging=[simulation.echo(
        page.meta_page_id, PSID, time.time(), message.text, mid="m_slow_echo",
        metadata=sending.metadata_for(message))]))
    message.refresh_from_db()
    assert message.send_status == SendStatus.SENT
    assert message.mid == "m_slow_echo"
    assert Message.objects.filter(text=message.text).count() == 1


def test_it_retries_an_outage_a_bounded_number_of_times_then_fails_clearly(conversation, bob, fake_graph):
    fake_graph.set_mode("down")
    message = _reply(conversation, bob)
    outcomes = _run_until_settled(message)
    assert outcomes == ["retrying"] * (sending.MAX_SEND_ATTEMPTS - 1) + ["failed"]
    assert message.send_status == SendStatus.FAILED
    assert message.send_attempts == sending.MAX_SEND_ATTEMPTS
    assert "503" in message.send_error
    assert sum(fake_graph.stats()["calls"].values()) == sending.MAX_SEND_ATTEMPTS
    assert fake_graph.stats()["sends"] == 0


def test_the_retries_back_off_and_stay_below_the_brokers_visibility_timeout(settings):
    # A countdown longer than the visibility timeout makes Redis deliver the
    # retry twice: the longest backoff must stay well below it.
    delays = [sending.BACKOFF_BASE_SECONDS * 4 ** (n - 1) for n in range(1, sending.MAX_SEND_ATTEMPTS)]
    assert delays == sorted(delays)
    assert max(delays) * 2 < settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]


@pytest.mark.parametrize("mode", ["rate_limit", "temporary"])
def test_it_waits_out_a_rate_limit_or_temporary_error_and_sends_once(conversation, bob, fake_graph, mode):
    fake_graph.set_mode(mode, times=2)
    message = _reply(conversation, bob)
    outcomes = _run_until_settled(message)
    assert outcomes == ["retrying", "retrying", "sent"]
    assert message.send_status == SendStatus.SENT
    assert message.send_error == ""
    stats = fake_graph.stats()
    assert stats["sends"] == 1
    assert stats["double_sends"] == 0


def test_the_inbox_shows_reconnect_needed_after_a_revoked_token(client, conversation, bob, alice, fake_graph, page):
    client.force_login(bob)
    assert "data-reconnect-page" not in client.get("/").content.decode()
    fake_graph.set_mode("token_revoked")
    _run_until_settled(_reply(conversation, bob))
    client.cookies.load({"django_language": "en"})
    for url in ("/", f"/c/{conversation.pk}/"):
        html = client.get(url).content.decode()
        assert f'data-reconnect-page="{page.pk}"' in html, url
        assert "reconnect needed" in html
        assert "Ask an admin" in html  # bob is an agent
    client.force_login(alice)
    assert "Reconnect the Page" in client.get("/").content.decode()


def test_a_revoked_token_stops_replies_and_asks_for_a_reconnection(conversation, bob, fake_graph, page):
    fake_graph.set_mode("token_revoked")
    message = _reply(conversation, bob)
    outcomes = _run_until_settled(message)
    assert outcomes == ["failed"]  # never retried: the token will not heal itself
    assert message.send_error_code == 190
    assert message.send_error
    page.refresh_from_db()
    assert page.needs_reconnect is True
    with pytest.raises(SendRefused) as refused:
        _reply(conversation, bob, "Encore une ?")
    assert refused.value.code == "reconnect"
    assert sum(fake_graph.stats()["calls"].values()) == 1


def test_a_reply_outside_the_window_fails_with_metas_reason_and_is_not_retried(conversation, bob, fake_graph, page):
    fake_graph.set_mode("outside_window")
    message = _reply(conversation, bob)
    outcomes = _run_until_settled(message)
    assert outcomes == ["failed"]
    assert (message.send_error_code, message.send_error_subcode) == (10, 2018278)
    assert "outside of allowed window" in message.send_error
    assert Page.objects.get(pk=page.pk).needs_reconnect is False


def test_an_ambiguous_error_is_never_resent_even_by_the_sweep(conversation, bob, fake_graph):
    fake_graph.set_mode("ambiguous")
    message = _reply(conversation, bob)
    outcomes = _run_until_settled(message)
    assert outcomes == ["failed"]
    assert "may have been delivered" in message.send_error
    fake_graph.set_mode("ok")
    sending.sweep_outbox()
    assert sending.perform_send(message_id=message.pk) == "not-queued"
    # Meta did send it once (1/1357046 "can come back even though the messages were sent").
    assert fake_graph.stats()["sends"] == 1
    assert fake_graph.stats()["double_sends"] == 0


def test_a_send_cut_off_mid_call_is_failed_by_the_sweep_never_resent(conversation, bob, fake_graph):
    from datetime import timedelta

    from django.utils import timezone

    message = _reply(conversation, bob)
    # The worker claimed it, then died before Meta answered.
    Message.objects.filter(pk=message.pk).update(send_status=SendStatus.SENDING, send_attempts=1)
    sending.sweep_outbox(now=timezone.now() + timedelta(minutes=30))
    message.refresh_from_db()
    assert message.send_status == SendStatus.FAILED
    assert "may have been delivered" in message.send_error
    assert fake_graph.stats()["calls"] == {}


def test_a_reply_whose_task_was_lost_is_sent_once_by_the_sweep(conversation, bob, fake_graph):
    from datetime import timedelta

    from django.utils import timezone

    message = _reply(conversation, bob)
    # The broker lost the task (Redis restarted empty): the sweep re-enqueues
    # it; two deliveries of the task (the lost one came back after all) still
    # send it once.
    sending.sweep_outbox(now=timezone.now() + timedelta(minutes=30))
    assert sending.perform_send(message_id=message.pk) == "sent"
    assert sending.perform_send(message_id=message.pk) == "not-queued"
    assert fake_graph.stats()["sends"] == 1


def test_hiding_a_comment_with_a_revoked_token_fails_visibly(page, alice, fake_graph, deliver):
    deliver(simulation.envelope(page.meta_page_id, changes=[simulation.comment(
        page.meta_page_id, at=time.time() - 60, text="Arnaque !", from_id="c1", from_name="Jean Dupont",
        post_id=f"{page.meta_page_id}_1", comment_id=f"{page.meta_page_id}_77")]))
    comment = Message.objects.get(mid=f"{page.meta_page_id}_77")
    fake_graph.set_mode("token_revoked")
    sending.hide_comment(comment=comment, actor=alice, hidden=True, reason="Insultes")
    assert sending.perform_hide(message_id=comment.pk, hidden=True) == "failed"
    comment.refresh_from_db()
    assert comment.is_hidden is False
    assert comment.conversation.events.filter(kind="hide_failed").exists()
    page.refresh_from_db()
    assert page.needs_reconnect is True


def test_profile_lookups_retry_a_bounded_number_of_times():
    from inbox.tasks import fetch_profile, send_message

    assert fetch_profile.max_retries == 3
    # Sends retry through their own bounded backoff, never Celery's autoretry.
    assert not getattr(send_message, "autoretry_for", ())

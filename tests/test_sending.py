"""Replies out through the Graph API (DOMAIN.md "Meta's messaging rules",
META.md §4): the 24 h / 7 day rules, retries with backoff, the ambiguous
1/1357046, echo matching, comments, hides and contact names.

Meta is the local fake Graph API over real HTTP (`fake_graph`); the Celery
hop is replaced by `outbox`, which records what would have been enqueued and
runs it the way the worker would (`sending.perform_send`)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from inbox import simulation, tasks
from inbox.models import (
    AuditLog,
    Channel,
    Contact,
    Conversation,
    ConversationEvent,
    ConversationKind,
    Direction,
    Message,
    Page,
    SendStatus,
)
from inbox.services import sending
from inbox.services.sending import SendRefused

pytestmark = pytest.mark.django_db

PSID = "psid-camille"
HOUR = 3600
DAY = 24 * HOUR


class Outbox:
    """What the services enqueued on commit, and a worker to run it."""

    def __init__(self) -> None:
        self.sends: list[tuple[int, float]] = []
        self.hides: list[tuple[int, bool]] = []
        self.profiles: list[int] = []

    def run_sends(self, limit: int = 10) -> list[str]:
        results = []
        while self.sends and len(results) < limit:
            message_id, _countdown = self.sends.pop(0)
            results.append(sending.perform_send(message_id=message_id))
        return results


@pytest.fixture
def outbox(monkeypatch):
    box = Outbox()
    monkeypatch.setattr(tasks, "enqueue_send", lambda pk, countdown=0: box.sends.append((pk, countdown)))
    monkeypatch.setattr(tasks, "enqueue_hide", lambda pk, hidden: box.hides.append((pk, hidden)))
    monkeypatch.setattr(tasks, "enqueue_fetch_profile", lambda pk: box.profiles.append(pk))
    monkeypatch.setattr(tasks, "enqueue_processing", lambda: None)
    return box


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    """Run the on-commit callbacks of what happens inside, as a real commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def customer_wrote(page: Page, deliver, *, ago: float, text: str = "Vous livrez à Lyon ?",
                   psid: str = PSID) -> Conversation:
    deliver(simulation.envelope(page.meta_page_id, messaging=[
        simulation.message(page.meta_page_id, psid, time.time() - ago, text)]))
    return Conversation.objects.get(page=page, contact__external_id=psid, kind=ConversationKind.PRIVATE)


def customer_commented(page: Page, deliver, *, ago: float, comment_id: str = "1042_555") -> Message:
    deliver(simulation.envelope(page.meta_page_id, changes=[simulation.comment(
        page.meta_page_id, at=time.time() - ago, text="Prix ?", from_id="c-jane", from_name="Jane Doe",
        post_id="1042_98765", comment_id=comment_id)]))
    return Message.objects.get(mid=comment_id)


def reply(conversation: Conversation, author, commit, text: str = "Oui, en 48 h. — Bob", **kwargs) -> Message:
    with commit():
        return sending.send_reply(conversation=conversation, author=author, text=text, **kwargs)


def echo_of(message: Message, *, mid: str, at: float) -> dict:
    page_id = message.page.meta_page_id
    return simulation.envelope(page_id, messaging=[simulation.echo(
        page_id, message.conversation.contact.external_id, at, message.text, mid=mid, app_id="424242",
        metadata=f"reactif:{message.pk}")])


# --- The 24 h and 7 day rules ------------------------------------------------


def test_it_sends_a_text_reply_once_as_a_response_within_24_hours(page, bob, deliver, fake_graph, outbox, commit):
    conversation = customer_wrote(page, deliver, ago=HOUR)
    message = reply(conversation, bob, commit)
    assert message.send_status == SendStatus.QUEUED
    assert outbox.sends == [(message.pk, 0)]

    with commit():
        assert outbox.run_sends() == ["sent"]
    message.refresh_from_db()
    assert message.send_status == SendStatus.SENT
    [sent] = fake_graph.sends
    assert sent["recipient"] == {"id": PSID}
    assert sent["messaging_type"] == "RESPONSE"
    assert sent["tag"] is None
    assert sent["metadata"] == f"reactif:{message.pk}"
    assert message.mid == sent["mid"]
    assert message.messaging_type == "RESPONSE"
    conversation.refresh_from_db()
    assert conversation.assignee == bob
    assert conversation.last_page_reply_at == message.timestamp
    # A redelivered task (late acks after a killed worker) sends nothing more.
    assert sending.perform_send(message_id=message.pk) == "not-queued"
    assert fake_graph.stats()["sends"] == 1


def test_it_sends_with_the_human_agent_tag_from_24_hours_to_7_days_when_the_page_has_it(
    page, bob, deliver, fake_graph, outbox, commit
):
    Page.objects.filter(pk=page.pk).update(human_agent_enabled=True)
    conversation = customer_wrote(page, deliver, ago=3 * DAY)
    message = reply(conversation, bob, commit)
    with commit():
        outbox.run_sends()
    [sent] = fake_graph.sends
    assert (sent["messaging_type"], sent["tag"]) == ("MESSAGE_TAG", "HUMAN_AGENT")
    message.refresh_from_db()
    assert (message.messaging_type, message.tag, message.send_status) == ("MESSAGE_TAG", "HUMAN_AGENT", "sent")


def test_it_refuses_a_reply_after_24_hours_when_the_page_has_no_human_agent(page, bob, deliver, fake_graph,
                                                                            outbox, commit):
    conversation = customer_wrote(page, deliver, ago=DAY + 60)
    with pytest.raises(SendRefused) as refused:
        reply(conversation, bob, commit)
    assert refused.value.code == "window"
    assert "HUMAN_AGENT" in refused.value.reason
    assert not Message.objects.filter(direction=Direction.OUTBOUND).exists()
    assert outbox.sends == []


def test_it_refuses_a_reply_after_7_days_even_with_human_agent(page, bob, deliver, fake_graph, outbox, commit):
    Page.objects.filter(pk=page.pk).update(human_agent_enabled=True)
    conversation = customer_wrote(page, deliver, ago=7 * DAY + 60)
    with pytest.raises(SendRefused) as refused:
        reply(conversation, bob, commit)
    assert refused.value.code == "window"
    assert "7 days" in refused.value.reason
    assert not Message.objects.filter(direction=Direction.OUTBOUND).exists()


def test_it_refuses_an_empty_or_too_long_private_reply(page, bob, deliver, outbox, commit):
    conversation = customer_wrote(page, deliver, ago=60)
    for text, code in [("   ", "empty"), ("x" * 2000, "too_long")]:
        with pytest.raises(SendRefused) as refused:
            reply(conversation, bob, commit, text=text)
        assert refused.value.code == code
    reply(conversation, bob, commit, text="x" * 1999)
    assert len(outbox.sends) == 1


# --- Retries ---------------------------------------------------------------------


@pytest.mark.parametrize("mode,code", [("temporary", 2), ("rate_limit", 613), ("app_limit", 4)])
def test_a_transient_error_is_retried_with_backoff_and_sent_once(page, bob, deliver, fake_graph, outbox,
                                                                 commit, mode, code):
    conversation = customer_wrote(page, deliver, ago=HOUR)
    fake_graph.set_mode(mode, times=1)
    message = reply(conversation, bob, commit)

    before = timezone.now()
    with commit():
        assert outbox.run_sends(limit=1) == ["retrying"]
    after = timezone.now()
    message.refresh_from_db()
    assert message.send_status == SendStatus.QUEUED
    assert message.send_error_code == code
    # Enqueued again with the first backoff step, and due then for the sweep.
    assert outbox.sends == [(message.pk, 5)]
    assert before + timedelta(seconds=5) <= message.next_attempt_at <= after + timedelta(seconds=5)

    with commit():
        assert outbox.run_sends() == ["sent"]
    message.refresh_from_db()
    assert message.send_status == SendStatus.SENT
    assert message.send_attempts == 2
    assert message.send_error == ""
    assert fake_graph.stats()["sends"] == 1
    assert fake_graph.stats()["double_sends"] == 0


def test_retries_back_off_and_give_up_after_the_last_attempt(page, bob, deliver, fake_graph, outbox, commit):
    conversation = customer_wrote(page, deliver, ago=HOUR)
    fake_graph.set_mode("temporary")
    message = reply(conversation, bob, commit)
    countdowns = []
    for _ in range(sending.MAX_SEND_ATTEMPTS):
        countdowns.append(outbox.sends[0][1])
        with commit():
            outbox.run_sends(limit=1)
    assert countdowns == [0, 5, 20, 80, 320]
    assert outbox.sends == []
    message.refresh_from_db()
    assert message.send_status == SendStatus.FAILED
    assert message.send_attempts == sending.MAX_SEND_ATTEMPTS
    assert "retry your request later" in message.send_error
    assert message.maybe_delivered is False


def test_the_celery_task_retries_a_code_2_and_sends_once(page, bob, deliver, fake_graph, commit, settings):
    """The same, through the real task and its on-commit retry (Celery eager)."""
    from config.celery import app

    conversation = customer_wrote(page, deliver, ago=HOUR)
    fake_graph.set_mode("temporary", times=1)
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    try:
        message = reply(conversation, bob, commit)
    finally:
        app.conf.task_always_eager = False
        app.conf.task_eager_propagates = False
    message.refresh_from_db()
    assert message.send_status == SendStatus.SENT
    assert message.send_attempts == 2
    assert fake_graph.stats()["sends"] == 1
    assert fake_graph.stats()["calls"] == {"POST messages": 2}


def test_it_never_resends_after_the_ambiguous_error_and_the_echo_confirms_it(page, bob, deliver, fake_graph,
                                                                            outbox, commit):
    conversation = customer_wrote(page, deliver, ago=HOUR)
    fake_graph.set_mode("ambiguous", times=1)  # Meta errs, but the message went out
    message = reply(conversation, bob, commit)
    with commit():
        assert outbox.run_sends() == ["failed"]
    message.refresh_from_db()
    assert message.send_status == SendStatus.FAILED
    assert message.maybe_delivered is True
    assert "may have been delivered" in message.send_error
    assert (message.send_error_code, message.send_error_subcode) == (1, 1357046)
    assert outbox.sends == []  # no automatic retry

    # Meta's echo comes back: it was delivered. No second message.
    [sent] = fake_graph.sends
    echo_at = time.time() - 2
    deliver(echo_of(message, mid=sent["mid"], at=echo_at))
    message.refresh_from_db()
    assert message.send_status == SendStatus.SENT
    assert message.maybe_delivered is False
    assert message.send_error == ""
    assert message.mid == sent["mid"]
    assert abs(message.timestamp.timestamp() - echo_at) < 0.002
    assert Message.objects.filter(direction=Direction.OUTBOUND).count() == 1
    assert fake_graph.stats()["sends"] == 1


def test_a_revoked_token_fails_the_reply_and_asks_for_a_reconnection(page, bob, deliver, fake_graph, outbox,
                                                                      commit):
    conversation = customer_wrote(page, deliver, ago=HOUR)
    fake_graph.set_mode("token_revoked", times=1)
    message = reply(conversation, bob, commit)
    with commit():
        assert outbox.run_sends() == ["failed"]
    message.refresh_from_db()
    assert message.send_status == SendStatus.FAILED
    assert message.send_error_code == 190
    assert "reconnect" in message.send_error
    page.refresh_from_db()
    assert page.needs_reconnect is True
    with pytest.raises(SendRefused) as refused:
        reply(conversation, bob, commit, text="Autre réponse")
    assert refused.value.code == "reconnect"


def test_outside_the_window_meta_refuses_and_the_reply_fails_with_its_reason(page, bob, deliver, fake_graph,
                                                                           outbox, commit):
    conversation = customer_wrote(page, deliver, ago=HOUR)
    fake_graph.set_mode("outside_window", times=1)
    message = reply(conversation, bob, commit)
    with commit():
        assert outbox.run_sends() == ["failed"]
    message.refresh_from_db()
    assert message.send_status == SendStatus.FAILED
    assert (message.send_error_code, message.send_error_subcode) == (10, 2018278)
    assert "sent outside of allowed window" in message.send_error
    assert message.maybe_delivered is False
    assert outbox.sends == []
    assert fake_graph.stats()["sends"] == 0


def test_a_slow_graph_api_never_hangs_the_worker(page, bob, deliver, fake_graph, outbox, commit, settings):
    settings.META_GRAPH_TIMEOUT = 0.5
    conversation = customer_wrote(page, deliver, ago=HOUR)
    fake_graph.set_mode("ok", delay=10)
    message = reply(conversation, bob, commit)
    started = time.monotonic()
    with commit():
        assert outbox.run_sends() == ["failed"]
    assert time.monotonic() - started < 5  # 0.5 s of timeout, not Meta's 10 s (slack for a loaded machine)
    message.refresh_from_db()
    # The request left: Meta may have acted on it, so it is never re-sent blindly.
    assert message.send_status == SendStatus.FAILED
    assert message.maybe_delivered is True
    assert "did not answer in time" in message.send_error
    assert outbox.sends == []


def test_an_unreachable_graph_api_is_retried(page, bob, deliver, outbox, commit, settings):
    settings.META_GRAPH_URL = "http://127.0.0.1:9/v25.0"  # nothing listens on the discard port
    conversation = customer_wrote(page, deliver, ago=HOUR)
    message = reply(conversation, bob, commit)
    with commit():
        assert outbox.run_sends(limit=1) == ["retrying"]
    message.refresh_from_db()
    assert message.send_status == SendStatus.QUEUED
    assert "could not be reached" in message.send_error


# --- Echoes ------------------------------------------------------------------


def test_the_echo_of_our_reply_is_matched_and_sets_the_platform_timestamp(page, bob, deliver, fake_graph,
                                                                          outbox, commit):
    conversation = customer_wrote(page, deliver, ago=HOUR)
    message = reply(conversation, bob, commit)
    with commit():
        outbox.run_sends()
    message.refresh_from_db()
    echo_at = message.timestamp.timestamp() - 0.4  # Meta stamped it before its answer reached us
    deliver(echo_of(message, mid=message.mid, at=echo_at))
    deliver(echo_of(message, mid=message.mid, at=echo_at))  # Meta retries deliveries
    message.refresh_from_db()
    assert abs(message.timestamp.timestamp() - echo_at) < 0.002
    assert message.send_status == SendStatus.SENT
    assert Message.objects.filter(conversation=conversation, direction=Direction.OUTBOUND).count() == 1


def test_an_echo_that_beats_the_graph_answer_confirms_the_reply_once(page, bob, deliver, fake_graph, outbox,
                                                                     commit, monkeypatch):
    conversation = customer_wrote(page, deliver, ago=HOUR)
    message = reply(conversation, bob, commit)
    call_graph = sending._call_graph
    echo_at = time.time() - 1

    def meta_echoes_first(client, outbound):
        result = call_graph(client, outbound)
        deliver(echo_of(outbound, mid=result["message_id"], at=echo_at))
        return result

    monkeypatch.setattr(sending, "_call_graph", meta_echoes_first)
    with commit():
        assert outbox.run_sends() == ["already-confirmed"]
    message.refresh_from_db()
    assert message.send_status == SendStatus.SENT
    assert abs(message.timestamp.timestamp() - echo_at) < 0.002
    assert Message.objects.filter(direction=Direction.OUTBOUND).count() == 1
    assert fake_graph.stats()["sends"] == 1


def test_an_echo_of_a_message_sent_elsewhere_is_a_page_reply(page, deliver):
    conversation = customer_wrote(page, deliver, ago=HOUR)
    deliver(simulation.envelope(page.meta_page_id, messaging=[
        simulation.echo(page.meta_page_id, PSID, time.time() - 60, "Réponse depuis Meta", mid="m_meta")]))
    external = Message.objects.get(mid="m_meta")
    assert (external.direction, external.send_status, external.conversation) == ("out", "external", conversation)


# --- Comments -------------------------------------------------------------------


def test_it_replies_publicly_under_a_comment(page, bob, deliver, fake_graph, outbox, commit):
    comment = customer_commented(page, deliver, ago=HOUR)
    message = reply(comment.conversation, bob, commit, channel=Channel.COMMENT, comment=comment)
    with commit():
        assert outbox.run_sends() == ["sent"]
    message.refresh_from_db()
    assert fake_graph.stats()["calls"] == {"POST comments": 1}
    assert fake_graph.sends[0]["text"] == message.text
    assert message.mid and message.mid.startswith("1042_")
    assert message.parent_comment_id == comment.mid
    assert message.send_status == SendStatus.SENT


def test_the_webhook_of_our_public_reply_before_the_graph_answer_ends_as_one_message(
    page, bob, deliver, fake_graph, outbox, commit, monkeypatch
):
    comment = customer_commented(page, deliver, ago=HOUR)
    message = reply(comment.conversation, bob, commit, channel=Channel.COMMENT, comment=comment)
    call_graph = sending._call_graph
    created = int(time.time()) - 1

    def feed_webhook_first(client, outbound):
        result = call_graph(client, outbound)
        deliver(simulation.envelope(page.meta_page_id, changes=[simulation.comment(
            page.meta_page_id, at=created, text=outbound.text, from_id=page.meta_page_id,
            from_name=page.name, post_id="1042_98765", comment_id=result["id"], parent_id=comment.mid)]))
        assert Message.objects.filter(mid=result["id"], send_status=SendStatus.EXTERNAL).exists()
        return result

    monkeypatch.setattr(sending, "_call_graph", feed_webhook_first)
    with commit():
        assert outbox.run_sends() == ["sent"]
    replies = Message.objects.filter(conversation=comment.conversation, direction=Direction.OUTBOUND)
    assert replies.count() == 1
    [ours] = replies
    assert ours.pk == message.pk
    assert ours.author == bob
    assert ours.send_status == SendStatus.SENT
    assert ours.timestamp.timestamp() == created  # the platform's created_time


def test_the_webhook_of_our_public_reply_after_the_graph_answer_sets_its_platform_time(
    page, bob, deliver, fake_graph, outbox, commit
):
    comment = customer_commented(page, deliver, ago=HOUR)
    message = reply(comment.conversation, bob, commit, channel=Channel.COMMENT, comment=comment)
    with commit():
        outbox.run_sends()
    message.refresh_from_db()
    created = int(message.timestamp.timestamp()) - 1
    deliver(simulation.envelope(page.meta_page_id, changes=[simulation.comment(
        page.meta_page_id, at=created, text=message.text, from_id=page.meta_page_id, from_name=page.name,
        post_id="1042_98765", comment_id=message.mid, parent_id=comment.mid)]))
    message.refresh_from_db()
    assert message.timestamp.timestamp() == created
    assert Message.objects.filter(direction=Direction.OUTBOUND).count() == 1


def test_it_sends_one_private_reply_to_a_comment(page, bob, alice, deliver, fake_graph, outbox, commit):
    comment = customer_commented(page, deliver, ago=2 * DAY)
    message = reply(comment.conversation, bob, commit, channel=Channel.PRIVATE_REPLY, comment=comment,
                    text="Je vous envoie les prix en privé.")
    with commit():
        assert outbox.run_sends() == ["sent"]
    [sent] = fake_graph.sends
    assert sent["recipient"] == {"comment_id": comment.mid}
    assert sent["metadata"] == f"reactif:{message.pk}"
    message.refresh_from_db()
    assert (message.channel, message.recipient_comment_id, message.send_status) == (
        "private_reply", comment.mid, "sent")
    with pytest.raises(SendRefused) as refused:
        reply(comment.conversation, alice, commit, channel=Channel.PRIVATE_REPLY, comment=comment)
    assert refused.value.code == "private_reply"
    assert "only one" in refused.value.reason


def test_a_private_reply_that_may_have_gone_out_counts_as_the_one(page, bob, deliver, fake_graph, outbox,
                                                                  commit):
    comment = customer_commented(page, deliver, ago=HOUR)
    fake_graph.set_mode("ambiguous", times=1)
    reply(comment.conversation, bob, commit, channel=Channel.PRIVATE_REPLY, comment=comment)
    with commit():
        assert outbox.run_sends() == ["failed"]
    with pytest.raises(SendRefused):
        reply(comment.conversation, bob, commit, channel=Channel.PRIVATE_REPLY, comment=comment)


def test_a_private_reply_that_certainly_failed_can_be_written_again(page, bob, deliver, fake_graph, outbox,
                                                                    commit):
    comment = customer_commented(page, deliver, ago=HOUR)
    fake_graph.set_mode("unavailable_user", times=1)
    reply(comment.conversation, bob, commit, channel=Channel.PRIVATE_REPLY, comment=comment)
    with commit():
        assert outbox.run_sends() == ["failed"]
    reply(comment.conversation, bob, commit, channel=Channel.PRIVATE_REPLY, comment=comment)
    with commit():
        assert outbox.run_sends() == ["sent"]


def test_it_refuses_a_private_reply_to_a_comment_older_than_7_days(page, bob, deliver, outbox, commit):
    comment = customer_commented(page, deliver, ago=7 * DAY + 60)
    with pytest.raises(SendRefused) as refused:
        reply(comment.conversation, bob, commit, channel=Channel.PRIVATE_REPLY, comment=comment)
    assert "7 days" in refused.value.reason
    assert outbox.sends == []


def test_a_messenger_reply_in_a_public_thread_is_refused(page, bob, deliver, outbox, commit):
    comment = customer_commented(page, deliver, ago=HOUR)
    with pytest.raises(SendRefused) as refused:
        reply(comment.conversation, bob, commit)
    assert refused.value.code == "channel"


def test_hiding_a_comment_needs_a_reason(page, bob, deliver, fake_graph, outbox, commit):
    comment = customer_commented(page, deliver, ago=HOUR)
    with pytest.raises(SendRefused) as refused, commit():
        sending.hide_comment(comment=comment, actor=bob, hidden=True, reason="  ")
    assert refused.value.code == "reason"
    assert not AuditLog.objects.exists()
    assert outbox.hides == []


def test_hiding_a_comment_is_logged_and_done_through_the_graph_api(page, bob, deliver, fake_graph, outbox,
                                                                   commit):
    comment = customer_commented(page, deliver, ago=HOUR)
    with commit():
        sending.hide_comment(comment=comment, actor=bob, hidden=True, reason="Insults another customer")
    log = AuditLog.objects.get()
    assert (log.actor, log.page, log.action) == (bob, page, "comment_hidden")
    assert log.data["reason"] == "Insults another customer"
    assert log.data["comment_id"] == comment.mid
    assert ConversationEvent.objects.filter(kind="hide_requested", actor=bob).exists()
    assert outbox.hides == [(comment.pk, True)]

    assert sending.perform_hide(message_id=comment.pk, hidden=True) == "done"
    assert fake_graph.stats()["calls"] == {"POST node": 1}
    comment.refresh_from_db()
    assert comment.is_hidden is True
    # Meta's own "hide" webhook that follows changes nothing more.
    deliver(simulation.envelope(page.meta_page_id, changes=[simulation.comment(
        page.meta_page_id, at=time.time(), text="", from_id="c-jane", from_name="Jane Doe",
        post_id="1042_98765", comment_id=comment.mid, verb="hide")]))
    assert ConversationEvent.objects.filter(kind="comment_hide").count() == 0


def test_a_failed_hide_is_recorded_and_the_comment_stays_visible(page, bob, deliver, fake_graph, outbox):
    comment = customer_commented(page, deliver, ago=HOUR)
    fake_graph.set_mode("token_revoked", times=1)
    assert sending.perform_hide(message_id=comment.pk, hidden=True) == "failed"
    comment.refresh_from_db()
    assert comment.is_hidden is False
    assert ConversationEvent.objects.filter(kind="hide_failed").exists()
    assert Page.objects.get(pk=page.pk).needs_reconnect is True


# --- Contact names -------------------------------------------------------------


def test_a_new_contact_gets_its_name_from_the_graph_api(page, deliver, fake_graph, outbox, commit):
    with commit():
        customer_wrote(page, deliver, ago=60, psid="psid-new")
    contact = Contact.objects.get(external_id="psid-new")
    assert outbox.profiles == [contact.pk]
    assert sending.fetch_profile(contact_id=contact.pk) == "fetched"
    contact.refresh_from_db()
    assert contact.first_name and contact.last_name
    assert contact.display_name == f"{contact.first_name} {contact.last_name}"
    assert fake_graph.stats()["calls"] == {"GET node": 1}
    assert sending.fetch_profile(contact_id=contact.pk) == "known"  # asked once
    assert fake_graph.stats()["calls"] == {"GET node": 1}


def test_a_profile_meta_refuses_falls_back_to_facebook_user(page, deliver, fake_graph, outbox):
    customer_wrote(page, deliver, ago=60, psid="psid-phone-only")
    contact = Contact.objects.get(external_id="psid-phone-only")
    fake_graph.set_mode("no_profile", times=1)
    assert sending.fetch_profile(contact_id=contact.pk) == "refused"
    contact.refresh_from_db()
    assert contact.profile_fetched_at is not None
    assert contact.name == ""
    assert contact.display_name == "Facebook user"


def test_a_transient_profile_error_is_left_to_the_task_retry(page, deliver, fake_graph, outbox):
    customer_wrote(page, deliver, ago=60, psid="psid-later")
    contact = Contact.objects.get(external_id="psid-later")
    fake_graph.set_mode("temporary", times=1)
    with pytest.raises(sending.GraphError):
        sending.fetch_profile(contact_id=contact.pk)
    contact.refresh_from_db()
    assert contact.profile_fetched_at is None
    assert sending.fetch_profile(contact_id=contact.pk) == "fetched"


# --- Retrying by hand and the outbox sweep ----------------------------------------


def test_retry_send_only_retries_a_failed_reply(page, bob, deliver, fake_graph, outbox, commit):
    conversation = customer_wrote(page, deliver, ago=HOUR)
    fake_graph.set_mode("unavailable_user", times=1)
    message = reply(conversation, bob, commit)
    with commit():
        assert sending.retry_send(message=message, actor=bob) is False  # still queued
        outbox.run_sends()
    message.refresh_from_db()
    assert message.send_status == SendStatus.FAILED

    with commit():
        assert sending.retry_send(message=message, actor=bob) is True
    message.refresh_from_db()
    assert (message.send_status, message.send_error, message.send_attempts) == ("queued", "", 0)
    assert outbox.sends == [(message.pk, 0)]
    assert ConversationEvent.objects.filter(kind="send_retried", actor=bob).exists()
    with commit():
        assert outbox.run_sends() == ["sent"]
    with commit():
        assert sending.retry_send(message=message, actor=bob) is False  # sent: never again
    assert outbox.sends == []
    assert fake_graph.stats()["sends"] == 1


def test_retry_send_asks_for_confirmation_when_the_reply_may_have_gone_out(page, bob, deliver, fake_graph,
                                                                          outbox, commit):
    conversation = customer_wrote(page, deliver, ago=HOUR)
    fake_graph.set_mode("ambiguous", times=1)
    message = reply(conversation, bob, commit)
    with commit():
        outbox.run_sends()
    with pytest.raises(SendRefused) as refused, commit():
        sending.retry_send(message=message, actor=bob)
    assert refused.value.code == "maybe_delivered"
    assert outbox.sends == []
    with commit():
        assert sending.retry_send(message=message, actor=bob, confirmed=True) is True
    assert outbox.sends == [(message.pk, 0)]


def test_retry_send_checks_the_window_again(page, bob, deliver, fake_graph, outbox, commit):
    conversation = customer_wrote(page, deliver, ago=HOUR)
    fake_graph.set_mode("unavailable_user", times=1)
    message = reply(conversation, bob, commit)
    with commit():
        outbox.run_sends()
    with pytest.raises(SendRefused) as refused:
        sending.retry_send(message=message, actor=bob, now=timezone.now() + timedelta(days=2))
    assert refused.value.code == "window"
    assert Message.objects.get(pk=message.pk).send_status == SendStatus.FAILED


def test_the_outbox_sweep_requeues_lost_sends_and_fails_interrupted_ones(page, bob, deliver, fake_graph, outbox,
                                                                        commit):
    conversation = customer_wrote(page, deliver, ago=HOUR)
    now = timezone.now()
    lost, fresh, backing_off, interrupted, in_flight = (reply(conversation, bob, commit, text=f"r{n}")
                                                        for n in range(5))
    outbox.sends.clear()  # their tasks were lost with the broker
    Message.objects.filter(pk=lost.pk).update(next_attempt_at=now - timedelta(minutes=3))
    # Waiting out a 320 s backoff: not lost, even though created long ago.
    Message.objects.filter(pk=backing_off.pk).update(
        created_at=now - timedelta(hours=1), next_attempt_at=now + timedelta(minutes=4))
    Message.objects.filter(pk=interrupted.pk).update(
        send_status=SendStatus.SENDING, attempt_started_at=now - timedelta(minutes=6))
    # A fifth attempt that started a second ago, on a reply created long ago.
    Message.objects.filter(pk=in_flight.pk).update(
        send_status=SendStatus.SENDING, created_at=now - timedelta(hours=1),
        attempt_started_at=now - timedelta(seconds=1))

    with commit():
        assert sending.sweep_outbox(now=now) == (1, 1)
    assert outbox.sends == [(lost.pk, 0)]
    statuses = dict(Message.objects.filter(direction=Direction.OUTBOUND).values_list("pk", "send_status"))
    assert statuses == {lost.pk: "queued", fresh.pk: "queued", backing_off.pk: "queued",
                        interrupted.pk: "failed", in_flight.pk: "sending"}
    interrupted.refresh_from_db()
    assert interrupted.maybe_delivered is True
    assert "may have been delivered" in interrupted.send_error
    assert fake_graph.stats()["calls"] == {}  # the sweep itself never calls Meta

    # The lost one goes out once; sweeping again right away does not re-enqueue it.
    with commit():
        assert outbox.run_sends() == ["sent"]
        assert sending.sweep_outbox(now=now + timedelta(seconds=1)) == (0, 0)
    assert fake_graph.stats()["sends"] == 1


def test_an_attempt_the_sweep_gave_up_on_is_sent_when_meta_answers(page, bob, deliver, fake_graph, outbox,
                                                                   commit, monkeypatch):
    conversation = customer_wrote(page, deliver, ago=HOUR)
    message = reply(conversation, bob, commit)
    call_graph = sending._call_graph

    def worker_frozen_for_minutes(client, outbound):
        sending.sweep_outbox(now=timezone.now() + timedelta(minutes=10))
        assert Message.objects.get(pk=outbound.pk).send_status == SendStatus.FAILED
        return call_graph(client, outbound)

    monkeypatch.setattr(sending, "_call_graph", worker_frozen_for_minutes)
    with commit():
        assert outbox.run_sends() == ["sent"]
    message.refresh_from_db()
    assert (message.send_status, message.maybe_delivered, message.send_error) == ("sent", False, "")

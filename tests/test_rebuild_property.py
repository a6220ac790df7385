"""The worker's incremental path and `rebuild_responsiveness` always agree.

Hypothesis writes a script of messages for a few private conversations and
public threads — customer messages and comments, replies from Meta's inbox,
replies sent from Réactif (queued, confirmed by the Graph API and echoed, in
either order, the echo moving the reply to Meta's timestamp), private replies
to comments, away messages — with timestamps drawn from a small set so that
ties, bursts, the 300 s edge and the 24 h silence all happen. The deliveries
go through the real services in a random order, one by one or in the
worker's batches of random sizes; then the stored ROs, the conversations'
deadlines and the figures must equal what `rebuild` computes from the stored
messages.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inbox import simulation
from inbox.models import (
    Channel,
    Conversation,
    ConversationKind,
    Direction,
    Membership,
    Message,
    Page,
    ResponseOpportunity,
    SendStatus,
)
from inbox.selectors import responsiveness_report
from inbox.services import ingestion, opportunities, sending

from . import ro_helpers as meta
from .conftest import at

T0 = at("2026-11-16 09:00:00")
# Ties, the 300 s edge, an hour, and 24 h of silence give or take a minute.
OFFSETS = [0, 0, 1, 30, 299, 300, 301, 3600, 86400, 86460, 86400 + 3600, 2 * 86400]
KINDS = ["customer", "customer", "echo", "agent", "automatic", "comment", "comment", "page_comment",
         "private_reply"]

step = st.tuples(st.sampled_from(KINDS), st.integers(0, 2), st.sampled_from(OFFSETS), st.booleans())


class _Rollback(Exception):
    pass


class Worker:
    """Processes each stored delivery at once, or keeps them until `flush`
    and applies them as the worker's drain does, in batches of the drawn
    sizes (`ingestion.process_batch`)."""

    def __init__(self, batch_sizes: list[int] | None = None) -> None:
        self.batch_sizes = batch_sizes
        self.pending = 0

    def store(self, payload: dict) -> None:
        delivery, _ = ingestion.store_delivery(body=simulation.encode(payload))
        if self.batch_sizes is None:
            ingestion.process_delivery(delivery_id=delivery.pk)
        else:
            self.pending += 1

    def flush(self) -> None:
        """Before the web acts (an agent sees only processed messages), and at the end."""
        while self.pending:
            size = self.batch_sizes[self.pending % len(self.batch_sizes)] if self.batch_sizes else 1
            taken = ingestion.process_batch(limit=size)
            assert taken == min(size, self.pending), "a batch did not take what was stored"
            self.pending -= taken


_worker = Worker()


def _store_and_process(payload: dict) -> None:
    _worker.store(payload)


class Script:
    """Turns drawn steps into deliveries and service calls for one Page."""

    def __init__(self, page: Page, agent) -> None:
        self.page, self.pid, self.agent = page, page.meta_page_id, agent
        self.roots: dict[int, str] = {}
        self.count = 0

    def actions(self, steps):
        actions = []
        for kind, who, offset, flag in steps:
            self.count += 1
            when = T0 + timedelta(seconds=offset, milliseconds=self.count % 3)
            actions.append(self._action(kind, who, when, flag))
        return actions

    def _action(self, kind, who, when, flag):
        pid, psid = self.pid, f"p{who}"
        if kind == "customer":
            payload = meta.messaging(pid, meta.customer(pid, psid, when))
            return lambda: _store_and_process(payload) or True
        if kind == "echo":
            payload = meta.messaging(pid, meta.echo(pid, psid, when))
            return lambda: _store_and_process(payload) or True
        if kind in ("comment", "page_comment"):
            root = self.roots.get(who)
            if root is None and kind == "comment":
                root = self.roots[who] = f"{pid}_1_{who}00"
                payload = meta.comment(pid, when, from_id=f"c{who}", from_name="Léa", comment_id=root)
            elif root is None:
                return lambda: True  # nothing to answer yet in this script
            else:
                from_id = pid if kind == "page_comment" else f"c{who}"
                payload = meta.comment(pid, when, from_id=from_id, parent_id=root)
            return lambda: _store_and_process(payload) or True
        if kind == "automatic":
            return lambda: _worker.flush() or self._automatic(psid, when)
        if kind == "agent":
            return lambda: _worker.flush() or self._agent_reply(psid, when, echo_first=flag)
        return lambda: _worker.flush() or self._private_reply(who, when, echo_first=flag)

    def _conversation(self, psid):
        return Conversation.objects.filter(page=self.page, kind=ConversationKind.PRIVATE,
                                           contact__external_id=psid).first()

    def _automatic(self, psid, when) -> bool:
        conversation = self._conversation(psid)
        if conversation is None:
            return False
        away = sending.send_automatic(conversation=conversation, text="Fermé", now=when)
        _store_and_process(meta.messaging(self.pid, meta.echo(
            self.pid, psid, when + timedelta(seconds=1), metadata=ingestion.metadata_for(away), app_id="424242")))
        return True

    def _send(self, conversation, when, *, channel=Channel.MESSENGER, recipient_comment_id=""):
        # The row send_reply stores before any call to Meta (its checks of
        # Meta's windows are not what this test is about).
        return Message.objects.create(
            page=self.page, conversation=conversation, direction=Direction.OUTBOUND, channel=channel,
            timestamp=when - timedelta(seconds=2), author=self.agent, text="Réponse",
            send_status=SendStatus.QUEUED, recipient_comment_id=recipient_comment_id,
        )

    def _confirm_and_echo(self, reply, psid, when, echo_first):
        mid = f"m_sent_{reply.pk}"
        echo = meta.messaging(self.pid, meta.echo(self.pid, psid, when, mid=mid,
                                                  metadata=ingestion.metadata_for(reply), app_id="424242"))
        if echo_first:
            _store_and_process(echo)
            sending._record_sent(reply.pk, mid)
        else:
            # The Graph API's answer first: stamped with our clock (now),
            # then moved to Meta's timestamp by the echo.
            sending._record_sent(reply.pk, mid)
            _store_and_process(echo)

    def _agent_reply(self, psid, when, *, echo_first) -> bool:
        conversation = self._conversation(psid)
        if conversation is None:
            return False
        self._confirm_and_echo(self._send(conversation, when), psid, when, echo_first)
        return True

    def _private_reply(self, who, when, *, echo_first) -> bool:
        root = self.roots.get(who)
        thread = root and Conversation.objects.filter(page=self.page, kind=ConversationKind.PUBLIC,
                                                      root_comment_id=root).first()
        if not thread:
            return False
        reply = self._send(thread, when, channel=Channel.PRIVATE_REPLY, recipient_comment_id=root)
        self._confirm_and_echo(reply, f"private-{who}", when, echo_first)
        return True


def snapshot(page, now):
    ros = sorted(
        ResponseOpportunity.objects.filter(page=page).values_list(
            "conversation_id", "kind", "opened_by_id", "opened_at", "clock_start", "due_at", "closed_by_id",
            "closed_at", "response_seconds", "responder_id", "starts_conversation", "status",
        )
    )
    due = sorted(Conversation.objects.filter(page=page).values_list("pk", "due_at", "received_while_closed"))
    figures = {
        (kind, days): responsiveness_report(page=page, kind=kind, days=days, now=now).as_json()
        for kind in ConversationKind.values for days in (1, 7, 30)
    }
    return ros, due, figures


@pytest.mark.django_db
@pytest.mark.parametrize("batched", [False, True], ids=["one-by-one", "batches"])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(step, min_size=1, max_size=14), data=st.data())
def test_the_worker_and_rebuild_always_agree(batched, steps, data):
    global _worker
    sizes = data.draw(st.lists(st.integers(1, 6), min_size=1, max_size=4), label="batch sizes") if batched else None
    _worker = Worker(sizes)
    try:
        with transaction.atomic():
            page = Page.objects.create(meta_page_id="777001", name="Propriété", timezone="Europe/Paris")
            agent = get_user_model().objects.create_user(username="agent-prop", first_name="Agnès")
            Membership.objects.create(user=agent, page=page, role="agent")
            actions = Script(page, agent).actions(steps)
            order = data.draw(st.permutations(range(len(actions))), label="delivery order")
            deferred = [n for n in order if not actions[n]()]
            for n in deferred:  # their conversation came later in this order
                actions[n]()
            _worker.flush()

            now = timezone.now()
            opportunities.mark_deadlines(now=now)
            kept = snapshot(page, now)
            opportunities.rebuild(page=page, now=now)
            rebuilt = snapshot(page, now)

            assert rebuilt[0] == kept[0], "stored ROs differ from a rebuild"
            assert rebuilt[1] == kept[1], "conversation deadlines differ from a rebuild"
            assert rebuilt[2] == kept[2], "figures differ from a rebuild"
            raise _Rollback
    except _Rollback:
        pass

"""Four weeks of a bakery's messages, for the dashboard's tests and screenshots.

Messages are written as rows (thousands of deliveries would take minutes),
then `opportunities.rebuild` — the real service behind
`rebuild_responsiveness` — computes the ROs and the daily rollups from them.
The shape is a real one: busier at lunch and in the evening, slower answers
(and more misses) at the Monday-morning and lunchtime rushes, messages at
night answered at the opening, a few replies from Meta's own inbox, public
comments answered within the hour.
"""

from __future__ import annotations

import itertools
import random
from datetime import datetime, timedelta
from typing import Any

from inbox.models import (
    Channel,
    Contact,
    Conversation,
    ConversationKind,
    ConversationStatus,
    Direction,
    Message,
    OpeningInterval,
    Page,
    SendStatus,
)
from inbox.services import hours, opportunities

FIRST = ["Camille", "Léa", "Hugo", "Chloé", "Lucas", "Manon", "Louis", "Emma", "Jules", "Inès", "Gabriel",
         "Jade", "Arthur", "Zoé", "Nathan", "Sarah", "Tom", "Lina", "Raphaël", "Alice"]
LAST = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Petit", "Durand", "Leroy", "Moreau", "Simon"]
QUESTIONS = ["Bonjour, vous faites des bûches de Noël ?", "Vous êtes ouverts dimanche ?",
             "Je peux commander 30 croissants pour samedi ?", "Il reste des galettes ?",
             "Ma commande n'est pas prête…", "Vous livrez à Villeurbanne ?"]
_ids = itertools.count(1)


def open_monday_to_saturday(page: Page) -> None:
    for weekday in range(6):
        OpeningInterval.objects.create(page=page, weekday=weekday, start_minute=8 * 60, end_minute=19 * 60)
    hours.hours_changed(page)


def _response_seconds(rng: random.Random, local: datetime, kind: str) -> float | None:
    if kind == ConversationKind.PUBLIC:
        return rng.choice([None, rng.uniform(300, 2400), rng.uniform(600, 3000), rng.uniform(2000, 7000)])
    rush = (local.weekday() == 0 and local.hour < 11) or 12 <= local.hour < 14
    if rng.random() < (0.13 if rush else 0.025):
        return rng.uniform(320, 1500)  # missed
    return rng.lognormvariate(4.4, 0.55)  # about 80 s, rarely over 4 min


def seed_history(page: Page, agents: list[Any], *, now: datetime, days: int = 28, per_day: int = 24,
                 seed: int = 2026, unanswered_now: int = 2) -> None:
    rng = random.Random(seed)
    schedule = hours.schedule_for(page)
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(page.timezone)
    contacts = [
        Contact.objects.create(page=page, external_id=f"psid-{page.pk}-{n}",
                               name=f"{rng.choice(FIRST)} {rng.choice(LAST)}")
        for n in range(60)
    ]
    conversations = {
        contact.pk: Conversation.objects.create(page=page, contact=contact, kind=ConversationKind.PRIVATE)
        for contact in contacts
    }
    messages: list[Message] = []
    start = now - timedelta(days=days)
    for day in range(days + 1):
        for _ in range(rng.randint(per_day - 8, per_day + 8)):
            hour = rng.choices(range(24), weights=[1, 1, 0, 0, 0, 0, 1, 2, 4, 5, 5, 5, 8, 8, 5, 4, 4, 5,
                                                   6, 6, 5, 4, 3, 2])[0]
            opened = (start + timedelta(days=day)).replace(hour=hour, minute=rng.randrange(60),
                                                           second=rng.randrange(60))
            if opened >= now - timedelta(minutes=30):
                continue
            kind = ConversationKind.PUBLIC if rng.random() < 0.15 else ConversationKind.PRIVATE
            contact = rng.choice(contacts)
            if kind == ConversationKind.PUBLIC:
                root = f"{page.meta_page_id}_{next(_ids)}"
                conversation = Conversation.objects.create(page=page, contact=contact, kind=kind,
                                                           root_comment_id=root, post_id=f"{page.meta_page_id}_9")
            else:
                conversation = conversations[contact.pk]
            channel = Channel.COMMENT if kind == ConversationKind.PUBLIC else Channel.MESSENGER
            messages.append(Message(page=page, conversation=conversation, mid=f"m-{next(_ids)}",
                                    direction=Direction.INBOUND, channel=channel, timestamp=opened,
                                    text=rng.choice(QUESTIONS)))
            if rng.random() < 0.2:  # a second message right after: a burst
                messages.append(Message(page=page, conversation=conversation, mid=f"m-{next(_ids)}",
                                        direction=Direction.INBOUND, channel=channel,
                                        timestamp=opened + timedelta(seconds=rng.randint(5, 40)), text="?"))
            clock = schedule.clock_start(opened)
            seconds = _response_seconds(rng, clock.astimezone(zone), kind)
            if seconds is None:
                continue
            replied = clock + timedelta(seconds=seconds)
            if replied >= now:
                continue
            external = rng.random() < 0.08
            author = None if external else rng.choices(agents, weights=[5, 3, 2][: len(agents)])[0]
            messages.append(Message(
                page=page, conversation=conversation, mid=f"m-{next(_ids)}", direction=Direction.OUTBOUND,
                channel=channel, timestamp=replied, author=author, text="Bonjour, oui bien sûr !",
                send_status=SendStatus.EXTERNAL if external else SendStatus.SENT, sent_at=replied,
                is_unedited_saved_reply=bool(author) and rng.random() < (0.55 if author == agents[-1] else 0.2),
            ))
    # Customers waiting right now: one about to be late, one already late.
    for n, age in enumerate([250, 700][:unanswered_now]):
        contact = contacts[n]
        messages.append(Message(page=page, conversation=conversations[contact.pk], mid=f"m-now-{next(_ids)}",
                                direction=Direction.INBOUND, channel=Channel.MESSENGER,
                                timestamp=now - timedelta(seconds=age), text="Vous êtes là ?"))
    Message.objects.bulk_create(messages)
    opportunities.rebuild(page=page, now=now)
    # Agents closed what they chose not to answer (spam, "thanks!"): only the
    # customers waiting now stay open in the queue.
    Conversation.objects.filter(page=page, due_at__lt=now - timedelta(hours=1)).update(
        status=ConversationStatus.DONE)

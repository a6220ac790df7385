"""Row locks never block foreign-key checks.

PostgreSQL checks a foreign key by taking FOR KEY SHARE on the row it points
to (at COMMIT: Django's foreign keys are deferred). A plain FOR UPDATE
conflicts with it, so a worker holding a conversation FOR UPDATE while it
waits for a response opportunity that another worker holds, while that one
commits a message pointing at the conversation, is a deadlock (two beats, or
the sweep and a task, did it). FOR NO KEY UPDATE excludes every other writer
of the row just the same and lets the key checks through."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
from django.db import connection, connections, transaction

from inbox.models import ConversationEvent

ROOT = Path(__file__).resolve().parent.parent


def test_every_row_lock_in_the_app_is_a_no_key_lock():
    plain = []
    for path in [*ROOT.glob("inbox/**/*.py"), *ROOT.glob("templates_app/**/*.py")]:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for call in re.findall(r"select_for_update\((.*)", line):
                if "no_key=True" not in call:
                    plain.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert plain == [], "lock with select_for_update(no_key=True):\n" + "\n".join(plain)


@pytest.mark.django_db(transaction=True)
def test_a_locked_conversation_still_takes_new_rows_pointing_at_it(page, deliver):
    from inbox import simulation
    from inbox.services import ingestion

    deliver(simulation.envelope(page.meta_page_id, messaging=[
        simulation.message(page.meta_page_id, "psid-lock", 1_795_000_000, "Bonjour")]))
    conversation = page.conversations.get()
    committed = threading.Event()
    errors: list[BaseException] = []

    def other_worker() -> None:
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL lock_timeout = '3s'")
                ConversationEvent.objects.create(conversation_id=conversation.pk, kind="referral",
                                                 at=conversation.last_message_at, data={})
            committed.set()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    message = conversation.messages.get()
    with transaction.atomic():
        ingestion.message_added(message)  # takes the conversation's row lock, as processing does
        thread = threading.Thread(target=other_worker)
        thread.start()
        thread.join(timeout=10)
    assert errors == [] and committed.is_set()

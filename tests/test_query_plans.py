"""The worker's lookups reach their rows through an index, whatever the
number of contacts: PostgreSQL's own plan, read with EXPLAIN on a table big
enough for the planner to care (a sequential scan of every Page's contacts
once cost 9 ms a message at 100 k contacts, and grew with them)."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from inbox.models import Contact, Conversation, ConversationKind
from inbox.services import ingestion

pytestmark = pytest.mark.django_db

CONTACTS = 5_000


def plan(sql: str, params: tuple) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.fixture
def many_contacts(page, other_page):
    # Most contacts on another Page: the lookup must not wade through them.
    contacts = Contact.objects.bulk_create(
        Contact(page=other_page if n % 10 else page, external_id=f"psid-{n:06d}") for n in range(CONTACTS)
    )
    Conversation.objects.bulk_create(
        Conversation(page=contact.page, contact=contact, kind=ConversationKind.PRIVATE) for contact in contacts
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE inbox_contact")
        cursor.execute("ANALYZE inbox_conversation")
    return contacts


def captured(work) -> list[tuple[str, tuple]]:
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        work()
    return [(q["sql"], ()) for q in queries.captured_queries if q["sql"].startswith("SELECT")]


def test_a_customer_message_finds_its_thread_through_the_contact_index(page, many_contacts):
    queries = captured(lambda: ingestion._locked_private_conversation(page, "psid-000010"))
    assert len(queries) == 1
    explained = plan(*queries[0])
    assert "contact_unique_page_external_id" in explained
    assert "Seq Scan on inbox_contact" not in explained


def test_a_read_receipt_finds_its_thread_through_the_contact_index(page, many_contacts):
    def read() -> None:
        ingestion._apply_watermark(page, "psid-000020", "contact_read_up_to", ingestion.timezone.now())

    explained = plan(*captured(read)[0])
    assert "contact_unique_page_external_id" in explained
    assert "Seq Scan on inbox_contact" not in explained

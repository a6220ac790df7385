"""The triage queue: most urgent first, filters, keyset pagination, htmx
fragments, row actions, scoping and a pinned number of queries."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inbox import selectors
from inbox.models import AwayPeriod, Conversation, ConversationStatus, Membership, Role
from inbox.services import hours

from .inbox_helpers import customer_comments, customer_writes

pytestmark = pytest.mark.django_db


def order(response) -> list[int]:
    return [int(pk) for pk in re.findall(r'data-conversation="(\d+)"', response.content.decode())]


def test_it_sends_a_visitor_to_sign_in(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_it_sends_an_expired_htmx_request_to_sign_in_instead_of_swapping_the_login_page(client):
    response = client.get("/", HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL="http://testserver/?view=mine")
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/accounts/login/?next=%2F%3Fview%3Dmine"


def test_it_puts_missed_conversations_first_then_by_time_left(client, bob, deliver):
    fresh = customer_writes(deliver, bob.memberships.get().page, "p-fresh", "Bonjour ?", seconds_ago=10)
    missed = customer_writes(deliver, fresh.page, "p-missed", "Toujours là ?", seconds_ago=600)
    at_risk = customer_writes(deliver, fresh.page, "p-risk", "Vite svp", seconds_ago=270)
    client.force_login(bob)
    response = client.get("/")
    assert order(response) == [missed.pk, at_risk.pk, fresh.pk]
    html = response.content.decode()
    missed_row = html[html.index(f'data-conversation="{missed.pk}"') - 200:html.index(f'data-conversation="{at_risk.pk}"')]
    assert "is-missed" in missed_row and 'class="badge danger"' in missed_row
    assert "is-at-risk" in html[html.index(f'data-conversation="{at_risk.pk}"') - 200:]


def test_it_shows_countdown_contact_channel_preview_and_assignee(client, alice, bob, page, deliver):
    conversation = customer_writes(deliver, page, "p1", "Vous livrez à Lyon ?", seconds_ago=30, name="Camille Martin")
    Conversation.objects.filter(pk=conversation.pk).update(assignee=alice)
    comment = customer_comments(deliver, page, from_id="c1", name="Léa Bernard", text="Prix ?", post="77")
    client.force_login(bob)
    html = client.get("/").content.decode()
    assert "Camille Martin" in html and "Vous livrez à Lyon ?" in html and "Alice" in html
    due_ms = int(conversation.due_at.timestamp() * 1000) if conversation.due_at else None
    conversation.refresh_from_db()
    assert f'data-due="{int(conversation.due_at.timestamp() * 1000)}"' in html
    assert due_ms is None or due_ms
    assert "Léa Bernard" in html and "Prix ?" in html and f"{page.meta_page_id}_77" in html
    assert comment.conversation.kind == "public"


def test_each_row_names_its_contact_and_assignee_as_the_conversation_does(client, alice, bob, charlie, page,
                                                                          deliver):
    from django.contrib.auth import get_user_model

    from inbox.models import Contact

    named = customer_writes(deliver, page, "p1", "un", seconds_ago=50, name="Camille Martin")
    parts = customer_writes(deliver, page, "p2", "deux", seconds_ago=40)
    Contact.objects.filter(pk=parts.contact_id).update(first_name="Léa", last_name="Bernard")
    unknown = customer_writes(deliver, page, "p3", "trois", seconds_ago=30)
    nobody = customer_writes(deliver, page, "p4", "quatre", seconds_ago=20)
    Conversation.objects.filter(pk=nobody.pk).update(contact=None)  # an ad referral alone has no contact
    get_user_model().objects.filter(pk=charlie.pk).update(first_name="")  # no first name: the username
    Conversation.objects.filter(pk=named.pk).update(assignee=alice)
    Conversation.objects.filter(pk=parts.pk).update(assignee=charlie)
    Conversation.objects.filter(pk=unknown.pk).update(assignee=bob)
    client.force_login(bob)
    html = client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    rows = dict(re.findall(r'data-conversation="(\d+)"(.*?)</li>', html, re.S))

    def shown(conversation):
        row = rows[str(conversation.pk)]
        return (re.search(r'class="row-contact">([^<]*)<', row).group(1),
                re.search(r'class="row-assignee[^"]*"[^>]*>([^<]*)<', row).group(1))

    assert shown(named) == ("Camille Martin", "Alice")
    assert shown(parts) == ("Léa Bernard", charlie.username)
    assert shown(unknown) == ("Facebook user", "Me")
    assert shown(nobody) == ("Unknown contact", "Unassigned")


def test_it_marks_messages_received_while_closed(client, bob, page, deliver):
    AwayPeriod.objects.create(page=page, start=timezone.now() - timedelta(hours=1),
                              until=timezone.now() + timedelta(hours=2), created_by=bob)
    hours.hours_changed(page)
    conversation = customer_writes(deliver, page, "p-night", "Il est 2 h du matin", seconds_ago=5)
    conversation.refresh_from_db()
    assert conversation.received_while_closed
    client.force_login(bob)
    html = client.get("/").content.decode()
    assert "received while closed" in html or "reçu pendant la fermeture" in html
    # The clock has not started: nothing counts down before the opening.
    assert "clock-later" in html


def test_it_filters_mine_unassigned_and_all(client, alice, bob, page, deliver):
    mine = customer_writes(deliver, page, "p1", "a", seconds_ago=50)
    alices = customer_writes(deliver, page, "p2", "b", seconds_ago=40)
    nobodys = customer_writes(deliver, page, "p3", "c", seconds_ago=30)
    Conversation.objects.filter(pk=mine.pk).update(assignee=bob)
    Conversation.objects.filter(pk=alices.pk).update(assignee=alice)
    client.force_login(bob)
    assert order(client.get("/?view=mine")) == [mine.pk]
    assert order(client.get("/?view=unassigned")) == [nobodys.pk]
    assert order(client.get("/?view=all")) == [mine.pk, alices.pk, nobodys.pk]


def test_it_filters_private_and_public(client, bob, page, deliver):
    private = customer_writes(deliver, page, "p1", "a", seconds_ago=50)
    public = customer_comments(deliver, page, from_id="c1", name="Léa", text="Prix ?").conversation
    client.force_login(bob)
    assert order(client.get("/?kind=private")) == [private.pk]
    assert order(client.get("/?kind=public")) == [public.pk]


def test_it_filters_by_status_most_recent_first(client, bob, page, deliver):
    older = customer_writes(deliver, page, "p1", "a", seconds_ago=500)
    newer = customer_writes(deliver, page, "p2", "b", seconds_ago=100)
    waiting = customer_writes(deliver, page, "p3", "c", seconds_ago=10)
    Conversation.objects.filter(pk__in=[older.pk, newer.pk]).update(status=ConversationStatus.DONE)
    client.force_login(bob)
    assert order(client.get("/?status=done")) == [newer.pk, older.pk]
    assert order(client.get("/")) == [waiting.pk]
    assert order(client.get("/?status=spam")) == []


def test_it_keeps_answered_open_conversations_out_of_the_triage_view_but_in_open(client, bob, page, deliver):
    answered = customer_writes(deliver, page, "p1", "a", seconds_ago=100)
    Conversation.objects.filter(pk=answered.pk).update(due_at=None)  # its RO closed
    client.force_login(bob)
    assert order(client.get("/")) == []
    assert order(client.get("/?status=open")) == [answered.pk]


def test_it_filters_by_page_for_an_agency(client, bob, page, other_page, deliver):
    Membership.objects.create(user=bob, page=other_page, role=Role.AGENT)
    here = customer_writes(deliver, page, "p1", "a", seconds_ago=50)
    there = customer_writes(deliver, other_page, "p2", "b", seconds_ago=40)
    client.force_login(bob)
    response = client.get("/")
    assert order(response) == [here.pk, there.pk]
    assert "Garage Martin" in response.content.decode()  # each row names its Page
    assert order(client.get(f"/?page={other_page.pk}")) == [there.pk]


def test_it_never_filters_on_a_page_the_user_is_not_a_member_of(client, bob, page, other_page, deliver):
    customer_writes(deliver, other_page, "p2", "secret", seconds_ago=40)
    mine = customer_writes(deliver, page, "p1", "a", seconds_ago=50)
    client.force_login(bob)
    assert order(client.get(f"/?page={other_page.pk}")) == [mine.pk]


def test_it_shows_an_outsider_none_of_the_pages_conversations(client, charlie, page, deliver):
    customer_writes(deliver, page, "p1", "Confidentiel", seconds_ago=50, name="Camille Martin")
    client.force_login(charlie)
    html = client.get("/?status=open").content.decode()
    assert "Camille Martin" not in html and "Confidentiel" not in html


def test_it_searches_contact_names_and_message_text(client, bob, page, deliver):
    camille = customer_writes(deliver, page, "p1", "Le code promo ne marche pas", seconds_ago=50, name="Camille Martin")
    hugo = customer_writes(deliver, page, "p2", "Vous livrez en Belgique ?", seconds_ago=40, name="Hugo Dubois")
    client.force_login(bob)
    assert order(client.get("/?q=camille")) == [camille.pk]
    assert order(client.get("/?q=belgique")) == [hugo.pk]
    response = client.get("/?q=introuvable")
    assert order(response) == [] and "introuvable" in response.content.decode()


def test_a_search_keeps_the_newest_matching_messages_of_the_status_shown(client, bob, page, deliver, monkeypatch):
    # More matching messages than a search looks at: it must keep the same
    # ones on every load, the newest, and only those of the status shown.
    monkeypatch.setattr(selectors, "SEARCH_MESSAGE_LIMIT", 2)
    oldest = customer_writes(deliver, page, "p1", "Et la livraison ?", seconds_ago=240)
    middle = customer_writes(deliver, page, "p2", "Ma livraison est en retard", seconds_ago=180)
    newest = customer_writes(deliver, page, "p3", "Livraison le samedi ?", seconds_ago=120)
    done = customer_writes(deliver, page, "p4", "Merci pour la livraison", seconds_ago=60)
    Conversation.objects.filter(pk=done.pk).update(status=ConversationStatus.DONE)
    client.force_login(bob)
    for _ in range(3):
        assert set(order(client.get("/?q=livraison"))) == {middle.pk, newest.pk}
    assert order(client.get("/?q=livraison&status=done")) == [done.pk]
    assert oldest.pk in order(client.get("/?q=et la livraison"))


def test_message_text_search_has_its_indexes_on_postgresql():
    # msg_recent walks messages from the newest; the trigram index answers a
    # rare word without reading them all (migration 0007).
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'inbox_message'")
        indexes = dict(cursor.fetchall())
    assert "(\"timestamp\", id)" in indexes["msg_recent"]
    assert "gin (upper(text) gin_trgm_ops)" in indexes["msg_text_trgm"]


def test_it_paginates_with_a_keyset_cursor(client, bob, page, deliver, monkeypatch):
    monkeypatch.setattr(selectors, "QUEUE_PAGE_SIZE", 2)
    pks = [customer_writes(deliver, page, f"p{i}", "x", seconds_ago=200 - i * 10).pk for i in range(5)]
    client.force_login(bob)
    first = client.get("/")
    assert order(first) == pks[:2]
    cursor = re.search(r'after=([\w-]+)"', first.content.decode()).group(1)
    second = client.get(f"/?after={cursor}", HTTP_HX_REQUEST="true")
    assert order(second) == pks[2:4]
    html = second.content.decode()
    assert "<html" not in html and 'id="queue-results"' not in html  # just the next rows
    cursor = re.search(r'after=([\w-]+)"', html).group(1)
    assert order(client.get(f"/?after={cursor}", HTTP_HX_REQUEST="true")) == pks[4:]


def test_it_starts_from_the_top_on_a_mangled_cursor(client, bob, page, deliver):
    conversation = customer_writes(deliver, page, "p1", "x", seconds_ago=10)
    client.force_login(bob)
    for cursor in ("garbage", "Zm9v", "MjAyNi0xMS0yMHxhYmM"):
        response = client.get(f"/?after={cursor}")
        assert response.status_code == 200
        assert order(response) == [conversation.pk]


def test_it_renders_the_results_alone_for_htmx_filters(client, bob, page, deliver):
    customer_writes(deliver, page, "p1", "x", seconds_ago=10)
    client.force_login(bob)
    response = client.get("/?view=unassigned", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="queue-results"')
    assert "<html" not in html
    # The region refreshes itself with the same filters when something changes.
    assert 'hx-get="/?view=unassigned"' in html and "inbox:changed from:body" in html


def test_it_escapes_hostile_names_and_previews(client, bob, page, deliver):
    customer_writes(deliver, page, "p1", "<script>alert(1)</script>", seconds_ago=10,
                    name='<img src=x onerror="alert(2)">')
    client.force_login(bob)
    html = client.get("/").content.decode()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "&lt;img src=x" in html


def test_it_sends_a_content_security_policy_without_inline_scripts(client, bob):
    client.force_login(bob)
    policy = client.get("/")["Content-Security-Policy"]
    script_src = re.search(r"script-src ([^;]+)", policy).group(1)
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src


def test_it_marks_a_row_done_from_the_queue(client, bob, page, deliver):
    conversation = customer_writes(deliver, page, "p1", "x", seconds_ago=10)
    client.force_login(bob)
    response = client.post(f"/c/{conversation.pk}/status", {"status": "done", "from": "queue"},
                           HTTP_HX_REQUEST="true")
    assert response.status_code == 204
    assert "inbox:changed" in response["HX-Trigger"]
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.DONE
    assert order(client.get("/")) == []


def test_it_assigns_a_row_to_me_from_the_queue(client, bob, page, deliver):
    conversation = customer_writes(deliver, page, "p1", "x", seconds_ago=10)
    client.force_login(bob)
    response = client.post(f"/c/{conversation.pk}/assign", {"assignee": "me", "from": "queue"},
                           HTTP_HX_REQUEST="true")
    assert response.status_code == 204
    conversation.refresh_from_db()
    assert conversation.assignee == bob
    assert order(client.get("/?view=mine")) == [conversation.pk]


def test_it_refuses_row_actions_on_an_outsiders_conversation(client, charlie, page, deliver):
    conversation = customer_writes(deliver, page, "p1", "x", seconds_ago=10)
    client.force_login(charlie)
    assert client.post(f"/c/{conversation.pk}/status", {"status": "done", "from": "queue"}).status_code == 404
    assert client.post(f"/c/{conversation.pk}/assign", {"assignee": "me", "from": "queue"}).status_code == 404
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OPEN and conversation.assignee is None


def _queue_queries(client, path: str) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path).status_code == 200
    # The session comes from the cache when it is warm; other test runs
    # sharing the Redis may flush it at any moment, so it is left out.
    return [q["sql"] for q in captured.captured_queries if "django_session" not in q["sql"]]


def _queue_queries_of_an_agent_on_two_pages(client, bob, page, other_page, deliver) -> list[str]:
    Membership.objects.create(user=bob, page=other_page, role=Role.AGENT)
    customer_writes(deliver, page, "p0", "x", seconds_ago=10)
    client.force_login(bob)
    client.get("/")  # warm the session cache
    return _queue_queries(client, "/")


def test_it_loads_the_queue_in_a_fixed_number_of_queries(client, bob, page, other_page, deliver,
                                                         django_assert_max_num_queries):
    few = _queue_queries_of_an_agent_on_two_pages(client, bob, page, other_page, deliver)
    for i in range(1, 12):
        customer_writes(deliver, page if i % 2 else other_page, f"p{i}", "x", seconds_ago=10 + i)
        customer_comments(deliver, page, from_id=f"c{i}", name=f"N{i}", text="?", post=str(i))
    many = _queue_queries(client, "/")
    # No query per row: the count does not grow with the queue.
    assert len(many) == len(few)
    # The queue itself: one query for the user's Pages, one for the rows.
    with django_assert_max_num_queries(11):
        client.get("/")
    # Keyset, never COUNT(*) over the conversations.
    assert not [sql for sql in many if "COUNT(" in sql.upper() and "inbox_conversation" in sql]


def test_it_reads_the_users_pages_once_for_the_filters_the_rows_and_the_layout(client, bob, page, other_page,
                                                                              deliver):
    queries = _queue_queries_of_an_agent_on_two_pages(client, bob, page, other_page, deliver)
    # The topbar's memberships (with their Pages) are the only read of the
    # user's Pages; the rows' query filters on their ids.
    reads = [sql for sql in queries if 'FROM "inbox_page"' in sql or 'FROM "inbox_membership"' in sql]
    assert len(reads) == 1, "\n".join(reads)


def test_it_reads_the_rows_with_one_query_on_the_open_queue_index(client, bob, page, deliver):
    customer_writes(deliver, page, "p1", "x", seconds_ago=10)
    client.force_login(bob)
    queries = [sql for sql in _queue_queries(client, "/") if 'FROM "inbox_conversation"' in sql]
    assert len(queries) == 1
    sql = queries[0]
    assert '"inbox_conversation"."status" = ' in sql and "ORDER BY" in sql and "LIMIT 51" in sql
    assert "OFFSET" not in sql


def _layout_free_queries(queries: list[str]) -> list[str]:
    # The Page's hours decide whether the layout counts conversations waiting
    # for the opening: that query belongs to the header, not to the queue.
    return [sql for sql in queries if "inbox_responseopportunity" not in sql]


def test_it_pins_the_queue_to_three_queries_whatever_its_rows(client, bob, page, other_page, deliver):
    Membership.objects.create(user=bob, page=other_page, role=Role.AGENT)
    for i in range(12):
        customer_writes(deliver, page if i % 2 else other_page, f"p{i}", "x", seconds_ago=10 + i)
    Conversation.objects.filter(contact__external_id="p3").update(assignee=bob)
    client.force_login(bob)
    client.get("/")  # warm the session cache
    queries = _layout_free_queries(_queue_queries(client, "/"))
    # The user, the layout's memberships (the user's Pages), the rows.
    assert len(queries) == 3, "\n".join(queries)
    rows = next(sql for sql in queries if 'FROM "inbox_conversation"' in sql)
    # Rows share the Pages already loaded: no join, no access token decrypted per row.
    assert 'JOIN "inbox_page"' not in rows


def test_it_builds_row_urls_like_reverse(client, bob, page, deliver):
    from django.urls import reverse

    conversation = customer_writes(deliver, page, "p1", "x", seconds_ago=10)
    client.force_login(bob)
    html = client.get("/").content.decode()
    for name in ("inbox:conversation", "inbox:assign", "inbox:status"):
        assert f'"{reverse(name, args=[conversation.pk])}"' in html


def test_it_shows_the_last_message_time_in_the_pages_zone(client, bob, page, deliver):
    from zoneinfo import ZoneInfo

    from django.utils.formats import date_format

    today = customer_writes(deliver, page, "p-today", "x", seconds_ago=5)
    older = customer_writes(deliver, page, "p-older", "x", seconds_ago=4 * 86400)
    client.force_login(bob)
    html = client.get("/?status=open").content.decode()
    paris = ZoneInfo("Europe/Paris")
    for conversation, shown in ((today, "H:i"), (older, "j N")):
        conversation.refresh_from_db()
        local = conversation.last_message_at.astimezone(paris)
        # What the `date` filter says in the Page's zone.
        assert (f'<time datetime="{local.isoformat()}" class="row-time">{date_format(local, shown)}</time>'
                in html)

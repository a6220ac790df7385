"""Live updates: a cheap poll that answers 204 with no database query while
nothing changed, tells the page to refresh when something did, and carries
who else is on the conversation ("Bob is replying…")."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import signing

from inbox import live, presence
from inbox.views import LIVE_SALT

from .inbox_helpers import customer_writes, local_cache  # noqa: F401 - fixture

# Versions and presence live in the cache: each test keeps its own (see
# inbox_helpers.local_cache on the shared, flushed Redis).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("local_cache")]


def poll_url(html: str) -> str:
    url = re.search(r'<div id="live"[^>]*hx-get="([^"]+)"', html).group(1)
    return url.replace("&amp;", "&")


def poll(client, url: str):
    return client.get(url, HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL="http://testserver/")


def test_it_answers_204_without_any_database_query_when_nothing_changed(
        client, bob, page, deliver, django_assert_num_queries):
    customer_writes(deliver, page, "p1", "hello", seconds_ago=10)
    client.force_login(bob)
    url = poll_url(client.get("/").content.decode())
    with django_assert_num_queries(0):
        response = poll(client, url)
    assert response.status_code == 204


def test_it_answers_204_without_queries_on_a_conversation_too(
        client, bob, page, deliver, django_assert_num_queries):
    conversation = customer_writes(deliver, page, "p1", "hello", seconds_ago=10)
    client.force_login(bob)
    url = poll_url(client.get(f"/c/{conversation.pk}/").content.decode())
    first = poll(client, url)  # the first poll may learn who else is there
    if first.status_code == 200:
        url = poll_url(first.content.decode())
    with django_assert_num_queries(0):
        assert poll(client, url).status_code == 204


def test_it_tells_the_page_to_refresh_when_a_message_arrives(
        client, bob, page, deliver, django_capture_on_commit_callbacks):
    client.force_login(bob)
    url = poll_url(client.get("/").content.decode())
    assert poll(client, url).status_code == 204
    with django_capture_on_commit_callbacks(execute=True):  # versions are bumped on commit
        customer_writes(deliver, page, "p1", "Nouveau message", seconds_ago=1)
    response = poll(client, url)
    assert response.status_code == 200
    assert "inbox:changed" in response["HX-Trigger"]
    # The answer is the next polling element, with the new versions.
    next_url = poll_url(response.content.decode())
    assert next_url != url
    assert poll(client, next_url).status_code == 204


def test_it_follows_only_the_users_pages(client, bob, page, other_page, deliver,
                                         django_capture_on_commit_callbacks):
    client.force_login(bob)
    url = poll_url(client.get("/").content.decode())
    with django_capture_on_commit_callbacks(execute=True):
        customer_writes(deliver, other_page, "p9", "ailleurs", seconds_ago=1)
    assert poll(client, url).status_code == 204


def test_it_refreshes_an_open_conversation_when_it_changes(
        client, bob, page, deliver, django_capture_on_commit_callbacks):
    conversation = customer_writes(deliver, page, "p1", "hello", seconds_ago=10)
    client.force_login(bob)
    html = client.get(f"/c/{conversation.pk}/").content.decode()
    assert 'hx-trigger="inbox:changed from:body"' in html  # the regions listen for it
    url = poll_url(html)
    with django_capture_on_commit_callbacks(execute=True):
        customer_writes(deliver, page, "p1", "Et aussi…", seconds_ago=1)
    response = poll(client, url)
    assert response.status_code == 200 and "inbox:changed" in response["HX-Trigger"]


def test_it_shows_who_else_is_on_the_conversation(client, alice, bob, page, deliver):
    from django.test import Client

    conversation = customer_writes(deliver, page, "p1", "hello", seconds_ago=10)
    client.force_login(bob)
    bobs_url = poll_url(client.get(f"/c/{conversation.pk}/").content.decode())
    marie = Client()
    marie.force_login(alice)
    alices_url = poll_url(marie.get(f"/c/{conversation.pk}/").content.decode())
    poll(marie, alices_url)  # Alice's browser polls: she is here
    response = poll(client, bobs_url)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="presence"' in html and 'hx-swap-oob="true"' in html
    assert "Alice is here too" in html
    assert "HX-Trigger" not in response  # presence alone refreshes nothing else
    bobs_url = poll_url(html)
    assert poll(client, bobs_url).status_code == 204
    marie.post(f"/c/{conversation.pk}/typing", HTTP_HX_REQUEST="true")
    response = poll(client, bobs_url)
    assert "Alice is replying…" in response.content.decode()


def test_it_never_shows_an_agent_to_themselves(client, bob, page, deliver):
    conversation = customer_writes(deliver, page, "p1", "hello", seconds_ago=10)
    client.force_login(bob)
    url = poll_url(client.get(f"/c/{conversation.pk}/").content.decode())
    client.post(f"/c/{conversation.pk}/typing", HTTP_HX_REQUEST="true")
    response = poll(client, url)
    assert response.status_code == 204


def test_it_refuses_a_tampered_token(client, bob, charlie, other_page):
    client.force_login(bob)
    url = poll_url(client.get("/").content.decode())
    token = parse_qs(urlsplit(url).query)["t"][0]
    data = signing.loads(token, salt=LIVE_SALT)
    data["p"] = [other_page.pk]  # Bob would like to watch another Page
    forged = signing.dumps(data, salt="not-the-salt", compress=True)
    response = client.get(f"/live?t={forged}&v=0&ps=-")
    assert response.status_code == 400


def test_it_sends_a_signed_out_browser_to_sign_in(client, bob):
    client.force_login(bob)
    url = poll_url(client.get("/").content.decode())
    client.logout()
    response = poll(client, url)
    assert response["HX-Redirect"].startswith("/accounts/login/?next=")


def test_it_refuses_a_token_minted_for_someone_else(client, alice, bob):
    client.force_login(alice)
    alices_url = poll_url(client.get("/").content.decode())
    client.force_login(bob)
    response = poll(client, alices_url)
    assert response["HX-Redirect"].startswith("/accounts/login/")


def test_it_bumps_versions_per_page_and_conversation():
    before = live.versions(page_ids=[1, 2], conversation_id=7)
    live.bump(page_id=1, conversation_id=7)
    after = live.versions(page_ids=[1, 2], conversation_id=7)
    assert after == {"live:page:1": before["live:page:1"] + 1, "live:page:2": before["live:page:2"],
                     "live:conversation:7": before["live:conversation:7"] + 1}


def test_presence_expires_and_lists_typists_first():
    presence.viewing(conversation_id=5, user_id=1, name="Alice")
    presence.typing(conversation_id=5, user_id=2, name="Marie")
    others = presence.others(conversation_id=5, member_ids=[1, 2, 3], user_id=3)
    assert [(p.name, p.state) for p in others] == [("Marie", "typing"), ("Alice", "viewing")]
    assert presence.signature(others) == "1v.2t"
    presence.stopped_typing(conversation_id=5, user_id=2)
    assert presence.signature(presence.others(conversation_id=5, member_ids=[1, 2], user_id=3)) == "1v.2v"

"""Signing in and out, password reset by e-mail, brute-force lockout (axes),
CSRF with htmx, and the sign-in wall around every inbox URL."""

from __future__ import annotations

import re

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def sign_in(client, username: str, password: str):
    return client.post("/accounts/login/", {"username": username, "password": password},
                       REMOTE_ADDR="203.0.113.7")


def test_it_shows_the_sign_in_page(client):
    html = client.get("/accounts/login/").content.decode()
    assert 'name="username"' in html and 'autocomplete="current-password"' in html
    assert 'href="/accounts/password_reset/"' in html


def test_it_signs_an_agent_in_and_lands_on_the_queue(client, bob):
    response = sign_in(client, "bob", "bob-password-2026")
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_it_refuses_a_wrong_password_with_a_message(client, bob):
    response = sign_in(client, "bob", "wrong")
    assert response.status_code == 200
    assert 'class="form-error"' in response.content.decode()


def test_it_keeps_next_within_the_site(client, bob):
    response = client.post("/accounts/login/?next=https://evil.example/", {
        "username": "bob", "password": "bob-password-2026", "next": "https://evil.example/"})
    assert response["Location"] == "/"


def test_it_locks_out_after_five_failures_and_says_what_to_do(client, bob):
    for _ in range(5):
        sign_in(client, "bob", "guess")
    response = sign_in(client, "bob", "bob-password-2026")  # even the right one, now
    assert response.status_code == 429
    html = response.content.decode()
    assert "Too many failed sign-in attempts" in html and 'href="/accounts/password_reset/"' in html
    assert "_auth_user_id" not in client.session


def test_it_does_not_lock_out_someone_else_from_another_network(client, bob, alice):
    for _ in range(5):
        sign_in(client, "bob", "guess")
    other = Client()
    response = other.post("/accounts/login/", {"username": "alice", "password": "alice-password-2026"},
                          REMOTE_ADDR="198.51.100.2")
    assert response.status_code == 302


def test_it_signs_out_with_a_post(client, bob):
    client.force_login(bob)
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert client.get("/").status_code == 302


def test_it_resets_a_password_by_e_mail(client, bob, mailoutbox):
    response = client.post("/accounts/password_reset/", {"email": "bob@example.com"})
    assert response.status_code == 302
    assert "Check your e-mail" in client.get(response["Location"]).content.decode()
    assert len(mailoutbox) == 1
    body = mailoutbox[0].body
    link = re.search(r"https?://[^/]+(/accounts/reset/\S+)", body).group(1)
    form = client.get(link, follow=True)
    assert 'name="new_password1"' in form.content.decode()
    done = client.post(form.redirect_chain[-1][0], {"new_password1": "Croissant-au-beurre-42",
                                                   "new_password2": "Croissant-au-beurre-42"})
    assert done.status_code == 302
    assert "Password changed" in client.get(done["Location"]).content.decode()
    assert sign_in(Client(), "bob", "Croissant-au-beurre-42").status_code == 302
    # The link works once.
    assert "This link no longer works" in client.get(link, follow=True).content.decode()


def test_it_does_not_reveal_whether_an_address_has_an_account(client, mailoutbox):
    response = client.post("/accounts/password_reset/", {"email": "nobody@example.com"})
    assert response.status_code == 302 and response["Location"] == "/accounts/password_reset/done/"
    assert mailoutbox == []


def test_it_refuses_a_post_without_the_csrf_token(bob, page, deliver):
    from .inbox_helpers import customer_writes

    conversation = customer_writes(deliver, page, "p1", "hello", seconds_ago=10)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(bob)
    assert browser.post(f"/c/{conversation.pk}/note", {"text": "x"}).status_code == 403
    # htmx sends the token from <body hx-headers>, as the page renders it.
    html = browser.get(f"/c/{conversation.pk}/").content.decode()
    token = re.search(r'hx-headers=\'\{"X-CSRFToken": "([^"]+)"\}\'', html).group(1)
    response = browser.post(f"/c/{conversation.pk}/note", {"text": "x"}, HTTP_X_CSRFTOKEN=token,
                            HTTP_HX_REQUEST="true")
    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/", "/c/1/", "/live?t=x"])
def test_it_keeps_every_inbox_page_behind_sign_in(client, path):
    response = client.get(path)
    assert response.status_code in (302, 400)
    if response.status_code == 302:
        assert response["Location"].startswith("/accounts/login/")

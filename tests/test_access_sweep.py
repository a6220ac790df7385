"""Nobody in (issue 8, item 5): every URL the resolver knows, swept
automatically, so that a new view is covered without editing this file.

For each URL pattern, its arguments are filled with objects of Page A (alice
admin, bob agent), then requested as:
- anonymous: a redirect to the sign-in page (401 for the API), never content;
- charlie (admin of another Page), dave (agent of another Page) and erin
  (Page A's member, deactivated while signed in): 404/403/405 (or the sign-in
  redirect for erin), and never a byte of Page A's data, whatever the method,
  htmx or not, and whatever ids are slipped into the query string;
- alice, as a control: the same URL finds its object (no 404), so the 404s
  above are the access rules at work, not a wrong id.
Every POST is refused without its CSRF token, htmx included. Hostile form
values never give a 500. No page waits on Meta.

A URL whose argument this sweep cannot fill fails `test_every_url_is_swept`:
teach `_value_for` what it is. Public URLs are listed in PUBLIC with why."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from inbox import simulation

pytestmark = pytest.mark.django_db

SECRETS = ["Boulangerie Dupain", "Zorglub Secretcontact", "SECRET-MESSAGE-A", "SECRET-REPLY-A", "SECRET-NOTE-A"]

# Public on purpose.
PUBLIC = {
    "login": "the sign-in page",
    "logout": "signing out needs no session",
    "password_reset": "a forgotten password: by e-mail, reveals nothing",
    "password_reset_done": "static confirmation",
    "password_reset_confirm": "guarded by the signed token in its URL",
    "password_reset_complete": "static confirmation",
    "set_language": "the language switch",
    "inbox:meta_webhook": "Meta's webhook: guarded by its HMAC signature (tests/test_webhooks.py, test_fuzz_webhooks.py)",
    "inbox:healthz": "load balancers' health check: no Page data",
}
# Django's admin is for staff only; its hundreds of generated patterns are
# checked by their entry points below rather than one by one.
SKIPPED_PREFIXES = ("admin/",)


@dataclass(frozen=True)
class Route:
    name: str
    route: str
    params: tuple[str, ...]
    module: str

    def __str__(self) -> str:
        return self.name or self.route


def _walk(patterns, prefix: str = "", namespace: str = ""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern):
            route = prefix + str(entry.pattern)
            name = f"{namespace}{entry.name}" if entry.name else ""
            params = tuple(re.findall(r"<(?:\w+:)?(\w+)>", route))
            yield Route(name=name, route=route, params=params, module=entry.callback.__module__)


ALL_ROUTES = [r for r in _walk(get_resolver().url_patterns) if not r.route.startswith(SKIPPED_PREFIXES)]
GUARDED = [r for r in ALL_ROUTES if r.name not in PUBLIC]
WITH_OBJECTS = [r for r in GUARDED if r.params]


# --- Page A and the people around it ---------------------------------------------


@pytest.fixture
def world(page, other_page, alice, bob, charlie, django_user_model, deliver):
    from inbox.models import ApiToken, ClosureDate, Membership, Message, OpeningInterval, Role
    from inbox.services import add_note
    from templates_app.models import SavedReply

    now = time.time()
    deliver(simulation.envelope(page.meta_page_id, messaging=[
        simulation.message(page.meta_page_id, "psid-secret", now - 60, "SECRET-MESSAGE-A")]))
    deliver(simulation.envelope(page.meta_page_id, changes=[simulation.comment(
        page.meta_page_id, at=now - 50, text="SECRET-MESSAGE-A in public", from_id="c-secret",
        from_name="Zorglub Secretcontact", post_id=f"{page.meta_page_id}_1", comment_id=f"{page.meta_page_id}_901")]))
    conversation = page.conversations.get(kind="private")
    conversation.contact.name = "Zorglub Secretcontact"
    conversation.contact.save(update_fields=["name"])
    add_note(conversation=conversation, author=alice, text="SECRET-NOTE-A")
    comment = Message.objects.get(mid=f"{page.meta_page_id}_901")
    saved_reply = SavedReply.objects.create(page=page, title="SECRET-REPLY-A", shortcut="/secret",
                                            body="SECRET-REPLY-A body", created_by=alice)
    interval = OpeningInterval.objects.create(page=page, weekday=0, start_minute=540, end_minute=720)
    closure = ClosureDate.objects.create(page=page, day="2026-12-25", label="Noël")
    dave = django_user_model.objects.create_user(username="dave", password="dave-password-2026")
    Membership.objects.create(user=dave, page=other_page, role=Role.AGENT)
    erin = django_user_model.objects.create_user(username="erin", password="erin-password-2026")
    Membership.objects.create(user=erin, page=page, role=Role.ADMIN)
    # Charlie and dave have something of their own, so their pages are not empty.
    deliver(simulation.envelope(other_page.meta_page_id, messaging=[
        simulation.message(other_page.meta_page_id, "psid-other", now - 30, "Bonjour le garage")]))
    key = ApiToken.generate_key()
    ApiToken.objects.create(user=charlie, prefix=key[:10], key_hash=ApiToken.hash_key(key))
    return {
        "page": page, "conversation": conversation, "comment": comment, "saved_reply": saved_reply,
        "interval": interval, "closure": closure, "alice": alice, "bob": bob, "charlie": charlie,
        "dave": dave, "erin": erin, "charlie_token": key,
    }


def _value_for(route: Route, param: str, world: dict) -> str | None:
    page, conversation = world["page"], world["conversation"]
    if param == "meta_page_id":
        return page.meta_page_id
    if param == "page_id":
        return str(page.pk)
    if param == "conversation_id":
        return str(conversation.pk)
    if param == "interval_id":
        return str(world["interval"].pk)
    if param == "closure_id":
        return str(world["closure"].pk)
    if param == "language":
        return "fr"
    if param == "pk":
        if route.module.startswith("templates_app"):
            return str(world["saved_reply"].pk)
        if route.route.startswith("m/") or "/m/" in route.route:
            return str(world["comment"].pk)
        if route.route.startswith("c/") or "/c/" in route.route:
            return str(conversation.pk)
    return None


def _url(route: Route, world: dict) -> str:
    path = route.route
    for param in route.params:
        value = _value_for(route, param, world)
        if value is None:
            raise LookupError(f"{route}: teach _value_for what {param!r} is")
        path = re.sub(rf"<(?:\w+:)?{param}>", value, path)
    return "/" + path.lstrip("^").rstrip("$")


def _leaks(response) -> list[str]:
    body = response.content.decode(errors="replace") if not getattr(response, "streaming", False) else ""
    headers = " ".join(f"{k}: {v}" for k, v in response.items())
    return [s for s in SECRETS if s in body or s in headers]


def _refused(response) -> bool:
    # 400: a request naming nothing the user may reach (the live poll
    # without its signed token).
    if response.status_code in (400, 401, 403, 404, 405):
        return True
    if response.status_code == 302:
        return "/accounts/login/" in response["Location"] or "/admin/login/" in response["Location"]
    # htmx is sent elsewhere (the sign-in page, or home, which redirects there).
    return response.status_code in (200, 204) and bool(response.get("HX-Redirect") or response.get("HX-Location"))


def _requests(client, url: str):
    """The ways a browser, htmx or a script reaches a URL."""
    probe = f"{url}{'&' if '?' in url else '?'}page=PAGE&page_id=PAGE&conversation=CONV"
    yield "GET", client.get(url)
    yield "GET htmx", client.get(url, HTTP_HX_REQUEST="true")
    yield "GET probe", client.get(probe)
    yield "POST", client.post(url, {"text": "x", "reason": "x", "status": "done"})
    yield "POST htmx", client.post(url, {"text": "x"}, HTTP_HX_REQUEST="true")


# --- The sweep -----------------------------------------------------------------------


def test_every_url_is_swept(world):
    assert len(GUARDED) >= 10  # the resolver was read
    for route in GUARDED:
        _url(route, world)  # raises for an argument the sweep cannot fill


def _sweep(check, routes) -> None:
    """Run `check(route)` for every route; report every failing one at once."""
    failures = []
    for route in routes:
        try:
            check(route)
        except AssertionError as exc:
            failures.append(f"{route}: {exc}")
    assert failures == [], "\n".join(failures)


def test_anonymous_visitors_are_sent_to_sign_in(client, world):
    def check(route: Route) -> None:
        url = _url(route, world)
        for how, response in _requests(client, url.replace("PAGE", str(world["page"].pk))):
            assert _refused(response), f"{how} {url} → {response.status_code}"
            assert not _leaks(response), f"{how} {url} leaks {_leaks(response)}"
        if "api/" in route.route:
            assert client.get(url).status_code == 401

    _sweep(check, GUARDED)


@pytest.mark.parametrize("who", ["charlie", "dave", "erin"])
def test_outsiders_get_nothing_of_page_a(client, world, who):
    user = world[who]
    client.force_login(user)
    if who == "erin":
        # Deactivated while signed in: the open session must stop working.
        user.is_active = False
        user.save(update_fields=["is_active"])

    def check(route: Route) -> None:
        url = _url(route, world).replace("PAGE", str(world["page"].pk))
        url = url.replace("CONV", str(world["conversation"].pk))
        for how, response in _requests(client, url):
            assert response.status_code < 500, f"{how} {url} → {response.status_code}"
            assert not _leaks(response), f"{who}: {how} {url} leaks {_leaks(response)}"
            if route.params or who == "erin":
                assert _refused(response), f"{who}: {how} {url} → {response.status_code}"

    _sweep(check, GUARDED)


def test_the_owner_reaches_every_object_so_the_404s_mean_something(client, world):
    from inbox.models import ApiToken

    client.force_login(world["alice"])
    key = ApiToken.generate_key()
    ApiToken.objects.create(user=world["alice"], prefix=key[:10], key_hash=ApiToken.hash_key(key))

    def check(route: Route) -> None:
        url = _url(route, world)
        if "api/" in route.route:
            response = client.get(url, HTTP_AUTHORIZATION=f"Bearer {key}")
        else:
            response = client.get(url)
            if response.status_code == 405:
                response = client.post(url, {})
        assert response.status_code not in (404, 500), f"{url} → {response.status_code}"

    _sweep(check, WITH_OBJECTS)


def test_the_api_answers_401_without_a_valid_token_and_404_for_another_pages_token(client, world):
    def check(route: Route) -> None:
        url = _url(route, world)
        for header in ({}, {"HTTP_AUTHORIZATION": "Bearer nope"}, {"HTTP_AUTHORIZATION": "Basic abc"}):
            assert client.get(url, **header).status_code == 401
        response = client.get(url, HTTP_AUTHORIZATION=f"Bearer {world['charlie_token']}")
        assert response.status_code == 404
        assert not _leaks(response)

    api = [r for r in ALL_ROUTES if "api/" in r.route]
    assert api
    _sweep(check, api)


def test_charlies_own_pages_hold_nothing_of_page_a(client, world):
    client.force_login(world["charlie"])

    def check(route: Route) -> None:
        response = client.get("/" + route.route)
        assert response.status_code < 500, response.status_code
        assert not _leaks(response), f"leaks {_leaks(response)}"

    _sweep(check, [r for r in GUARDED if not r.params])


def test_every_post_needs_its_csrf_token_htmx_included(world):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(world["alice"])
    client.get("/")
    token = client.cookies["csrftoken"].value

    def check(route: Route) -> None:
        url = _url(route, world)
        for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
            response = client.post(url, {"text": "x", "reason": "x"}, **headers)
            assert response.status_code in (403, 405), f"{url} {headers} → {response.status_code}"
        # With the token (as htmx sends it, from <body hx-headers>), no 403.
        response = client.post(url, {"text": "x", "reason": "x"}, HTTP_X_CSRFTOKEN=token, HTTP_HX_REQUEST="true")
        assert response.status_code != 403 or "api/" in route.route, f"{url} refused a valid token"

    _sweep(check, GUARDED)


HOSTILE = ["<script>alert(1)</script>", "\x00", "' OR 1=1 --", "9" * 30, "2026-13-45", "\u202e😀﷽" * 50, ""]
FIELDS = ["text", "reason", "status", "snoozed_until", "until", "assignee", "comment", "channel", "confirmed",
          "title", "shortcut", "body", "language", "tags", "scope", "weekday", "start", "end", "day", "days",
          "yearly", "label", "timezone", "name", "enabled", "saved_reply_id", "file", "from", "q", "kind",
          "page", "minutes", "hours", "private_target_seconds", "target_share_permille", "read_receipts",
          "human_agent_enabled", "signature_required", "order_number_pattern", "csv", "source", "target"]


def test_hostile_form_values_never_give_a_500(client, world):
    client.force_login(world["alice"])

    def check(route: Route) -> None:
        url = _url(route, world)
        forms = [{field: value for field in FIELDS} for value in HOSTILE]
        forms.append({"text": "x" * 100_000, "body": "x" * 100_000, "title": "x" * 100_000})
        for n, data in enumerate(forms):
            response = client.post(url, data, HTTP_HX_REQUEST="true")
            assert response.status_code < 500, f"POST {url} with form #{n} → {response.status_code}"
        for value in HOSTILE[:4]:
            response = client.get(url, {f: value for f in ("q", "status", "kind", "after", "page", "days")})
            assert response.status_code < 500, f"GET {url} with {value[:20]!r} → {response.status_code}"

    _sweep(check, GUARDED)


def test_no_page_waits_on_meta(client, world, fake_graph, settings):
    fake_graph.set_mode("ok", delay=10)
    client.force_login(world["alice"])
    for route in GUARDED:
        url = _url(route, world)
        started = time.monotonic()
        response = client.get(url)
        assert response.status_code < 500
        assert time.monotonic() - started < 2, f"{url} waited on Meta"
    started = time.monotonic()
    client.post(f"/c/{world['conversation'].pk}/reply", {"text": "Bonjour ! — Alice"}, HTTP_HX_REQUEST="true")
    assert time.monotonic() - started < 2
    assert fake_graph.stats()["calls"] == {}


def test_djangos_admin_is_for_staff_only(client, world):
    for who in (None, "alice", "charlie"):
        if who:
            client.force_login(world[who])
        for url in ("/admin/", "/admin/inbox/message/", f"/admin/inbox/page/{world['page'].pk}/change/"):
            response = client.get(url)
            assert response.status_code == 302 and "/admin/login/" in response["Location"], (who, url)

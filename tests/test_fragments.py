"""Fragments rendered once per content and reused (inbox/fragments.py): the
inbox's opening-hours header, line by line, and the guard that keeps every
cached partial reading only its own key."""

from __future__ import annotations

import dataclasses
import re

import pytest
from django.conf import settings
from django.middleware.csrf import _does_token_match
from django.urls import reverse

from inbox import (
    charts,
    conversation_head,
    dashboard_views,
    fragments,
    queue_rows,
    thread_lines,
    topbar,
)
from inbox.templatetags.hours_tags import HeaderItem, TopbarStatus

from .hours_fixtures import clock_fixture, office_hours, paris  # noqa: F401 - a fixture

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def header_line(html: str, page_pk: int) -> str:
    start = html.index(f'data-page="{page_pk}"')
    return html[start:html.index("</form>", start)]


def test_the_header_line_follows_the_page_from_open_to_away_and_back(client, bob, page, clock):
    office_hours(page)
    clock.set(paris(2026, 11, 24, 11, 0))  # Tuesday, open
    client.force_login(bob)
    for _ in range(2):  # rendered, then from the cache
        line = header_line(client.get("/").content.decode(), page.pk)
        assert 'data-availability="open"' in line and "closes today 18:00" in line
    client.post(reverse("inbox:away_switch", args=[page.pk]), {"action": "start", "duration": "60"}, **HTMX)
    line = header_line(client.get("/").content.decode(), page.pk)
    assert 'data-availability="away"' in line and "until today 12:00" in line and "switched on by Bob" in line
    clock.set(paris(2026, 11, 24, 11, 20))
    client.post(reverse("inbox:away_switch", args=[page.pk]), {"action": "end"}, **HTMX)
    line = header_line(client.get("/").content.decode(), page.pk)
    assert 'data-availability="open"' in line and "closes today 18:00" in line

    clock.set(paris(2026, 11, 24, 20, 0))  # closed: the same Page, another day said
    line = header_line(client.get("/").content.decode(), page.pk)
    assert 'data-availability="closed"' in line and "opens tomorrow 09:00" in line


def test_each_response_gets_its_own_return_address_and_csrf_token(client, bob, page):
    client.force_login(bob)
    for path, printed in (("/?view=mine&q=%22%3E%3Cscript%3E", "/?view=mine&amp;q=%22%3E%3Cscript%3E"), ("/", "/")):
        html = client.get(path).content.decode()
        line = header_line(html, page.pk)
        assert re.findall(r'name="next" value="([^"]*)"', line) == [printed]
        [token] = re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', line)
        assert _does_token_match(token, client.cookies["csrftoken"].value)
        assert fragments.slot("next") not in html and fragments.slot("csrf") not in html
    htmx = client.get(reverse("inbox:hours_header"), HTTP_HX_CURRENT_URL="http://testserver/?view=unassigned", **HTMX)
    assert 'name="next" value="/?view=unassigned"' in header_line(htmx.content.decode(), page.pk)


def test_a_refused_switch_shows_its_error_on_that_line_only(client, bob, page, clock):
    clock.set(paris(2026, 11, 24, 11, 0))
    client.force_login(bob)
    client.get("/")  # the line is in the cache
    response = client.post(reverse("inbox:away_switch", args=[page.pk]),
                           {"action": "start", "duration": "custom", "until": "2026-11-24T10:00"}, **HTMX)
    assert response.content.decode().count('class="form-error"') == 1
    assert 'class="form-error"' not in client.get("/").content.decode()


def _partial_source(template: str, name: str | None) -> str:
    whole = (settings.BASE_DIR / "templates" / template).read_text()
    if name is None:  # a whole template
        return whole
    source = whole[whole.index(f"{{% partialdef {name} %}}"):]
    return source[:source.index("{% endpartialdef %}")]


@pytest.mark.parametrize(("template", "partial", "var", "key", "slots"), [
    ("inbox/queue.html", "row", "row", queue_rows.QueueRow, {"left_text", "csrf_input", "several_pages"}),
    ("hours/_inbox_header.html", "item", "item", HeaderItem, {"csrf_input", "next", "error"}),
    ("dashboard/page.html", "miss", "row", dashboard_views.MissRow, set()),
    ("dashboard/page.html", "trend_day", "row", charts.TrendRow, set()),
    ("hours/_topbar_status.html", "status", "status", TopbarStatus, set()),
    ("inbox/_message.html", None, "line", thread_lines.ThreadLine, {"csrf_input", "page"}),
    ("inbox/conversation.html", "head_fragment", "head", conversation_head.ConversationHead, {"csrf_input", "oob"}),
    ("_topbar.html", None, "bar", topbar.Topbar, {"csrf_input", "next", "status"}),
])
def test_a_cached_partial_reads_only_its_key_and_slots(template, partial, var, key, slots):
    """A value the partial read from anywhere else would not be in the key,
    and the cache could serve it stale."""
    source = _partial_source(template, partial)
    fields = {f.name for f in dataclasses.fields(key)}
    read = set(re.findall(rf"\b{var}\.(\w+)", source))
    assert read and read <= fields, read - fields
    names = set(re.findall(r"{{\s*(\w+)", source)) | set(re.findall(r"{%\s*(?:el)?if\s+(?:not\s+)?(\w+)", source))
    names |= set(re.findall(r"{%\s*for\s+[\w, ]+\s+in\s+(\w+)", source))
    local = set(re.findall(r" as (\w+)\b", source)) | set(re.findall(r"\bwith (\w+)=", source))
    local |= set(re.findall(r"\bwith \w+=\S+ (\w+)=", source)) | set(re.findall(r"\bcount (\w+)=", source))
    for names_in_loop in re.findall(r"{%\s*for\s+([\w, ]+)\s+in", source):
        local |= set(names_in_loop.replace(" ", "").split(","))
    local |= {"forloop"} if "{% for" in source else set()  # the loop's own
    assert names - local <= {var} | slots, names - local


def test_a_thread_line_hands_its_includes_only_what_it_holds():
    """The line's includes read the line (as `message`), its attachments and
    the Page's guidance settings, nothing else."""
    fields = {f.name for f in dataclasses.fields(thread_lines.ThreadLine)}
    guidance = _partial_source("templates_app/_comment_guidance.html", None)
    assert set(re.findall(r"\bmessage\.(\w+)", guidance)) <= fields
    assert set(re.findall(r"{{\s*(\w+)", guidance)) <= {"message", "sensitive"}
    attachments = _partial_source("inbox/_attachments.html", None)
    assert set(re.findall(r"\ba\.(\w+)", attachments)) <= {f.name for f in dataclasses.fields(thread_lines.LineAttachment)}
    assert "m." not in attachments


def test_the_topbar_status_is_rendered_once_per_content_and_follows_the_page(client, bob, page, clock):
    office_hours(page)
    clock.set(paris(2026, 11, 24, 11, 0))  # Tuesday, open
    client.force_login(bob)
    fragments.cache_clear()
    pill = re.compile(r'<span id="topbar-availability".*?</a></span>', re.S)
    first = pill.search(client.get("/").content.decode()).group()
    misses = fragments.cache_info().misses
    second = pill.search(client.get("/").content.decode()).group()
    assert first == second and "until 18:00" in first and "today" not in first  # "today" goes without saying
    assert fragments.cache_info().misses == misses, "the second page reused the topbar's HTML"
    clock.set(paris(2026, 11, 24, 20, 0))  # closed: another content, another key
    closed = pill.search(client.get("/").content.decode()).group()
    assert 'data-availability="closed"' in closed and "opens tomorrow 09:00" in closed
    client.cookies["django_language"] = "fr"
    french = pill.search(client.get("/").content.decode()).group()
    assert "Fermé" in french or "fermé" in french.lower(), french


def test_with_debug_on_a_fragment_is_rendered_afresh_every_time(client, bob, page, settings):
    # `make run` (DEBUG) edits templates live: nothing may be served from the cache there.
    settings.DEBUG = True
    fragments.cache_clear()
    client.force_login(bob)
    first = client.get("/")
    second = client.get("/")
    assert first.status_code == second.status_code == 200
    assert header_line(first.content.decode(), page.pk).count("away-form") == 1
    info = fragments.cache_info()
    assert (info.hits, info.misses, info.currsize) == (0, 0, 0)


def test_the_shortcuts_dialog_is_rendered_once_per_language(client, bob, page):
    client.force_login(bob)
    fragments.cache_clear()
    dialog = re.compile(r'<dialog id="keys-help".*?</dialog>', re.S)
    english = [dialog.search(client.get(path).content.decode()).group() for path in ("/", "/", "/")]
    assert english[0] == english[1] == english[2] and "Keyboard shortcuts" in english[0]
    misses = fragments.cache_info().misses
    french = dialog.search(client.get("/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()).group()
    assert "Raccourcis clavier" in french and fragments.cache_info().misses > misses


def test_the_composers_saved_reply_addons_read_only_their_two_urls(client, bob, page, deliver):
    source = _partial_source("templates_app/_composer_addons.html", None)
    assert set(re.findall(r"{{\s*(\w+)", source)) == {"picker_url", "guidance_url"}
    assert "{% if" not in source and "{% for" not in source
    from .inbox_helpers import customer_writes

    first = customer_writes(deliver, page, "p1", "Bonjour", seconds_ago=60)
    second = customer_writes(deliver, page, "p2", "Hello", seconds_ago=30)
    client.force_login(bob)
    for conversation in (first, second):
        html = client.get(f"/c/{conversation.pk}/").content.decode()
        assert f'data-picker-url="/saved-replies/conversations/{conversation.pk}/picker/"' in html
        assert f'hx-post="/saved-replies/conversations/{conversation.pk}/guidance/"' in html
        assert fragments.slot("picker") not in html and fragments.slot("guidance") not in html


def test_with_debug_on_a_conversation_renders_its_fragments_afresh(client, bob, page, deliver, settings):
    from .inbox_helpers import customer_writes

    settings.DEBUG = True
    fragments.cache_clear()
    conversation = customer_writes(deliver, page, "p1", "Bonjour", seconds_ago=60, name="Camille Martin")
    client.force_login(bob)
    html = client.get(f"/c/{conversation.pk}/").content.decode()
    assert '<header id="conv-head"' in html and "Camille Martin" in html and 'id="keys-help"' in html
    assert f'id="m{conversation.messages.get().pk}"' in html and "data-picker-url=" in html
    for space in (fragments.LISTS, fragments.THREAD):
        info = fragments.cache_info(space)
        assert (info.hits, info.misses, info.currsize) == (0, 0, 0)


def test_the_top_bar_follows_the_section_the_reader_and_the_language(client, alice, bob, page):
    bar = re.compile(r'<header class="topbar">.*?</header>', re.S)
    client.force_login(bob)
    fragments.cache_clear()
    queue = bar.search(client.get("/?view=mine&q=%22%3E").content.decode()).group()
    assert '<a href="/" aria-current="page">Inbox</a>' in queue and 'href="/settings/"' not in queue  # an agent
    assert '<span class="whoami">Bob</span>' in queue and '<option value="en" selected>EN</option>' in queue
    assert re.findall(r'name="next" type="hidden" value="([^"]*)"', queue) == ["/?view=mine&amp;q=%22%3E"]
    tokens = re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', queue)
    assert len(tokens) == 2 and all(_does_token_match(t, client.cookies["csrftoken"].value) for t in tokens)
    assert 'id="topbar-availability"' in queue  # the Pages' pill, filled in
    for name in ("csrf", "next", "status"):
        assert fragments.slot(name) not in queue
    dashboard = bar.search(client.get(f"/dashboard/{page.pk}/").content.decode()).group()
    assert '<a href="/dashboard/" aria-current="page">Dashboard</a>' in dashboard
    assert '<a href="/" >Inbox</a>' in dashboard
    french = bar.search(client.get("/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()).group()
    assert "Boîte de réception" in french and '<option value="fr" selected>FR</option>' in french
    client.force_login(alice)  # an admin of the Page: Settings shows, with her name
    admin = bar.search(client.get("/").content.decode()).group()
    assert '<a href="/settings/" >Settings</a>' in admin and '<span class="whoami">Alice</span>' in admin

"""Hostile text renders inert (issue 8, item 4).

An XSS corpus — script tags, event handlers, `javascript:` and `data:` URLs,
RTL overrides, a 100,000-character text, emoji, null bytes, template syntax —
goes in through Meta's webhook as contact names, messages, comments and
attachments, and through the services as notes and saved replies. Chromium
then opens every page that shows them: the `tab` fixture fails the test on
any dialog or JS error, and each page is searched for anything that could
run (a script not ours, an on* attribute, a javascript:/data: link, a frame).
"""

from __future__ import annotations

import time

import pytest

from inbox import simulation

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CORPUS = [
    "<script>alert('xss-script')</script>",
    "<img src=x onerror=alert('xss-img')>",
    "\"><svg onload=alert('xss-svg')>",
    "'><iframe src=javascript:alert('xss-iframe')>",
    "<a href=\"javascript:alert('xss-link')\">clique</a>",
    "javascript:alert('xss-bare')",
    "data:text/html,<script>alert('xss-data')</script>",
    "https://example.com/\"onmouseover=\"alert('xss-attr')\"x=\"",
    "http://x.example/<script>alert('xss-url')</script>",
    "\u202egnp.exe — RTL override",
    "emoji 😀👩‍👩‍👧‍👦🏳️‍🌈 ﷽",
    "nul\x00byte",
    "{{ 7|add:7 }} {% debug %} ${7*7} #{7*7}",
    "</textarea><script>alert('xss-textarea')</script>",
    "<style>body{display:none}</style>",
]
LONG = "Très long message. " * 5_300  # ~100,000 characters

DANGER = """() => {
  const bad = [];
  for (const s of document.querySelectorAll('script')) {
    if (s.type === 'application/json') continue;
    const src = s.getAttribute('src') || '';
    if (!src.startsWith('/static/')) bad.push('script: ' + s.outerHTML.slice(0, 80));
  }
  for (const el of document.querySelectorAll('*')) {
    for (const a of el.attributes) {
      if (/^on/i.test(a.name)) bad.push('handler: <' + el.tagName + ' ' + a.name + '>');
      if (/^(href|src|action|formaction|xlink:href|poster|data)$/i.test(a.name)
          && /^\\s*(javascript|vbscript|data):/i.test(a.value)
          && !(el.tagName === 'IMG' && /^data:image\\//i.test(a.value))) {
        bad.push('url: <' + el.tagName + ' ' + a.name + '=' + a.value.slice(0, 40) + '>');
      }
    }
  }
  // Our charts are inline SVG: allowed, but never a script or foreign HTML inside one.
  for (const el of document.querySelectorAll('iframe, object, embed, base, math, svg script, svg foreignObject, body style')) {
    bad.push('element: <' + el.tagName + '>');
  }
  if (window.__xss) bad.push('window.__xss set');
  return bad;
}"""


@pytest.fixture
def hostile(page, alice, bob, deliver):
    from inbox.models import Contact
    from inbox.services import add_note
    from templates_app.models import SavedReply

    now = time.time() - 600
    messaging = []
    for n, text in enumerate(CORPUS):
        messaging.append(simulation.message(page.meta_page_id, f"psid-x{n}", now + n, text, attachments=[
            {"type": "image", "payload": {"url": "javascript:alert('xss-attachment')"}},
            {"type": "file", "payload": {"url": "data:text/html,<script>alert('xss-file')</script>"}},
            {"type": "video", "payload": {"url": f"https://cdn.example/{text}"}},
        ]))
    messaging.append(simulation.message(page.meta_page_id, "psid-long", now + 50, LONG))
    deliver(simulation.envelope(page.meta_page_id, messaging=messaging))
    changes = [simulation.comment(page.meta_page_id, at=now + 60 + n, text=text, from_id=f"cx{n}", from_name=text[:150],
                                  post_id=f"{page.meta_page_id}_1") for n, text in enumerate(CORPUS)]
    deliver(simulation.envelope(page.meta_page_id, changes=changes))
    for n, contact in enumerate(Contact.objects.filter(external_id__startswith="psid-x").order_by("external_id")):
        contact.name = CORPUS[n % len(CORPUS)].replace("\x00", "")[:200]
        contact.save(update_fields=["name"])
    first = page.conversations.filter(kind="private").order_by("pk").first()
    for text in CORPUS:
        add_note(conversation=first, author=alice, text=text.replace("\x00", ""))
    for n, text in enumerate(CORPUS):
        clean = text.replace("\x00", "")
        SavedReply.objects.create(page=page, title=clean[:120], shortcut=f"/x{n}", body=f"{clean}\n{{{{ contact.first_name }}}}",
                                  created_by=alice)
    return page


def _inert(tab, url: str) -> None:
    tab.goto(url)
    tab.wait_for_load_state("networkidle")
    found = tab.evaluate(DANGER)
    assert found == [], f"{url}: {found}"


def test_the_corpus_renders_inert_on_every_page_that_shows_it(tab, hostile, alice):
    sign_in(tab, "alice")
    _inert(tab, "/")
    # The corpus is shown as text, not swallowed.
    assert "<script>alert('xss-script')</script>" in tab.inner_text("body")
    for conversation in hostile.conversations.order_by("pk"):
        _inert(tab, f"/c/{conversation.pk}/")
        _inert(tab, f"/saved-replies/conversations/{conversation.pk}/picker/?q=x")
    _inert(tab, "/saved-replies/")
    _inert(tab, f"/saved-replies/page/{hostile.pk}/")
    _inert(tab, "/dashboard/")
    _inert(tab, "/?q=%3Cscript%3Ealert(1)%3C/script%3E")


def test_the_long_message_and_the_rtl_override_stay_in_their_box(tab, hostile, alice):
    sign_in(tab, "alice")
    long_thread = hostile.conversations.get(contact__external_id="psid-long")
    _inert(tab, f"/c/{long_thread.pk}/")
    assert LONG.strip()[:200] in tab.inner_text("body")
    # Nothing wider than the window: the text wraps.
    overflow = tab.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1
    rtl = hostile.conversations.get(contact__external_id="psid-x9")
    _inert(tab, f"/c/{rtl.pk}/")


def test_linkify_never_builds_a_dangerous_link():
    from html.parser import HTMLParser

    from inbox.templatetags.inbox_tags import linkify

    class Tags(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.tags: list[tuple[str, dict]] = []

        def handle_starttag(self, tag, attrs):
            self.tags.append((tag, dict(attrs)))

    for text in [*CORPUS, LONG[:2000]]:
        parser = Tags()
        parser.feed(str(linkify(text)))
        for tag, attrs in parser.tags:
            # Only links, only http(s), only the three attributes linkify sets.
            assert tag == "a", (text, tag)
            assert set(attrs) == {"href", "target", "rel"}, (text, attrs)
            assert attrs["href"].startswith(("http://", "https://")), (text, attrs["href"])

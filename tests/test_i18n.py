"""French first, English second: the main screens render in the language a
community manager chose (cookie from the topbar switcher, else the browser's
Accept-Language, else French), and the French catalogue is complete, not
fuzzy, placeholder-faithful and compiled (the committed .mo matches the .po,
so `make run` needs no gettext on the machine)."""

from __future__ import annotations

import gettext as gnu_gettext
import html as html_lib
import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.utils import translation
from django.utils.translation import gettext, ngettext, pgettext

from .inbox_helpers import customer_writes

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "locale" / "fr" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")
NBSP = "\u00a0"

# --- The catalogue, read with a regex (no dependency for a test) -------------

_STRING = r'"(?:[^"\\]|\\.)*"'
_ENTRY = re.compile(
    r"(?P<comments>(?:^#.*\n)*)"
    rf"(?:^msgctxt (?P<ctxt>{_STRING}(?:\n{_STRING})*)\n)?"
    rf"^msgid (?P<id>{_STRING}(?:\n{_STRING})*)\n"
    rf"(?:^msgid_plural (?P<plural>{_STRING}(?:\n{_STRING})*)\n)?"
    rf"(?P<strs>(?:^msgstr(?:\[\d+\])? {_STRING}(?:\n{_STRING})*\n?)+)",
    re.MULTILINE,
)
_MSGSTR = re.compile(rf"^msgstr(?:\[(\d+)\])? ({_STRING}(?:\n{_STRING})*)", re.MULTILINE)


def _unquote(block: str | None) -> str | None:
    if block is None:
        return None
    parts = re.findall(_STRING, block)
    escapes = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}
    return "".join(re.sub(r"\\(.)", lambda m: escapes[m.group(1)], p[1:-1]) for p in parts)


def catalogue() -> list[dict]:
    text = PO.read_text(encoding="utf-8")
    entries = []
    for match in _ENTRY.finditer(text):
        if match.group("comments") and all(ln.startswith("#~") for ln in match.group("comments").splitlines()):
            continue
        strs = {int(i or 0): _unquote(s) for i, s in _MSGSTR.findall(match.group("strs"))}
        entries.append({
            "flags": [f.strip() for ln in match.group("comments").splitlines() if ln.startswith("#,")
                      for f in ln[2:].split(",")],
            "ctxt": _unquote(match.group("ctxt")),
            "id": _unquote(match.group("id")),
            "plural": _unquote(match.group("plural")),
            "strs": strs,
        })
    return entries


def placeholders(text: str) -> set[str]:
    python = re.findall(r"%\([a-z_]+\)[0-9]*[sd]", text)
    braces = re.findall(r"\{\{ *[a-z_]+ *\}\}|\{[a-z_]+\}", text)
    return set(python) | {re.sub(r"\s", "", b) for b in braces}


def test_every_french_msgid_is_translated_and_none_is_fuzzy():
    entries = catalogue()
    header = [e for e in entries if e["id"] == ""]
    messages = [e for e in entries if e["id"] != ""]

    assert len(header) == 1 and "Plural-Forms: nplurals=2; plural=(n > 1);" in header[0]["strs"][0]
    assert len(messages) > 500  # the whole UI, not a sample
    assert [e["id"] for e in entries if "fuzzy" in e["flags"]] == []
    untranslated = [e["id"] for e in messages if not e["strs"] or any(not s for s in e["strs"].values())]
    assert untranslated == []
    plural_forms = [e["id"] for e in messages if e["plural"] is not None and sorted(e["strs"]) != [0, 1]]
    assert plural_forms == []


def test_every_translation_keeps_the_placeholders_of_its_source():
    for e in catalogue():
        if not e["id"]:
            continue
        # Form 0 is French for 0 and 1 (the English singular), form 1 the plural.
        sources = {0: e["id"]} if e["plural"] is None else {0: e["id"], 1: e["plural"]}
        allowed = placeholders(e["id"]) | placeholders(e["plural"] or "")
        for index, source in sources.items():
            text = e["strs"][index]
            assert placeholders(text) <= allowed, (e["id"], text)
            dropped = placeholders(source) - placeholders(text)
            # A French singular may say its number in words ("au prochain message").
            assert not dropped or (index == 0 and e["plural"] is not None and len(dropped) == 1), (e["id"], text)
            assert text.count("%%") == source.count("%%"), (e["id"], text)


def test_french_typography_puts_a_non_breaking_space_before_double_punctuation():
    for e in catalogue():
        for text in e["strs"].values():
            assert not re.search(r" [:;?!]", text), text
            assert "« " not in text and " »" not in text, text


def test_the_committed_mo_is_the_compiled_po():
    assert MO.exists(), "run compilemessages and commit locale/fr/LC_MESSAGES/django.mo"
    with MO.open("rb") as handle:
        compiled = gnu_gettext.GNUTranslations(handle)
    for e in catalogue():
        if not e["id"]:
            continue
        key = f"{e['ctxt']}\x04{e['id']}" if e["ctxt"] is not None else e["id"]
        if e["plural"] is None:
            assert compiled._catalog.get(key) == e["strs"][0], f"stale .mo: {e['id']!r}"  # type: ignore[attr-defined]
        else:
            for index, text in e["strs"].items():
                assert compiled._catalog.get((key, index)) == text, f"stale .mo: {e['id']!r}"  # type: ignore[attr-defined]


_TEMPLATE_TRANSLATE = re.compile(
    r"""\{%\s*(?:translate|trans)\s+(?P<q>["'])(?P<id>(?:(?!(?P=q)).)*)(?P=q)"""
    r"""(?:\s+context\s+(?P<q2>["'])(?P<ctxt>(?:(?!(?P=q2)).)*)(?P=q2))?""",
)
_PYTHON_GETTEXT = re.compile(r"""\b(?:_|gettext|gettext_lazy)\(\s*"((?:[^"\\]|\\.)*)"\s*[,)]""")


def test_every_string_marked_in_templates_and_python_is_in_the_french_catalogue():
    """A string marked after the last `make messages` shows in English to
    French users: this lists them (run the makemessages pass, translate)."""
    known = {(e["ctxt"], e["id"]) for e in catalogue()}
    missing = []
    for path in sorted((ROOT / "templates").rglob("*.html")) + sorted((ROOT / "templates").rglob("*.txt")):
        for m in _TEMPLATE_TRANSLATE.finditer(path.read_text(encoding="utf-8")):
            # makemessages doubles a template's "%" (python-format msgids).
            if (m.group("ctxt"), m.group("id").replace("%", "%%")) not in known:
                missing.append(f"{path.relative_to(ROOT)}: {m.group('id')}")
    for folder in ("inbox", "templates_app", "config"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for m in _PYTHON_GETTEXT.finditer(path.read_text(encoding="utf-8")):
                msgid = _unquote(f'"{m.group(1)}"')
                if (None, msgid) not in known:
                    missing.append(f"{path.relative_to(ROOT)}: {msgid}")
    assert missing == []


# xgettext only extracts the names makemessages gives it: a string marked
# through any other alias (`gettext_lazy as _lazy`) never reaches the catalogue.
_EXTRACTED_NAMES = {"_", "gettext", "gettext_lazy", "ngettext", "ngettext_lazy", "pgettext", "pgettext_lazy",
                    "npgettext", "npgettext_lazy", "gettext_noop"}


def test_python_marks_strings_only_with_names_makemessages_extracts():
    aliases = []
    for folder in ("inbox", "templates_app", "config"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            for names in re.findall(r"^from django\.utils\.translation import \(?([^)\n]+)", text, re.MULTILINE):
                for name in names.split(","):
                    parts = name.split()
                    if len(parts) == 3 and parts[0] in _EXTRACTED_NAMES and parts[2] not in _EXTRACTED_NAMES:
                        aliases.append(f"{path.relative_to(ROOT)}: {name.strip()}")
    assert aliases == []


def test_french_plurals_and_contexts_follow_french_rules():
    with translation.override("fr"):
        assert ngettext("%(count)s day", "%(count)s days", 0) % {"count": 0} == "0 jour"
        assert ngettext("%(count)s day", "%(count)s days", 1) % {"count": 1} == "1 jour"
        assert ngettext("%(count)s day", "%(count)s days", 2) % {"count": 2} == "2 jours"
        assert pgettext("duration unit: days", "d") == "j"
        assert pgettext("queue filter", "Mine") == "Les miennes"
        assert gettext("Tomorrow at 9:00") == f"Demain à 9{NBSP}h"
    with translation.override("en"):
        assert pgettext("duration unit: days", "d") == "d"
        assert gettext("Inbox") == "Inbox"


# --- The screens --------------------------------------------------------------


@pytest.fixture
def screens(page, alice, deliver):
    conversation = customer_writes(deliver, page, "p-camille", "Bonjour, vous livrez à Lyon ?", name="Camille Martin")
    return {
        "queue": "/",
        "conversation": f"/c/{conversation.pk}/",
        "dashboard": f"/dashboard/{page.pk}/",
        "saved replies": f"/saved-replies/page/{page.pk}/",
        "settings": f"/pages/{page.pk}/settings/",
    }


FRENCH = {
    "queue": ["Boîte de réception", "À traiter", "Les miennes", "Raccourcis clavier", "Rechercher un nom ou un message…"],
    "conversation": ["Boîte de réception", "Envoyer", "Ajouter une note interne", "Assignée à"],
    "dashboard": ["Tableau de bord", "Délais de réponse", "Badge de Meta", "Par agent"],
    "saved replies": ["Réponses enregistrées", "Importer un CSV", "Pas encore de réponse enregistrée."],
    "settings": ["Réglages", "Horaires d'ouverture", "Jours de fermeture", "Messages d'absence"],
}
ENGLISH = {
    "queue": ["Inbox", "To answer", "Mine", "Keyboard shortcuts", "Search a name or a message…"],
    "conversation": ["Inbox", "Send", "Add internal note", "Assigned to"],
    "dashboard": ["Dashboard", "Response times", "Meta's badge", "By agent"],
    "saved replies": ["Saved replies", "Import CSV", "No saved reply yet."],
    "settings": ["Settings", "Opening hours", "Closure dates", "Away messages"],
}


def visible_text(response) -> str:
    """The page's text as a person reads it: tags and attribute-less markup
    gone, entities decoded, non-breaking spaces kept."""
    body = response.content.decode()
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S)
    # What a person also reads (or hears) in attributes.
    attributes = re.findall(r'\s(?:placeholder|title|aria-label|alt|data-label[a-z-]*)="([^"]*)"', body)
    body = re.sub(r"<[^>]+>", " ", body) + " " + " | ".join(attributes)
    return re.sub(r"[ \t\r\n]+", " ", html_lib.unescape(body))


def english_phrases_left(text: str) -> list[str]:
    """Source strings of several words, with no placeholder, whose French
    differs: finding one on a French page means it escaped translation."""
    phrases = []
    for e in catalogue():
        msgid = e["id"]
        if (e["plural"] is None and len(msgid.split()) >= 3 and "%" not in msgid and "{" not in msgid
                and e["strs"].get(0) and e["strs"][0] != msgid):
            phrases.append(msgid)
    return [p for p in phrases if p in text]


@pytest.mark.parametrize("screen", list(FRENCH))
def test_it_renders_each_main_screen_in_french_for_a_french_browser(client, alice, screens, screen):
    client.force_login(alice)

    response = client.get(screens[screen], HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9,en;q=0.5")

    assert response.status_code == 200
    assert '<html lang="fr">' in response.content.decode()
    text = visible_text(response)
    for phrase in FRENCH[screen]:
        assert phrase in text, phrase
    assert english_phrases_left(text) == []


@pytest.mark.parametrize("screen", list(ENGLISH))
def test_it_renders_each_main_screen_in_english_for_an_english_browser(client, alice, screens, screen):
    client.force_login(alice)

    response = client.get(screens[screen], HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.9")

    assert response.status_code == 200
    assert '<html lang="en">' in response.content.decode()
    text = visible_text(response)
    for phrase in ENGLISH[screen]:
        assert phrase in text, phrase
    assert "Boîte de réception" not in text


def test_it_speaks_french_to_a_browser_that_states_no_language(client, alice, screens, settings):
    from config import settings as product

    assert product.LANGUAGE_CODE == "fr"
    settings.LANGUAGE_CODE = product.LANGUAGE_CODE  # the suite itself defaults to English (conftest)
    client.force_login(alice)

    response = client.get("/")

    assert '<html lang="fr">' in response.content.decode()
    assert "Boîte de réception" in visible_text(response)


def test_the_topbar_switcher_remembers_the_choice_across_requests(client, alice, screens):
    client.force_login(alice)
    first = client.get("/", HTTP_ACCEPT_LANGUAGE="fr")
    assert 'action="/i18n/setlang/"' in first.content.decode()
    assert re.search(r'<option value="fr"\s+selected>', first.content.decode())

    switched = client.post("/i18n/setlang/", {"language": "en", "next": screens["conversation"]},
                           HTTP_ACCEPT_LANGUAGE="fr")

    assert switched.status_code == 302 and switched["Location"] == screens["conversation"]
    assert client.cookies[django_settings.LANGUAGE_COOKIE_NAME].value == "en"
    # The browser still prefers French; the cookie wins, page after page.
    for path in (screens["conversation"], screens["queue"], screens["dashboard"]):
        response = client.get(path, HTTP_ACCEPT_LANGUAGE="fr")
        assert '<html lang="en">' in response.content.decode(), path
        assert "Inbox" in visible_text(response)
    assert re.search(r'<option value="en"\s+selected>', response.content.decode())

    client.post("/i18n/setlang/", {"language": "fr", "next": "/"}, HTTP_ACCEPT_LANGUAGE="en")

    response = client.get(screens["settings"], HTTP_ACCEPT_LANGUAGE="en")
    assert '<html lang="fr">' in response.content.decode()
    assert "Horaires d'ouverture" in visible_text(response)


def test_the_switcher_refuses_a_language_the_product_does_not_speak(client, alice, screens):
    client.force_login(alice)

    client.post("/i18n/setlang/", {"language": "de", "next": "/"}, HTTP_ACCEPT_LANGUAGE="fr")

    # Django keeps the cookie (it ships German for its own strings), but the
    # middleware only honours LANGUAGES: the browser's French wins.
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="fr")
    assert '<html lang="fr">' in response.content.decode()
    assert "Boîte de réception" in visible_text(response)


def test_an_outsider_still_gets_404_in_french(client, charlie, screens):
    client.force_login(charlie)

    response = client.get(screens["conversation"], HTTP_ACCEPT_LANGUAGE="fr")

    assert response.status_code == 404

"""Saved replies: rendering, similarity and the composer's guidance rules.

Plain functions, no database: part of `make test`, and also runnable alone
in a second with `.venv/bin/pytest -p no:django --noconftest
tests/test_guidance_rules.py -q`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from difflib import SequenceMatcher
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from templates_app.guidance import (
    MAX_TEXT_LENGTH,
    Finding,
    Warning,
    check_agent_reliance,
    check_hot_template,
    check_message_length,
    check_private_reply,
    check_public_repeat,
    check_repeat_contact,
    check_sensitive_public,
    check_signature,
    check_too_long,
    check_unedited,
    check_window,
    compile_order_pattern,
    find_personal_data,
    fits_send_api,
    iban_is_valid,
    window_warning,
)
from templates_app.rendering import (
    VARIABLES,
    cursor_position,
    find_variables,
    render,
    render_with_cursor,
    unknown_variables,
)
from templates_app.similarity import (
    UNEDITED_THRESHOLD,
    is_unedited,
    normalize,
    similarity,
    split_signature,
)

HOURS = (
    "Bonjour {{ contact.first_name }}, nos horaires : du lundi au vendredi de 9 h à 18 h. "
    "Prochaine ouverture : {{page.next_opening}}. — {{ agent.first_name }}"
)
VALUES = {
    "contact.first_name": "Paul",
    "agent.first_name": "Marie",
    "page.name": "Boutique Lumière",
    "page.next_opening": "lundi 9 h",
}


def found(text: str, **kwargs: str) -> list[tuple[str, str]]:
    return [
        (finding.kind, text[finding.start : finding.end])
        for finding in find_personal_data(text, **kwargs)
    ]


def kinds(text: str, **kwargs: str) -> set[str]:
    return {finding.kind for finding in find_personal_data(text, **kwargs)}


# --- Rendering -----------------------------------------------------------------


def test_it_lists_each_variable_once_in_order():
    body = "{{ page.name }} {{ contact.first_name }} {{page.name}} {{ cursor }}"
    assert find_variables(body) == ["page.name", "contact.first_name"]


def test_it_tolerates_white_space_inside_the_braces():
    body = "{{contact.first_name}} {{   agent.first_name }} {{\tpage.name\n}}"
    assert find_variables(body) == ["contact.first_name", "agent.first_name", "page.name"]
    assert unknown_variables(body) == []
    assert render(body, VALUES) == "Paul Marie Boutique Lumière"


def test_it_flags_a_misspelt_variable():
    body = "Bonjour {{ contact.firstname }}, {{ agent.first_name }} {{ page.nom }}"
    assert unknown_variables(body) == ["contact.firstname", "page.nom"]


def test_it_knows_every_documented_variable():
    body = " ".join(f"{{{{ {name} }}}}" for name in VARIABLES)
    assert unknown_variables(body) == []
    assert render(body, VALUES) == "Paul Marie Boutique Lumière lundi 9 h"


def test_it_renders_a_saved_reply():
    assert render(HOURS, VALUES) == (
        "Bonjour Paul, nos horaires : du lundi au vendredi de 9 h à 18 h. "
        "Prochaine ouverture : lundi 9 h. — Marie"
    )


def test_it_never_rescans_an_inserted_value():
    values = {**VALUES, "contact.first_name": "{{ agent.first_name }}"}
    assert render("Bonjour {{ contact.first_name }} !", values) == (
        "Bonjour {{ agent.first_name }} !"
    )


def test_it_passes_markup_in_a_value_through_as_plain_text():
    hostile = "<img src=x onerror=alert(1)>"
    rendered = render("Bonjour {{ contact.first_name }} !", {"contact.first_name": hostile})
    # Unchanged and unescaped: escaping belongs to the template that shows it.
    assert rendered == f"Bonjour {hostile} !"
    assert "&lt;" not in rendered


@given(st.text())
def test_it_inserts_any_value_verbatim(value):
    assert render("<{{ contact.first_name }}>", {"contact.first_name": value}) == f"<{value}>"


def test_it_renders_a_missing_value_as_nothing_rather_than_braces():
    assert render("Bonjour {{ contact.first_name }} !", {}) == "Bonjour  !"


def test_it_leaves_an_unknown_placeholder_for_the_agent_to_see():
    values = {**VALUES, "contact.firstname": "Paul"}
    assert render("Bonjour {{ contact.firstname }}", values) == "Bonjour {{ contact.firstname }}"


def test_it_removes_the_cursor_marker_from_the_text():
    assert render("Bonjour, {{ cursor }}merci.", VALUES) == "Bonjour, merci."


def test_it_puts_the_cursor_at_the_marker():
    assert cursor_position("Bonjour, {{ cursor }} à bientôt…") == len("Bonjour, ")
    assert cursor_position("Bonjour, {{cursor}}") == len("Bonjour, ")


def test_it_puts_the_cursor_after_the_first_line_ending_with_an_ellipsis():
    body = "Bonjour,\nConcernant votre commande… \nÀ bientôt..."
    assert cursor_position(body) == len("Bonjour,\nConcernant votre commande…")
    assert cursor_position("Bonjour,\nVotre colis...\nMerci") == len("Bonjour,\nVotre colis...")


def test_it_has_no_cursor_position_without_marker_or_ellipsis():
    assert cursor_position("Bonjour, merci pour votre message.") is None
    assert cursor_position("Le … est au milieu de la ligne.") is None


def test_it_gives_the_cursor_offset_in_the_rendered_text():
    body = "Bonjour {{ contact.first_name }}, {{ cursor }}\n— {{ agent.first_name }}"
    text, cursor = render_with_cursor(body, VALUES)
    assert text == "Bonjour Paul, \n— Marie"
    assert cursor == len("Bonjour Paul, ")


def test_it_ignores_a_cursor_marker_inside_a_value():
    values = {**VALUES, "contact.first_name": "{{ cursor }}"}
    text, cursor = render_with_cursor("Bonjour {{ contact.first_name }}, votre colis…", values)
    assert text == "Bonjour {{ cursor }}, votre colis…"
    assert cursor == len(text)


# --- Similarity ------------------------------------------------------------------

# 100 distinct characters: SequenceMatcher can only align them in place, so a
# copy with k characters replaced matches 100 - k of 200 and scores exactly
# (100 - k) / 100.
DISTINCT_100 = "".join(chr(0x4E00 + i) for i in range(100))


def with_replaced(text: str, k: int) -> str:
    chars = list(text)
    for i in range(k):
        chars[i * 9 + 4] = "#"
    return "".join(chars)


def test_it_scores_a_known_ratio_exactly():
    assert SequenceMatcher(None, DISTINCT_100, with_replaced(DISTINCT_100, 10)).ratio() == 0.90
    assert similarity(DISTINCT_100, with_replaced(DISTINCT_100, 10)) == 0.90
    assert similarity(DISTINCT_100, with_replaced(DISTINCT_100, 11)) == 0.89


def test_it_counts_exactly_ninety_percent_as_unedited():
    assert UNEDITED_THRESHOLD == 0.90
    assert is_unedited(with_replaced(DISTINCT_100, 10), DISTINCT_100)
    assert not is_unedited(with_replaced(DISTINCT_100, 11), DISTINCT_100)


def test_it_judges_long_replies_character_by_character():
    rendered = (
        "Bonjour, merci pour votre message. Nos horaires d'ouverture sont du lundi au "
        "vendredi de 9 h à 18 h, et le samedi de 10 h à 16 h. Vous pouvez aussi passer en "
        "boutique, nous serons ravis de vous accueillir. Pour toute question sur votre "
        "commande, envoyez-nous votre numéro de commande en message privé."
    )
    # Eight accents fixed in 300 characters. SequenceMatcher's autojunk would
    # ignore frequent letters in a text this long and score it near 0.90.
    assert similarity(rendered.replace("e", "é", 8), rendered) > 0.97


def test_it_normalizes_case_and_white_space():
    assert normalize("  Bonjour\n\n PAUL,\t merci  ") == "bonjour paul, merci"
    assert similarity("Bonjour PAUL", "bonjour   paul\n") == 1.0


@pytest.mark.parametrize(
    "signed",
    [
        "Merci pour votre message. — Marie",
        "Merci pour votre message.\n- Marie",
        "Merci pour votre message.\nMarie",
        "Merci pour votre message. Cordialement, Marie",
        "Merci pour votre message. Bonne journée, Marie 😊",
        "Merci pour votre message.\nCordialement,\nMARIE",
    ],
)
def test_it_leaves_the_signature_out(signed):
    assert normalize(signed, signature_names=["Marie"]).startswith("merci pour votre message")
    assert "marie" not in normalize(signed, signature_names=["Marie"])
    assert is_unedited(signed, "Merci pour votre message.", ["Marie"])


@pytest.mark.parametrize(
    "text",
    [
        "Merci pour votre message. — Marie",  # not one of the signature names
        "Je transmets à Rosemarie",
        "Je transmets à Jean-Marie",
        "Marie vous rappellera demain.",
    ],
)
def test_it_keeps_a_name_that_is_not_a_signature(text):
    names = ["Sophie"] if "—" in text else ["Marie"]
    assert normalize(text, signature_names=names) == " ".join(text.casefold().split())


@pytest.mark.parametrize("text", ["Merci !\n— Marie", "Merci !\nMarie", "Merci ! — Marie"])
def test_it_keeps_a_short_reply_that_looks_like_a_closing(text):
    assert normalize(text, signature_names=["Marie"]) == "merci !"


def test_it_says_who_signed():
    assert split_signature("Merci !\n— Boutique Lumière", ["Marie", "Boutique Lumière"]) == (
        "Merci !\n",
        "Boutique Lumière",
    )
    assert split_signature("Merci !", ["Marie"]) == ("Merci !", None)


@given(st.text(max_size=60), st.text(max_size=60))
def test_it_scores_between_zero_and_one(a, b):
    assert 0.0 <= similarity(a, b) <= 1.0
    assert similarity(a, a) == 1.0


# --- Overuse -----------------------------------------------------------------------


def test_it_asks_to_confirm_a_saved_reply_this_contact_already_received():
    warning = check_repeat_contact(
        "Bonjour Paul, nos horaires : 9 h à 18 h. — Marie",
        ["Commande expédiée hier.", "bonjour paul,  nos horaires : 9 h à 18 h."],
        signature_names=["Marie"],
    )
    assert warning == Warning("repeat_contact", "confirm", {"count": 1, "days": 30})


def test_it_lets_a_reworded_reply_to_the_same_contact_through():
    previous = ["Bonjour Paul, nos horaires : 9 h à 18 h."]
    reworded = (
        "Paul, nous sommes ouverts de 9 h à 18 h du lundi au vendredi, et fermés le dimanche."
    )
    assert check_repeat_contact(reworded, previous) is None
    assert check_repeat_contact("Bonjour Paul, nos horaires : 9 h à 18 h.", []) is None


def test_it_warns_about_an_unedited_reply_at_ninety_percent():
    assert check_unedited(with_replaced(DISTINCT_100, 10), DISTINCT_100) == Warning(
        "unedited", "warn", {"percent": 90}
    )
    assert check_unedited(with_replaced(DISTINCT_100, 11), DISTINCT_100) is None


def test_it_warns_at_the_tenth_use_in_24_hours():
    assert check_hot_template(9) is None
    assert check_hot_template(10) == Warning("hot_template", "warn", {"count": 10, "hours": 24})
    assert check_hot_template(11) is not None
    assert check_hot_template(4, threshold=5) is None
    assert check_hot_template(5, threshold=5) is not None


def test_it_warns_when_over_30_percent_of_the_last_50_replies_were_unedited():
    assert check_agent_reliance([True] * 15 + [False] * 35) is None
    assert check_agent_reliance([True] * 16 + [False] * 34) == Warning(
        "agent_reliance", "warn", {"unedited": 16, "replies": 50, "percent": 30}
    )


def test_it_counts_only_the_last_50_replies():
    # Most recent first: the 20 unedited replies at the end are older than 50.
    assert check_agent_reliance([False] * 50 + [True] * 20) is None
    assert check_agent_reliance([True] * 16 + [False] * 34 + [False] * 20) is not None


def test_it_judges_a_new_agent_on_the_replies_they_have():
    assert check_agent_reliance([True] * 3 + [False] * 7) is None
    assert check_agent_reliance([True] * 4 + [False] * 6) is not None
    assert check_agent_reliance([]) is None
    assert check_agent_reliance([True, False], share=Fraction(1, 2)) is None


def test_it_warns_when_the_same_text_is_already_public_twice_under_the_post():
    draft = "Merci pour votre commentaire ! Écrivez-nous en privé. — Marie"
    same = "merci pour votre commentaire ! écrivez-nous en privé."
    other = "Le magasin ouvre à 9 h."
    names = {"signature_names": ["Marie"]}
    assert check_public_repeat(draft, [same, other], **names) is None
    assert check_public_repeat(draft, [same, same, other], **names) == Warning(
        "public_repeat", "warn", {"count": 2, "hours": 24}
    )
    assert check_public_repeat(draft, [other, other, other], **names) is None


# --- Length --------------------------------------------------------------------------


def test_it_warns_above_640_characters():
    assert check_too_long("x" * 640) is None
    assert check_too_long("x" * 641) == Warning("too_long", "warn", {"length": 641, "limit": 640})


def test_it_refuses_a_private_message_of_2000_characters():
    assert MAX_TEXT_LENGTH == 2000
    assert fits_send_api("x" * 1999)
    assert check_message_length("x" * 1999) is None
    assert not fits_send_api("x" * 2000)
    assert check_message_length("x" * 2000) == Warning(
        "too_long", "refuse", {"length": 2000, "limit": 1999}
    )


# --- Signature -------------------------------------------------------------------------

SIGNATURE = {"agent_first_name": "Marie", "page_name": "Boutique Lumière"}


@pytest.mark.parametrize(
    "text",
    [
        "Merci !\n— Boutique Lumière",
        "Merci ! Cordialement, Boutique Lumière",
        "Merci !\nL'équipe Boutique Lumière",
        "Merci !\nboutique lumière",
    ],
)
def test_it_warns_when_signed_with_the_page_name(text):
    assert check_signature(text, **SIGNATURE) == Warning(
        "signature", "warn", {"signed_as": "Boutique Lumière", "agent_first_name": "Marie"}
    )


def test_it_warns_when_signed_with_a_company_name():
    warning = check_signature("Merci !\n— Lumière SAS", **SIGNATURE, company_names=["Lumière SAS"])
    assert warning is not None
    assert (warning.kind, warning.params["signed_as"]) == ("warn", "Lumière SAS")


@pytest.mark.parametrize(
    "text",
    ["Merci !\n— Marie", "Merci ! Bonne journée, Marie", "Merci !\nMarie, Boutique Lumière"],
)
def test_it_accepts_the_agents_signature(text):
    assert check_signature(text, **SIGNATURE) is None


def test_it_suggests_signing_an_unsigned_reply():
    expected = Warning("signature", "info", {"agent_first_name": "Marie"})
    assert check_signature("Merci pour votre message.", **SIGNATURE) == expected
    # The Page named in a sentence is not a signature.
    assert check_signature("Merci de votre confiance en Boutique Lumière", **SIGNATURE) == expected


# --- Personal data -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "phone",
    [
        "+33 6 12 34 56 78",
        "06 12 34 56 78",
        "06.12.34.56.78",
        "0612345678",
        "06-12-34-56-78",
        "+33 (0)6 12 34 56 78",
        "+33612345678",
        "+44 20 7946 0958",
        "+1 415 555 2671",
        "+1 (415) 555-2671",
        "0044 20 7946 0958",
    ],
)
def test_it_finds_a_phone_number(phone):
    assert found(f"Rappelez-moi au {phone}, merci.") == [("phone", phone)]


@pytest.mark.parametrize(
    "text",
    [
        "Le pull coûte 12,50 € et le bonnet 1 234,56 €.",
        "Livraison prévue le 12/05/2026 ou le 05.12.2026.",
        "Ouvert de 09:30 à 18:00, le 2026-05-12 à 14:30:00.",
        "Rendez-vous le 01.02.2026 12 h 30.",
        "Votre commande n° 0612345678 est partie.",
        "Le suivi : 06 12 34 56 78.",
        "Profitez de +15 % sur 3 articles.",
        "Il reste 12 34 56 pièces.",
        "Réf. #0612345678",
    ],
)
def test_it_does_not_take_prices_dates_times_or_references_for_phones(text):
    assert "phone" not in kinds(text)


def test_it_finds_an_email_address():
    assert found("Écrivez à marie.dupont+sav@example.co.uk.") == [
        ("email", "marie.dupont+sav@example.co.uk")
    ]
    assert kinds("Suivez @boutique et écrivez à marie@localhost") == set()


@pytest.mark.parametrize(
    "iban",
    [
        "FR76 3000 6000 0112 3456 7890 189",
        "FR7630006000011234567890189",
        "fr76 3000 6000 0112 3456 7890 189",
        "GB82 WEST 1234 5698 7654 32",
        "DE89 3704 0044 0532 0130 00",
        "BE68 5390 0754 7034",
    ],
)
def test_it_finds_an_iban_with_a_valid_checksum(iban):
    assert iban_is_valid(iban)
    assert found(f"Mon IBAN : {iban} merci") == [("iban", iban)]


@pytest.mark.parametrize(
    "iban",
    [
        "FR76 3000 6000 0112 3456 7890 188",  # one digit changed
        "FR76 3000 6000 0112 3456 7891 189",  # another
        "FR77 3000 6000 0112 3456 7890 189",  # check digits changed
        "GB82 WEST 1234 5698 7654 33",
        "DE89 3704 0044 0532 0130 01",
        "FR76 3000 6000 0112 3456 7890 18",  # too short for France
    ],
)
def test_it_ignores_an_iban_with_a_wrong_checksum(iban):
    assert not iban_is_valid(iban)
    assert "iban" not in kinds(f"Mon IBAN : {iban} merci")


def test_it_finds_an_iban_after_a_word_that_looked_like_one():
    text = "Code ok12 puis FR76 3000 6000 0112 3456 7890 189"
    assert found(text) == [("iban", "FR76 3000 6000 0112 3456 7890 189")]


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("Livrez au 12 rue de la Paix, 75002 Paris", "12 rue de la Paix"),
        ("J'habite 3 bis avenue Foch.", "3 bis avenue Foch"),
        ("Send it to 221B Baker Street.", "221B Baker Street"),
        ("10 Downing St. London", "10 Downing St."),
        ("Au 5 av. Jean Jaurès", "5 av. Jean Jaurès"),
        ("7, boulevard Haussmann", "7, boulevard Haussmann"),
        ("3 place de la Concorde", "3 place de la Concorde"),
        ("14 bd Saint-Michel", "14 bd Saint-Michel"),
        ("12 impasse des Lilas", "12 impasse des Lilas"),
        ("8 rue d'Alésia", "8 rue d'Alésia"),
    ],
)
def test_it_finds_a_postal_address(text, address):
    assert found(text) == [("address", address)]


@pytest.mark.parametrize(
    "text",
    [
        "J'ai 2 rues à traverser.",
        "Il reste 1 place de libre.",
        "Je prends 2 cours de yoga par semaine.",
        "Prenez la 1 rue à gauche.",
        "3 places disponibles samedi.",
        "I bought 2 Street Fighter games.",
        "Il y a 4 routes pour venir.",
    ],
)
def test_it_does_not_take_ordinary_sentences_for_addresses(text):
    assert kinds(text) == set()


def test_it_finds_an_order_number_by_the_pages_pattern():
    text = "Ma commande CMD-123456 n'est pas arrivée."
    assert found(text, order_pattern=r"CMD-\d{6}") == [("order_number", "CMD-123456")]
    assert found(text) == []


def test_it_prefers_the_order_number_to_a_phone_it_looks_like():
    text = "Dossier 0612345678 ou 06 12 34 56 78"
    assert found(text, order_pattern=r"\b0\d{9}\b") == [
        ("order_number", "0612345678"),
        ("phone", "06 12 34 56 78"),
    ]


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("CMD-[0-9", "not a valid regular expression"),
        ("(a+)+$", "repeats a group"),
        (r"(\d*)*", "repeats a group"),
        (r"((\w+)-)+", "repeats a group"),
        (r"\d*", "matches empty text"),
        ("X" * 101, "too long"),
    ],
)
def test_it_refuses_an_unusable_order_pattern(pattern, reason):
    with pytest.raises(ValueError, match=reason):
        compile_order_pattern(pattern)
    with pytest.raises(ValueError, match=reason):
        find_personal_data("CMD-123456", order_pattern=pattern)


@pytest.mark.parametrize("pattern", [r"CMD-\d{6}", r"(?:-\d{3}){2}", r"(\d{3}-)+\d{2}", r"#\d+"])
def test_it_accepts_a_reasonable_order_pattern(pattern):
    assert compile_order_pattern(pattern).pattern == pattern


def test_it_reports_findings_by_position():
    text = "marie@example.fr, 06 12 34 56 78, 12 rue de la Paix"
    findings = find_personal_data(text)
    assert findings == [
        Finding("email", 0, 16),
        Finding("phone", 18, 32),
        Finding("address", 34, 51),
    ]


def test_it_suggests_a_private_reply_for_personal_data_in_public():
    warning = check_sensitive_public("Appelez le 06 12 34 56 78 ou écrivez à a@b.fr")
    assert warning == Warning("sensitive_public", "warn", {"kinds": ["phone", "email"]})
    assert check_sensitive_public("Merci pour votre avis !") is None
    assert check_sensitive_public("CMD-123456 ?", r"CMD-\d{6}") == Warning(
        "sensitive_public", "warn", {"kinds": ["order_number"]}
    )


# --- Meta's window -------------------------------------------------------------------------

NOW = datetime(2026, 5, 12, 12, 0, tzinfo=UTC)


def window(ago: timedelta, *, human_agent_enabled: bool = True):
    return check_window(
        now=NOW, last_customer_message_at=NOW - ago, human_agent_enabled=human_agent_enabled
    )


def test_it_sends_a_response_at_23_59():
    decision = window(timedelta(hours=23, minutes=59))
    assert (decision.allowed, decision.messaging_type, decision.tag) == (True, "RESPONSE", None)
    assert decision.remaining == timedelta(minutes=1)
    assert window_warning(decision) is None


def test_it_needs_the_human_agent_tag_at_24_00():
    decision = window(timedelta(hours=24))
    assert (decision.allowed, decision.messaging_type, decision.tag) == (
        True,
        "MESSAGE_TAG",
        "HUMAN_AGENT",
    )
    assert decision.reason == "human_agent"
    assert decision.remaining == timedelta(days=6)
    assert window_warning(decision) == Warning(
        "window", "confirm", {"tag": "HUMAN_AGENT", "remaining_seconds": 6 * 86400}
    )


def test_it_refuses_at_24_00_without_the_human_agent_feature():
    decision = window(timedelta(hours=24), human_agent_enabled=False)
    assert (decision.allowed, decision.reason, decision.remaining) == (
        False,
        "human_agent_disabled",
        None,
    )
    assert window_warning(decision) == Warning(
        "window", "refuse", {"reason": "human_agent_disabled"}
    )


def test_it_closes_the_human_agent_window_at_7_days():
    last_minute = window(timedelta(days=7) - timedelta(minutes=1))
    assert last_minute.tag == "HUMAN_AGENT"
    assert last_minute.remaining == timedelta(minutes=1)
    closed = window(timedelta(days=7))
    assert (closed.allowed, closed.messaging_type, closed.tag, closed.reason) == (
        False,
        None,
        None,
        "window_closed",
    )


def test_it_refuses_when_the_contact_never_wrote():
    decision = check_window(now=NOW, last_customer_message_at=None, human_agent_enabled=True)
    assert (decision.allowed, decision.reason) == (False, "no_customer_message")


def test_it_treats_a_timestamp_in_the_future_as_just_now():
    decision = window(-timedelta(seconds=5))
    assert (decision.messaging_type, decision.remaining) == ("RESPONSE", timedelta(hours=24))


def test_it_refuses_naive_datetimes():
    with pytest.raises(ValueError, match="time-zone-aware"):
        check_window(
            now=NOW.replace(tzinfo=None),
            last_customer_message_at=NOW.replace(tzinfo=None),
            human_agent_enabled=True,
        )


def test_it_allows_one_private_reply_per_comment_within_7_days():
    def private_reply(ago: timedelta, already: bool = False):
        return check_private_reply(
            now=NOW, comment_created_at=NOW - ago, already_private_replied=already
        )

    within = private_reply(timedelta(days=7) - timedelta(seconds=1))
    assert (within.allowed, within.remaining) == (True, timedelta(seconds=1))
    too_old = private_reply(timedelta(days=7))
    assert (too_old.allowed, too_old.reason) == (False, "comment_too_old")
    already = private_reply(timedelta(hours=1), already=True)
    assert (already.allowed, already.reason) == (False, "already_replied")

"""The composer's warnings and guidance computed from the stored history
(DOMAIN.md "Saved replies and their overuse", "Composer guidance"), at and
around every threshold, through the database; the picker, inserting a saved
reply, the live guidance endpoint and what a sent reply remembers."""

from __future__ import annotations

import json
from datetime import timedelta
from itertools import count

import pytest
from django.template.loader import render_to_string

from inbox.models import (
    Channel,
    Contact,
    Conversation,
    ConversationKind,
    Direction,
    Membership,
    Message,
    OpeningInterval,
    Role,
    SendStatus,
)
from templates_app import selectors, services
from templates_app.models import SavedReply

from .conftest import at

pytestmark = pytest.mark.django_db

NOW = at("2026-11-20 10:00:00")  # a Friday, 11:00 in Paris
HOURS_BODY = (
    "Bonjour {{ contact.first_name }}, nous sommes ouverts du mardi au samedi, de 8 h à 19 h, "
    "sans interruption. {{ cursor }}\n— {{ agent.first_name }}"
)
# 100 characters, no variable, no signature: a draft differing in its last
# n characters is exactly (100 - n) % similar (SequenceMatcher: 2M / T).
PLAIN_BODY = "abcdefghij" * 10
_mids = count(1)


def draft_differing_by(n: int) -> str:
    return PLAIN_BODY[: 100 - n] + "!" * n


@pytest.fixture
def contact(page):
    return Contact.objects.create(page=page, external_id="psid-marie", name="Marie Curie", first_name="Marie")


@pytest.fixture
def conversation(page, contact):
    return Conversation.objects.create(
        page=page, kind=ConversationKind.PRIVATE, contact=contact, last_customer_message_at=NOW - timedelta(hours=1)
    )


@pytest.fixture
def hours_reply(page, alice):
    return SavedReply.objects.create(page=page, title="Opening hours", shortcut="horaires", body=HOURS_BODY,
                                     language="fr", created_by=alice)


@pytest.fixture
def plain_reply(page, alice):
    return SavedReply.objects.create(page=page, title="Plain", shortcut="plain", body=PLAIN_BODY, language="fr")


def sent(conversation, *, text="Merci !", author=None, when=NOW, saved_reply=None, unedited=False,
         status=SendStatus.SENT, channel=Channel.MESSENGER, page=None):
    return Message.objects.create(
        page=page or conversation.page, conversation=conversation, direction=Direction.OUTBOUND, channel=channel,
        timestamp=when, author=author, text=text, send_status=status, saved_reply=saved_reply,
        is_unedited_saved_reply=unedited, mid=f"m_{next(_mids)}",
    )


def warnings_for(conversation, agent, text, *, saved_reply=None, channel=Channel.MESSENGER, now=NOW, comment=None):
    return services.composer_warnings(
        conversation=conversation, agent=agent, text=text, saved_reply_id=saved_reply.pk if saved_reply else None,
        channel=channel, now=now, comment=comment,
    )


def ids(warnings):
    return {w.id: w.kind for w in warnings}


# --- unedited: ≥ 0.90 similar to the rendered saved reply --------------------------


def test_it_counts_a_draft_exactly_ninety_percent_similar_as_unedited(conversation, bob, plain_reply):
    found = warnings_for(conversation, bob, draft_differing_by(10), saved_reply=plain_reply)
    assert ids(found)["unedited"] == "warn"
    use = services.saved_reply_use(conversation=conversation, agent=bob, text=draft_differing_by(10),
                                   saved_reply_id=plain_reply.pk)
    assert use.similarity == pytest.approx(0.90) and use.unedited is True


def test_it_lets_a_draft_eighty_nine_percent_similar_through(conversation, bob, plain_reply):
    found = warnings_for(conversation, bob, draft_differing_by(11), saved_reply=plain_reply)
    assert "unedited" not in ids(found)
    use = services.saved_reply_use(conversation=conversation, agent=bob, text=draft_differing_by(11),
                                   saved_reply_id=plain_reply.pk)
    assert use.similarity == pytest.approx(0.89) and use.unedited is False


def test_it_compares_with_the_saved_reply_rendered_for_this_conversation(conversation, bob, hours_reply):
    rendered, _cursor = selectors.rendered_for_conversation(saved_reply=hours_reply, conversation=conversation,
                                                            agent=bob, now=NOW)
    assert rendered.startswith("Bonjour Marie, nous sommes ouverts") and rendered.endswith("— Bob")
    assert ids(warnings_for(conversation, bob, rendered, saved_reply=hours_reply))["unedited"] == "warn"
    adapted = "Bonjour Marie, oui : demain samedi nous sommes ouverts de 8 h à 19 h, sans interruption.\n— Bob"
    assert "unedited" not in ids(warnings_for(conversation, bob, adapted, saved_reply=hours_reply))


# --- repeat_contact: this contact already got it (≥ 0.90) in 30 days: confirm ------------


def test_it_asks_to_confirm_a_saved_reply_this_contact_got_29_days_ago(conversation, bob, plain_reply):
    sent(conversation, text=PLAIN_BODY, saved_reply=plain_reply, when=NOW - timedelta(days=29, hours=23))
    found = warnings_for(conversation, bob, draft_differing_by(10), saved_reply=plain_reply)
    repeat = next(w for w in found if w.id == "repeat_contact")
    assert repeat.kind == "confirm"
    assert repeat.params["count"] == 1 and repeat.params["days"] == 30
    assert repeat.params["last_sent_at"] == NOW - timedelta(days=29, hours=23)


def test_it_forgets_a_saved_reply_sent_more_than_30_days_ago(conversation, bob, plain_reply):
    sent(conversation, text=PLAIN_BODY, saved_reply=plain_reply, when=NOW - timedelta(days=30, minutes=1))
    assert "repeat_contact" not in ids(warnings_for(conversation, bob, PLAIN_BODY, saved_reply=plain_reply))


def test_it_does_not_ask_when_the_draft_was_adapted_enough(conversation, bob, plain_reply):
    sent(conversation, text=PLAIN_BODY, saved_reply=plain_reply, when=NOW - timedelta(days=2))
    assert "repeat_contact" not in ids(
        warnings_for(conversation, bob, draft_differing_by(11), saved_reply=plain_reply)
    )


def test_it_only_counts_what_this_contact_received_and_what_went_out(page, conversation, bob, plain_reply):
    other = Conversation.objects.create(
        page=page, kind=ConversationKind.PRIVATE,
        contact=Contact.objects.create(page=page, external_id="psid-other", first_name="Paul"),
    )
    sent(other, text=PLAIN_BODY, saved_reply=plain_reply, when=NOW - timedelta(days=1))
    sent(conversation, text=PLAIN_BODY, saved_reply=plain_reply, when=NOW - timedelta(days=1),
         status=SendStatus.FAILED)
    assert "repeat_contact" not in ids(warnings_for(conversation, bob, PLAIN_BODY, saved_reply=plain_reply))


def test_it_counts_what_the_contact_received_in_their_public_threads_too(page, conversation, contact, bob,
                                                                          plain_reply):
    thread = Conversation.objects.create(page=page, kind=ConversationKind.PUBLIC, contact=contact,
                                         post_id="1042_77", root_comment_id="c1")
    sent(thread, text=PLAIN_BODY, saved_reply=plain_reply, when=NOW - timedelta(days=3), channel=Channel.COMMENT)
    assert ids(warnings_for(conversation, bob, PLAIN_BODY, saved_reply=plain_reply))["repeat_contact"] == "confirm"


# --- hot_template: sent ≥ 10 times on this Page in 24 h ---------------------------------


def _uses(conversation, saved_reply, n, *, when=NOW - timedelta(hours=1), **kwargs):
    for _ in range(n):
        sent(conversation, text="Réponse adaptée à chaque fois", saved_reply=saved_reply, when=when, **kwargs)


def test_it_says_nothing_after_9_uses_in_24_hours(conversation, bob, hours_reply):
    _uses(conversation, hours_reply, 9)
    assert "hot_template" not in ids(warnings_for(conversation, bob, "Bonjour", saved_reply=hours_reply))


def test_it_warns_at_the_10th_use_in_24_hours(conversation, bob, hours_reply):
    _uses(conversation, hours_reply, 10)
    hot = next(w for w in warnings_for(conversation, bob, "Bonjour", saved_reply=hours_reply)
               if w.id == "hot_template")
    assert hot.kind == "warn" and hot.params["count"] == 10


def test_it_counts_only_the_last_24_hours_on_this_page_and_real_sends(page, other_page, conversation, bob, alice):
    personal = SavedReply.objects.create(owner=bob, title="Mine", shortcut="mine", body="Bonjour !")
    _uses(conversation, personal, 9)
    _uses(conversation, personal, 1, when=NOW - timedelta(hours=24, minutes=1))
    _uses(conversation, personal, 1, status=SendStatus.FAILED)
    elsewhere = Conversation.objects.create(page=other_page, kind=ConversationKind.PRIVATE,
                                            contact=Contact.objects.create(page=other_page, external_id="x"))
    _uses(elsewhere, personal, 5)
    assert "hot_template" not in ids(warnings_for(conversation, bob, "Bonjour", saved_reply=personal))


def test_it_uses_the_pages_own_hot_template_threshold(page, conversation, bob, hours_reply):
    page.hot_template_threshold = 3
    page.save()
    _uses(conversation, hours_reply, 2)
    assert "hot_template" not in ids(warnings_for(conversation, bob, "Bonjour", saved_reply=hours_reply))
    _uses(conversation, hours_reply, 1)
    assert "hot_template" in ids(warnings_for(conversation, bob, "Bonjour", saved_reply=hours_reply))


# --- agent_reliance: > 30 % of the agent's last 50 replies were unedited ------------------


def _history(conversation, agent, *, unedited, total, start=NOW - timedelta(minutes=1)):
    # Most recent first: the unedited ones are the newest.
    for i in range(total):
        sent(conversation, author=agent, when=start - timedelta(minutes=i), unedited=i < unedited)


def test_it_does_not_warn_at_15_unedited_of_the_last_50(conversation, bob):
    _history(conversation, bob, unedited=15, total=50)
    assert "agent_reliance" not in ids(warnings_for(conversation, bob, "Bonjour Marie"))


def test_it_warns_at_16_unedited_of_the_last_50(conversation, bob):
    _history(conversation, bob, unedited=16, total=50)
    reliance = next(w for w in warnings_for(conversation, bob, "Bonjour Marie") if w.id == "agent_reliance")
    assert reliance.params == {"unedited": 16, "replies": 50, "percent": 30}


def test_it_only_looks_at_the_last_50_replies(conversation, bob):
    _history(conversation, bob, unedited=0, total=50)
    # 30 older unedited ones: beyond the last 50.
    _history(conversation, bob, unedited=30, total=30, start=NOW - timedelta(days=2))
    assert "agent_reliance" not in ids(warnings_for(conversation, bob, "Bonjour Marie"))


def test_it_leaves_notes_failures_and_colleagues_out_of_reliance(conversation, bob, alice):
    _history(conversation, bob, unedited=15, total=50)
    for i in range(5):
        sent(conversation, author=bob, when=NOW - timedelta(seconds=i + 1), unedited=True,
             status=SendStatus.FAILED)
        sent(conversation, author=alice, when=NOW - timedelta(seconds=i + 1), unedited=True)
        Message.objects.create(page=conversation.page, conversation=conversation, direction=Direction.OUTBOUND,
                               channel=Channel.NOTE, timestamp=NOW - timedelta(seconds=i + 1), author=bob, text="n",
                               is_unedited_saved_reply=True)
    assert "agent_reliance" not in ids(warnings_for(conversation, bob, "Bonjour Marie"))


def test_it_uses_the_pages_own_reliance_share(page, conversation, bob):
    page.agent_reliance_permille = 200
    page.save()
    _history(conversation, bob, unedited=11, total=50)
    assert "agent_reliance" in ids(warnings_for(conversation, bob, "Bonjour Marie"))


# --- public_repeat: ≥ 2 similar public replies under the same post in 24 h ---------------


def _thread(page, root, post="1042_500", *, replied_at=NOW - timedelta(hours=1)):
    contact = Contact.objects.create(page=page, external_id=f"commenter-{root}", first_name=root)
    return Conversation.objects.create(page=page, kind=ConversationKind.PUBLIC, contact=contact, post_id=post,
                                       root_comment_id=root, last_page_reply_at=replied_at)


PUBLIC_TEXT = "Merci pour votre message ! Nous vous répondons en privé très vite."


def test_it_says_nothing_after_one_similar_public_reply_under_the_post(page, bob):
    here = _thread(page, "c-here")
    sent(_thread(page, "c-1"), text=PUBLIC_TEXT, channel=Channel.COMMENT, when=NOW - timedelta(hours=1))
    assert "public_repeat" not in ids(warnings_for(here, bob, PUBLIC_TEXT, channel=Channel.COMMENT))


def test_it_warns_after_two_similar_public_replies_under_the_post(page, bob):
    here = _thread(page, "c-here")
    sent(_thread(page, "c-1"), text=PUBLIC_TEXT, channel=Channel.COMMENT, when=NOW - timedelta(hours=1))
    sent(_thread(page, "c-2"), text=PUBLIC_TEXT.upper(), channel=Channel.COMMENT, when=NOW - timedelta(hours=2))
    repeat = next(w for w in warnings_for(here, bob, PUBLIC_TEXT, channel=Channel.COMMENT) if w.id == "public_repeat")
    assert repeat.kind == "warn" and repeat.params["count"] == 2


def test_it_counts_only_the_same_post_and_the_last_24_hours(page, bob):
    here = _thread(page, "c-here")
    sent(_thread(page, "c-1"), text=PUBLIC_TEXT, channel=Channel.COMMENT, when=NOW - timedelta(hours=1))
    sent(_thread(page, "c-2", post="1042_999"), text=PUBLIC_TEXT, channel=Channel.COMMENT,
         when=NOW - timedelta(hours=1))
    old = _thread(page, "c-3", replied_at=NOW - timedelta(hours=25))
    sent(old, text=PUBLIC_TEXT, channel=Channel.COMMENT, when=NOW - timedelta(hours=25))
    assert "public_repeat" not in ids(warnings_for(here, bob, PUBLIC_TEXT, channel=Channel.COMMENT))


def test_it_does_not_apply_public_repeat_to_private_replies(page, bob, conversation):
    for root in ("c-1", "c-2", "c-3"):
        sent(_thread(page, root), text=PUBLIC_TEXT, channel=Channel.COMMENT, when=NOW - timedelta(hours=1))
    assert "public_repeat" not in ids(warnings_for(conversation, bob, PUBLIC_TEXT))


# --- Guidance: too_long, signature, sensitive_public, window --------------------------------


def test_it_warns_above_640_characters(conversation, bob):
    assert "too_long" not in ids(warnings_for(conversation, bob, "a" * 640))
    assert ids(warnings_for(conversation, bob, "a" * 641))["too_long"] == "warn"


def test_it_refuses_a_private_message_of_2000_characters(conversation, bob):
    assert ids(warnings_for(conversation, bob, "a" * 2000))["too_long"] == "refuse"
    assert ids(warnings_for(conversation, bob, "a" * 1999))["too_long"] == "warn"


def test_it_warns_when_signed_with_the_page_name(conversation, bob):
    found = warnings_for(conversation, bob, "Votre commande part demain.\n— Boulangerie Dupain")
    signature = next(w for w in found if w.id == "signature")
    assert signature.kind == "warn" and signature.params["signed_as"] == "Boulangerie Dupain"
    assert "signature" not in ids(warnings_for(conversation, bob, "Votre commande part demain.\n— Bob"))


def test_it_leaves_signatures_alone_when_the_page_does_not_ask_for_them(page, conversation, bob):
    page.signature_required = False
    page.save()
    assert "signature" not in ids(warnings_for(conversation, bob, "Votre commande part demain.\n— Boulangerie Dupain"))


def test_it_suggests_a_private_reply_for_personal_data_in_a_public_reply(page, bob):
    thread = _thread(page, "c-here")
    found = warnings_for(thread, bob, "Appelez-nous au 06 12 34 56 78, Bob", channel=Channel.COMMENT)
    assert next(w for w in found if w.id == "sensitive_public").params["kinds"] == ["phone"]
    assert "sensitive_public" not in ids(
        warnings_for(thread, bob, "Nous ouvrons à 8 h, Bob", channel=Channel.COMMENT)
    )


def test_it_does_not_flag_personal_data_in_a_private_message(conversation, bob):
    assert "sensitive_public" not in ids(warnings_for(conversation, bob, "Appelez-nous au 06 12 34 56 78"))


def test_it_finds_order_numbers_by_the_pages_pattern_and_survives_a_broken_one(page, bob):
    thread = _thread(page, "c-here")
    page.order_number_pattern = r"CMD-\d{6}"
    page.save()
    found = warnings_for(thread, bob, "Votre commande CMD-123456 est partie.", channel=Channel.COMMENT)
    assert next(w for w in found if w.id == "sensitive_public").params["kinds"] == ["order_number"]
    page.order_number_pattern = r"(\d+)+"  # refused by the detector: the others still run
    page.save()
    found = warnings_for(thread, bob, "Écrivez à marie@example.com", channel=Channel.COMMENT)
    assert next(w for w in found if w.id == "sensitive_public").params["kinds"] == ["email"]


def test_it_offers_human_agent_after_24_hours_where_enabled(page, conversation, bob):
    conversation.last_customer_message_at = NOW - timedelta(hours=25)
    conversation.save()
    assert ids(warnings_for(conversation, bob, ""))["window"] == "refuse"
    page.human_agent_enabled = True
    page.save()
    window = next(w for w in warnings_for(conversation, bob, "") if w.id == "window")
    assert window.kind == "confirm" and window.params["tag"] == "HUMAN_AGENT"


def test_it_refuses_after_7_days_and_is_silent_inside_24_hours(page, conversation, bob):
    page.human_agent_enabled = True
    page.save()
    assert "window" not in ids(warnings_for(conversation, bob, "Bonjour"))
    conversation.last_customer_message_at = NOW - timedelta(days=7)
    conversation.save()
    assert ids(warnings_for(conversation, bob, "Bonjour"))["window"] == "refuse"


def test_it_refuses_a_private_reply_to_a_comment_older_than_7_days(page, bob):
    thread = _thread(page, "c-here")
    comment = Message.objects.create(page=page, conversation=thread, direction=Direction.INBOUND,
                                     channel=Channel.COMMENT, timestamp=NOW - timedelta(days=8), text="?", mid="c-here")
    found = warnings_for(thread, bob, "Bonjour", channel=Channel.PRIVATE_REPLY, comment=comment)
    assert ids(found)["window"] == "refuse"


def test_it_gives_no_warning_for_an_internal_note(conversation, bob):
    conversation.last_customer_message_at = NOW - timedelta(days=9)
    conversation.save()
    assert warnings_for(conversation, bob, "a" * 3000, channel=Channel.NOTE) == []


def test_it_lists_what_blocks_first(page, conversation, bob, plain_reply):
    sent(conversation, text=PLAIN_BODY, saved_reply=plain_reply, when=NOW - timedelta(days=1))
    kinds = [w.kind for w in warnings_for(conversation, bob, PLAIN_BODY + "x" * 1950, saved_reply=plain_reply)]
    assert kinds == sorted(kinds, key=["refuse", "confirm", "warn", "info"].index)


def test_it_computes_a_drafts_warnings_in_a_bounded_number_of_queries(
    page, conversation, bob, hours_reply, django_assert_max_num_queries
):
    _uses(conversation, hours_reply, 12)
    _history(conversation, bob, unedited=20, total=60)
    conversation = Conversation.objects.select_related("page", "contact").get(pk=conversation.pk)
    with django_assert_max_num_queries(8):
        found = warnings_for(conversation, bob, "Bonjour Marie", saved_reply=hours_reply)
    assert {"hot_template", "agent_reliance"} <= set(ids(found))


def test_it_ignores_a_saved_reply_the_agent_may_not_use_here(other_page, conversation, bob, charlie):
    foreign = SavedReply.objects.create(page=other_page, title="Garage", shortcut="garage", body=PLAIN_BODY)
    someone_elses = SavedReply.objects.create(owner=charlie, title="Mine", shortcut="mine", body=PLAIN_BODY)
    for saved_reply in (foreign, someone_elses):
        assert "unedited" not in ids(warnings_for(conversation, bob, PLAIN_BODY, saved_reply=saved_reply))
        assert services.saved_reply_use(conversation=conversation, agent=bob, text=PLAIN_BODY,
                                        saved_reply_id=saved_reply.pk) is None


# --- Every sent reply remembers its saved reply ------------------------------------------


def test_it_remembers_the_saved_reply_and_similarity_of_a_sent_reply(conversation, bob, plain_reply, monkeypatch):
    from inbox import tasks
    from inbox.services import sending

    monkeypatch.setattr(tasks, "enqueue_send", lambda pk, countdown=0: None)
    use = services.saved_reply_use(conversation=conversation, agent=bob, text=draft_differing_by(5),
                                   saved_reply_id=plain_reply.pk)
    message = sending.send_reply(conversation=conversation, author=bob, text=draft_differing_by(5),
                                 saved_reply_use=use, now=NOW)
    message.refresh_from_db()
    assert message.saved_reply == plain_reply
    assert message.saved_reply_similarity == pytest.approx(0.95)
    assert message.is_unedited_saved_reply is True
    assert selectors.usage_for(saved_reply_ids=[plain_reply.pk], now=NOW + timedelta(minutes=1))[plain_reply.pk] \
        .unedited_30d == 1


def test_it_gives_the_dashboard_each_agents_share_of_unedited_saved_replies(page, conversation, alice, bob):
    _history(conversation, bob, unedited=3, total=10)
    _history(conversation, alice, unedited=0, total=4)
    sent(conversation, author=bob, when=NOW - timedelta(days=10), unedited=True)  # before the window
    shares = selectors.unedited_share_by_agent(page=page, since=NOW - timedelta(days=7))
    assert shares == {bob.pk: (3, 10), alice.pk: (0, 4)}


# --- Rendering a saved reply for this conversation, hostile input included ----------------


def test_it_renders_the_variables_for_this_contact_agent_and_page(page, conversation, bob):
    for weekday in range(5):  # Monday to Friday, 9:00-18:00
        OpeningInterval.objects.create(page=page, weekday=weekday, start_minute=540, end_minute=1080)
    saved_reply = SavedReply.objects.create(
        page=page, title="Hours", shortcut="hours", language="fr",
        body="{{ contact.first_name }} / {{ agent.first_name }} / {{ page.name }} / {{ page.next_opening }}",
    )
    text, cursor = selectors.rendered_for_conversation(saved_reply=saved_reply, conversation=conversation,
                                                       agent=bob, now=NOW)
    # Open now (Friday 11:00 in Paris): the next opening is Monday's.
    assert text == "Marie / Bob / Boulangerie Dupain / lundi à 9 h"
    assert cursor is None


@pytest.mark.parametrize("hostile", ["{{ agent.first_name }}", "<img src=x onerror=alert(1)>", "{{ cursor }}"])
def test_it_inserts_a_hostile_contact_name_literally(client, page, contact, conversation, bob, hours_reply,
                                                     hostile):
    contact.first_name = hostile
    contact.save()
    client.force_login(bob)
    response = client.get(f"/saved-replies/conversations/{conversation.pk}/insert/{hours_reply.pk}/")
    data = json.loads(response.content)
    assert data["text"].startswith(f"Bonjour {hostile}, nous sommes ouverts")
    assert data["text"].endswith("— Bob")
    # The caret goes where the body's own marker was, never to one in a name.
    assert data["text"][data["cursor"] - 1 : data["cursor"] + 2] == " \n—"
    assert response["Content-Type"] == "application/json"


def test_it_escapes_saved_replies_and_warnings_in_html(client, page, conversation, bob):
    SavedReply.objects.create(page=page, title="<script>alert(1)</script>", shortcut="xss",
                              body="<img src=x onerror=alert(1)>")
    client.force_login(bob)
    html = client.get(f"/saved-replies/conversations/{conversation.pk}/picker/", {"q": "xss"}).content.decode()
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    html = client.post(f"/saved-replies/conversations/{conversation.pk}/guidance/",
                       {"text": "Merci.\n— <b>Boulangerie Dupain</b>"}).content.decode()
    assert "<b>" not in html


# --- The picker ----------------------------------------------------------------------------


@pytest.fixture
def library(page, alice, bob, charlie):
    def make(shortcut, title, body, language="fr", **scope):
        scope = scope or {"page": page}
        return SavedReply.objects.create(title=title, shortcut=shortcut, body=body, language=language, **scope)

    return {
        "horaires": make("horaires", "Opening hours", "Nous ouvrons à 8 h."),
        "horaires_en": make("horaires", "Opening hours", "We open at 8.", language="en"),
        "retours": make("retours", "Horaires du SAV et retours", "Les retours sont gratuits."),
        "livraison": make("livraison", "Delivery", "Livraison en 48 h, hors horaires de fermeture."),
        "mine": make("hormis", "Personal one", "Sauf le lundi.", owner=bob),
        "alices": make("horloge", "Alice's own", "Tic tac.", owner=alice),
        "archived": SavedReply.objects.create(page=page, title="Old hours", shortcut="hors-saison", body="…",
                                              archived_at=NOW),
        "foreign": make("hortensia", "Other Page", "Garage.", page=charlie.memberships.get().page),
    }


def test_it_orders_picker_matches_by_shortcut_then_title_then_body(page, bob, library):
    entries = selectors.picker(page=page, agent=bob, query="/hor")
    assert [(e.saved_reply.shortcut, e.match) for e in entries] == [
        ("horaires", "shortcut"), ("hormis", "shortcut"), ("retours", "title"), ("livraison", "body"),
    ]


def test_it_picks_the_contacts_language_then_the_pages(page, bob, library):
    by_contact = selectors.picker(page=page, agent=bob, query="horaires", contact_language="en_GB")
    assert by_contact[0].saved_reply == library["horaires_en"] and by_contact[0].other_languages == ("fr",)
    by_page = selectors.picker(page=page, agent=bob, query="horaires", contact_language="")
    assert by_page[0].saved_reply == library["horaires"]
    page.language = "en"
    page.save()
    assert selectors.picker(page=page, agent=bob, query="horaires", contact_language="de")[0].saved_reply == \
        library["horaires_en"]


def test_it_answers_the_picker_in_one_query(page, bob, library, django_assert_num_queries):
    with django_assert_num_queries(1):
        selectors.picker(page=page, agent=bob, query="hor")


def test_it_serves_the_picker_fragment_to_a_member(client, conversation, bob, library):
    client.force_login(bob)
    response = client.get(f"/saved-replies/conversations/{conversation.pk}/picker/", {"q": "hor"},
                          HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.index("/horaires") < html.index("/hormis") < html.index("/retours") < html.index("/livraison")
    assert "horloge" not in html and "hors-saison" not in html and "hortensia" not in html
    empty = client.get(f"/saved-replies/conversations/{conversation.pk}/picker/", {"q": "zzz"}).content.decode()
    assert "No saved reply matches" in empty or "Aucune" in empty


def test_it_refuses_to_insert_an_archived_or_foreign_saved_reply(client, conversation, bob, library):
    client.force_login(bob)
    for key in ("archived", "foreign", "alices"):
        response = client.get(f"/saved-replies/conversations/{conversation.pk}/insert/{library[key].pk}/")
        assert response.status_code == 404, key


# --- The live guidance endpoint and the inbound-comment hint ---------------------------------


def test_it_renders_the_live_guidance_with_numbers(client, conversation, bob, hours_reply):
    from django.utils import timezone

    now = timezone.now()
    Conversation.objects.filter(pk=conversation.pk).update(last_customer_message_at=now - timedelta(minutes=5))
    _uses(conversation, hours_reply, 14, when=now - timedelta(hours=2))
    client.force_login(bob)
    with_language = {"HTTP_ACCEPT_LANGUAGE": "en"}
    response = client.post(
        f"/saved-replies/conversations/{conversation.pk}/guidance/",
        {"text": "Bonjour Marie", "saved_reply_id": str(hours_reply.pk), "channel": "messenger"},
        HTTP_HX_REQUEST="true", **with_language,
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-warning="hot_template"' in html and 'data-warning="window"' not in html
    assert "This saved reply was sent 14 times in the last 24 hours on this Page" in html


def test_it_renders_one_plain_sentence_per_warning():
    from templates_app import guidance
    from templates_app.wording import describe

    assert describe(guidance.Warning("hot_template", "warn", {"count": 14, "hours": 24})).count("14") == 1
    assert "16" in describe(guidance.Warning("agent_reliance", "warn", {"unedited": 16, "replies": 50,
                                                                            "percent": 30}))
    for warning_id in ("repeat_contact", "unedited", "public_repeat", "too_long", "signature", "sensitive_public",
                       "window"):
        sentence = describe(guidance.Warning(warning_id, "warn", {"count": 2, "days": 30, "percent": 95,
                                                                    "length": 700, "limit": 640,
                                                                    "signed_as": "X", "agent_first_name": "Bob",
                                                                    "kinds": ["phone"], "reason": "window_closed"}))
        assert sentence and sentence != warning_id and "%(" not in sentence


def test_it_suggests_replying_privately_to_a_comment_holding_personal_data(page):
    thread = _thread(page, "c-here")
    comment = Message.objects.create(page=page, conversation=thread, direction=Direction.INBOUND,
                                     channel=Channel.COMMENT, timestamp=NOW, mid="c-here",
                                     text="Rappelez-moi au 06 12 34 56 78 svp")
    html = render_to_string("templates_app/_comment_guidance.html", {"message": comment, "page": page})
    assert f'data-reply-to="{comment.pk}" data-channel="private_reply"' in html
    comment.text = "Vous ouvrez dimanche ?"
    assert "data-reply-to" not in render_to_string("templates_app/_comment_guidance.html",
                                                          {"message": comment, "page": page})
    reply = Message(page=page, conversation=thread, direction=Direction.OUTBOUND, channel=Channel.COMMENT,
                    timestamp=NOW, text="Appelez le 06 12 34 56 78")
    assert "data-reply-to" not in render_to_string("templates_app/_comment_guidance.html",
                                                          {"message": reply, "page": page})


# --- Outsiders -----------------------------------------------------------------------------


@pytest.mark.parametrize("method, path", [
    ("get", "/saved-replies/conversations/{c}/picker/?q=hor"),
    ("get", "/saved-replies/conversations/{c}/insert/{s}/"),
    ("post", "/saved-replies/conversations/{c}/guidance/"),
])
def test_it_shows_outsiders_a_404_in_the_composer(client, conversation, hours_reply, charlie, method, path):
    client.force_login(charlie)
    response = getattr(client, method)(path.format(c=conversation.pk, s=hours_reply.pk))
    assert response.status_code == 404


def test_it_lets_a_fellow_member_use_the_composer_endpoints(client, page, conversation, hours_reply):
    from django.contrib.auth import get_user_model

    dora = get_user_model().objects.create_user("dora", password="dora-password-2026", first_name="Dora")
    Membership.objects.create(user=dora, page=page, role=Role.AGENT)
    client.force_login(dora)
    response = client.get(f"/saved-replies/conversations/{conversation.pk}/insert/{hours_reply.pk}/")
    assert json.loads(response.content)["text"].endswith("— Dora")


def test_it_keeps_quiet_while_the_agent_is_still_choosing_in_the_picker(client, conversation, bob):
    from django.utils import timezone

    Conversation.objects.filter(pk=conversation.pk).update(last_customer_message_at=timezone.now())
    _history(conversation, bob, unedited=50, total=50, start=timezone.now())
    client.force_login(bob)
    url = f"/saved-replies/conversations/{conversation.pk}/guidance/"
    assert "data-warning" not in client.post(url, {"text": "/hor"}, HTTP_HX_REQUEST="true").content.decode()
    assert 'data-warning="agent_reliance"' in client.post(url, {"text": "Bonjour /hor"}).content.decode()


def test_it_suggests_a_private_reply_beside_a_public_comment_in_the_conversation(client, page, bob, deliver):
    from .inbox_helpers import customer_comments

    comment = customer_comments(deliver, page, from_id="u-77", name="Jeanne",
                                text="Mon numéro c'est le 06 12 34 56 78, rappelez-moi")
    quiet = customer_comments(deliver, page, from_id="u-78", name="Paul", text="Vous ouvrez dimanche ?")
    client.force_login(bob)
    html = client.get(f"/c/{comment.conversation_id}/").content.decode()
    assert 'data-warning="sensitive_public"' in html
    assert f'data-reply-to="{comment.pk}" data-channel="private_reply"' in html
    assert 'data-warning="sensitive_public"' not in client.get(f"/c/{quiet.conversation_id}/").content.decode()

"""Away messages (DOMAIN.md "Availability"), through the real ingestion path:
a signed delivery to /webhooks/meta, processed as the worker does, and the
send going out to the fake Graph API over HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest

from inbox import simulation
from inbox.models import Contact, Conversation, Message, ResponseOpportunity, SendStatus
from inbox.services import away, hours, page_settings, sending

from .hours_fixtures import away_message, clock_fixture, office_hours, paris  # noqa: F401 - a fixture

pytestmark = pytest.mark.django_db

FRIDAY_NIGHT = paris(2026, 11, 20, 22, 0)  # Friday 20 November 2026, 22:00 in Paris
MONDAY_OPENING = paris(2026, 11, 23, 9, 0)
FR_FRIDAY_NIGHT = (
    "Bonjour, merci pour votre message ! Nous sommes fermés pour le moment : "
    "nous vous répondrons lundi à 9 h."
)


def customer_writes(deliver, page, when, text="Bonjour, vous êtes ouverts demain ?", psid="psid-camille"):
    deliver(simulation.envelope(page.meta_page_id, messaging=[
        simulation.message(page.meta_page_id, psid, when.timestamp(), text)]))
    return Message.objects.filter(page=page, direction="in", conversation__contact__external_id=psid).latest("pk")


def automatic(page):
    return list(Message.objects.filter(page=page, is_automatic=True).order_by("timestamp", "pk"))


def send_queued(page):
    for message in Message.objects.filter(page=page, send_status=SendStatus.QUEUED):
        sending.perform_send(message_id=message.pk)


def test_it_answers_a_friday_night_message_with_monday_9_h_in_french(page, deliver, fake_graph, clock):
    office_hours(page)
    away_message(page, "fr")
    clock.set(FRIDAY_NIGHT + timedelta(seconds=2))
    customer_writes(deliver, page, FRIDAY_NIGHT)

    [reply] = automatic(page)
    assert reply.text == FR_FRIDAY_NIGHT
    assert reply.is_automatic and reply.direction == "out" and reply.author is None
    send_queued(page)
    [sent] = fake_graph.sends
    assert sent["text"] == FR_FRIDAY_NIGHT
    assert sent["recipient"] == {"id": "psid-camille"}
    assert sent["messaging_type"] == "RESPONSE"


def test_it_sends_the_away_message_once_per_closed_period(page, deliver, fake_graph, clock):
    office_hours(page)
    away_message(page, "fr")
    for when in (FRIDAY_NIGHT, paris(2026, 11, 21, 10, 0), paris(2026, 11, 23, 8, 59)):
        clock.set(when + timedelta(seconds=1))
        customer_writes(deliver, page, when)
    assert len(automatic(page)) == 1, "Friday night, Saturday and Monday 08:59 are one closed period"

    # Monday evening is another closed period: a new away message, for Tuesday.
    monday_evening = paris(2026, 11, 23, 18, 30)
    clock.set(monday_evening + timedelta(seconds=1))
    customer_writes(deliver, page, monday_evening)
    _, second = automatic(page)
    assert second.text.endswith("nous vous répondrons demain à 9 h.")


def test_it_answers_each_conversation_of_the_closed_period(page, deliver, fake_graph, clock):
    office_hours(page)
    away_message(page, "fr")
    clock.set(FRIDAY_NIGHT + timedelta(seconds=1))
    customer_writes(deliver, page, FRIDAY_NIGHT, psid="psid-camille")
    customer_writes(deliver, page, FRIDAY_NIGHT + timedelta(seconds=1), psid="psid-hugo")
    assert {m.conversation.contact.external_id for m in automatic(page)} == {"psid-camille", "psid-hugo"}


def test_it_stays_quiet_when_an_agent_replied_in_the_last_five_minutes(page, deliver, fake_graph, clock, alice):
    office_hours(page)
    away_message(page, "fr")
    before_closing = paris(2026, 11, 20, 17, 50)
    clock.set(before_closing)
    first = customer_writes(deliver, page, before_closing)
    assert automatic(page) == [], "open: no away message"

    # Alice stays a little after closing time to answer.
    reply_at = paris(2026, 11, 20, 18, 1)
    clock.set(reply_at)
    sending.send_reply(conversation=first.conversation, author=alice, text="Oui, jusqu'à 19 h !", now=reply_at)
    send_queued(page)

    four_minutes_later = paris(2026, 11, 20, 18, 5)
    clock.set(four_minutes_later)
    customer_writes(deliver, page, four_minutes_later, text="Super, merci !")
    assert automatic(page) == [], "Alice replied 4 minutes ago: she is there"

    later = paris(2026, 11, 20, 18, 7)
    clock.set(later)
    customer_writes(deliver, page, later, text="Et samedi ?")
    assert len(automatic(page)) == 1, "6 minutes after the last reply, the away message goes out"


def test_the_automatic_message_never_closes_a_response_opportunity(page, deliver, fake_graph, clock, alice):
    office_hours(page)
    away_message(page, "fr")
    clock.set(FRIDAY_NIGHT + timedelta(seconds=1))
    question = customer_writes(deliver, page, FRIDAY_NIGHT)
    send_queued(page)
    [reply] = automatic(page)
    reply.refresh_from_db()
    assert reply.send_status == SendStatus.SENT
    # Meta's echo of the away message comes back and is matched to it.
    deliver(simulation.envelope(page.meta_page_id, messaging=[simulation.echo(
        page.meta_page_id, "psid-camille", (FRIDAY_NIGHT + timedelta(seconds=3)).timestamp(), reply.text,
        mid=reply.mid, metadata=f"reactif:{reply.pk}")]))

    ro = ResponseOpportunity.objects.get(opened_by=question)
    assert ro.closed_at is None and ro.closed_by is None
    assert ro.status == "pending"
    assert ro.clock_start == MONDAY_OPENING
    conversation = Conversation.objects.get(pk=question.conversation_id)
    assert conversation.received_while_closed
    assert conversation.last_page_reply_at is None
    assert conversation.due_at == MONDAY_OPENING + timedelta(minutes=5)

    # Alice answers on Monday at 09:03: 3 minutes on the clock, not 59 hours.
    # Meta's 24 h messaging window runs in calendar time, though, across the
    # closed weekend: only a Human Agent reply is allowed by then.
    page_settings.update_page_settings(page=page, actor=alice, human_agent_enabled=True)
    answer_at = MONDAY_OPENING + timedelta(minutes=3)
    clock.set(answer_at)
    question.conversation.page.refresh_from_db()
    sending.send_reply(conversation=question.conversation, author=alice, text="Bonjour ! Oui.", now=answer_at)
    send_queued(page)
    assert fake_graph.sends[-1]["tag"] == "HUMAN_AGENT"
    ro.refresh_from_db()
    assert ro.closed_by is not None and ro.closed_by.is_automatic is False
    assert ro.response_seconds == pytest.approx(180, abs=2)
    assert ro.status == "on_time"


def test_it_never_answers_a_public_comment(page, deliver, fake_graph, clock):
    office_hours(page)
    away_message(page, "fr")
    clock.set(FRIDAY_NIGHT + timedelta(seconds=1))
    deliver(simulation.envelope(page.meta_page_id, changes=[simulation.comment(
        page.meta_page_id, at=FRIDAY_NIGHT.timestamp(), text="Prix ?", from_id="c1", from_name="Léa Bernard",
        post_id=f"{page.meta_page_id}_77")]))
    assert Message.objects.filter(page=page, direction="in", channel="comment").count() == 1
    assert automatic(page) == []
    assert fake_graph.sends == []


def test_it_sends_nothing_while_open(page, deliver, fake_graph, clock):
    office_hours(page)
    away_message(page, "fr")
    tuesday_morning = paris(2026, 11, 24, 10, 0)
    clock.set(tuesday_morning)
    customer_writes(deliver, page, tuesday_morning)
    assert automatic(page) == []


def test_it_sends_nothing_when_the_page_has_no_hours(page, deliver, fake_graph, clock):
    away_message(page, "fr")
    clock.set(FRIDAY_NIGHT)
    customer_writes(deliver, page, FRIDAY_NIGHT)
    assert automatic(page) == [], "no hours configured: always open"


def test_it_sends_nothing_when_no_away_message_is_on(page, deliver, fake_graph, clock):
    office_hours(page)
    away.save_away_message(page=page, language="fr", body=away.SUGGESTED_BODIES["fr"], enabled=False, actor=None)
    clock.set(FRIDAY_NIGHT)
    customer_writes(deliver, page, FRIDAY_NIGHT)
    assert automatic(page) == []


def test_it_answers_during_a_manual_away_with_its_end(page, deliver, fake_graph, clock, bob):
    office_hours(page)
    away_message(page, "fr")
    tuesday = paris(2026, 11, 24, 11, 0)
    clock.set(tuesday)
    hours.start_away(page=page, actor=bob, until=paris(2026, 11, 24, 14, 0), now=tuesday)
    written = paris(2026, 11, 24, 11, 5)
    clock.set(written)
    question = customer_writes(deliver, page, written)
    [reply] = automatic(page)
    assert reply.text.endswith("nous vous répondrons aujourd'hui à 14 h.")
    assert ResponseOpportunity.objects.get(opened_by=question).clock_start == paris(2026, 11, 24, 14, 0)


def test_it_answers_in_the_customers_language_when_the_page_wrote_one(page, deliver, fake_graph, clock):
    office_hours(page)
    away_message(page, "fr")
    away_message(page, "en")
    Contact.objects.create(page=page, external_id="psid-john", first_name="John", language="en_GB")
    clock.set(FRIDAY_NIGHT)
    customer_writes(deliver, page, FRIDAY_NIGHT, text="Hello, are you open tomorrow?", psid="psid-john")
    [reply] = automatic(page)
    assert reply.text == (
        "Hello John, thanks for your message! We are closed right now: we will answer Monday at 9:00 AM."
    )


def test_it_says_the_next_opening_in_the_pages_time_zone(page, deliver, fake_graph, clock):
    hours.set_timezone(page=page, tz="America/New_York", actor=None)
    office_hours(page)
    away_message(page, "en")
    page.language = "en"
    page.save(update_fields=["language"])
    # Friday 22:00 in Paris is 16:00 in New York: open there.
    clock.set(FRIDAY_NIGHT)
    customer_writes(deliver, page, FRIDAY_NIGHT)
    assert automatic(page) == []
    # Saturday 03:00 UTC is Friday 22:00 in New York.
    late = FRIDAY_NIGHT + timedelta(hours=6)
    clock.set(late)
    customer_writes(deliver, page, late)
    [reply] = automatic(page)
    assert reply.text.endswith("we will answer Monday at 9:00 AM.")


def test_it_skips_a_delivery_processed_after_the_opening(page, deliver, fake_graph, clock):
    office_hours(page)
    away_message(page, "fr")
    # The webhook was down all weekend: Meta delivers Friday night's message on Monday at 09:30.
    clock.set(MONDAY_OPENING + timedelta(minutes=30))
    question = customer_writes(deliver, page, FRIDAY_NIGHT)
    assert automatic(page) == [], "the team is there: 'we will answer Monday at 9' is no longer true"
    assert ResponseOpportunity.objects.get(opened_by=question).clock_start == MONDAY_OPENING


def test_it_skips_a_message_older_than_metas_24_hour_window(page, deliver, fake_graph, clock):
    office_hours(page)
    away_message(page, "fr")
    clock.set(FRIDAY_NIGHT + timedelta(hours=25))  # Sunday morning, still closed
    customer_writes(deliver, page, FRIDAY_NIGHT)
    assert automatic(page) == [], "Meta refuses a RESPONSE more than 24 h after the message"


def test_it_renders_variables_and_an_open_ended_away(page):
    from datetime import UTC, datetime

    contact = Contact(page=page, external_id="x", name="Chloé Thomas")
    now = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)
    text = away.render_away_message(
        "Bonjour {{ contact.first_name }}, ici {{ page.name }} : réponse {{ page.next_opening }}.",
        page=page, contact=contact, language="fr", next_opening=None, now=now,
    )
    assert text == "Bonjour Chloé, ici Boulangerie Dupain : réponse dès que possible."
    nameless = away.render_away_message(
        "Bonjour {{ contact.first_name }}, à {{ page.next_opening }}.", page=page,
        contact=Contact(page=page, external_id="y"), language="fr", next_opening=MONDAY_OPENING, now=now,
    )
    assert nameless == "Bonjour, à lundi à 9 h."


def test_it_refuses_unknown_variables():
    assert away.unknown_variables("{{ page.next_openning }} {{ agent.first_name }} {{ page.name }}") == [
        "page.next_openning", "agent.first_name",
    ]
    with pytest.raises(ValueError, match="unknown variables"):
        away.save_away_message(page=None, language="fr", body="{{ contact.firstname }}", enabled=True, actor=None)

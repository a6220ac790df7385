"""Hostile input on Meta's webhook (issue 8, item 4): the parser and the whole
ingestion path under Hypothesis.

`make test` runs a bounded number of examples; `make fuzz` runs the same
properties with many more (see EXAMPLES below) and prints the figures.

Properties:
- the parser never raises, whatever the bytes or the JSON;
- a signed delivery, however malformed, is answered 200 and processed to the
  end (no 500, no crash, nothing stuck for the sweep to retry forever); every
  well-formed message in it is stored once, whatever junk surrounds it;
- an unsigned or wrongly signed body is refused with 403 and stores nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inbox import meta_events, simulation
from inbox.models import Delivery, Message
from inbox.services import ingestion

# make test: a few hundred examples in all, the same every run; make fuzz:
# REACTIF_FUZZ_EXAMPLES per parser property (100 000; a tenth for nested
# JSON) and REACTIF_FUZZ_DB_EXAMPLES per end-to-end property (HTTP +
# PostgreSQL, ~100 times slower an example), random every run.
EXAMPLES = int(os.environ.get("REACTIF_FUZZ_EXAMPLES", "0"))
DB_EXAMPLES = int(os.environ.get("REACTIF_FUZZ_DB_EXAMPLES", "0"))
PURE = settings(max_examples=EXAMPLES or 150, deadline=None, derandomize=not EXAMPLES)
# Nested JSON with hostile strings costs ~50 ms an example to generate: a
# tenth of the budget.
PURE_JSON = settings(max_examples=EXAMPLES // 10 or 100, deadline=None, derandomize=not EXAMPLES,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
WITH_DB = settings(max_examples=DB_EXAMPLES or 40, deadline=None, derandomize=not DB_EXAMPLES,
                   suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                          HealthCheck.data_too_large])
PAGE_ID = "1042"

# Text that has broken other systems: null bytes, RTL overrides, emoji and
# combining marks, markup, lone surrogates are not valid JSON so left out.
HOSTILE = st.one_of(
    st.text(max_size=40),
    st.sampled_from([
        "\x00", "a\x00b", "\u202eevil\u202c", "😀" * 50, "<script>alert(1)</script>", "'; DROP TABLE x; --",
        "", " ", "null", "1e309", "9" * 40, "\ufeff", "Z̷̢͉a̸͎l̵g̴o̶", "x" * 5000, "%s%n", "{{ 7*7 }}",
    ]),
)
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                   st.floats(allow_nan=False), HOSTILE)
JSON = st.recursive(SCALAR, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=4)), max_leaves=20)
TIMESTAMP = st.one_of(st.integers(min_value=-(2**40), max_value=2**63), st.sampled_from(
    [1763632800000, 1763632800, "1763632800", "2026-11-20T10:00:00+0000", "", "soon", None, -1, 0, 1e30]))


def _maybe(value_strategy):
    return st.one_of(value_strategy, JSON)


@st.composite
def messaging_item(draw):
    kind = draw(st.sampled_from(["message", "echo", "postback", "read", "delivery", "reaction", "message_edit",
                                 "referral", "junk"]))
    item = {"sender": {"id": draw(_maybe(st.sampled_from(["psid1", "psid2", PAGE_ID])))},
            "recipient": {"id": draw(_maybe(st.just(PAGE_ID)))},
            "timestamp": draw(TIMESTAMP)}
    body = {"mid": draw(_maybe(st.text(min_size=1, max_size=300))), "text": draw(_maybe(HOSTILE))}
    if kind == "message":
        body["attachments"] = draw(_maybe(st.lists(st.fixed_dictionaries(
            {"type": HOSTILE, "payload": st.fixed_dictionaries({"url": HOSTILE})}), max_size=3)))
        body["referral"] = draw(JSON)
        body["quick_reply"] = {"payload": draw(_maybe(HOSTILE))}
        body["reply_to"] = {"mid": draw(_maybe(HOSTILE))}
        body["is_deleted"] = draw(st.booleans())
        item["message"] = body
    elif kind == "echo":
        item["message"] = {**body, "is_echo": True, "metadata": draw(_maybe(st.sampled_from(
            ["reactif:1", "reactif:x", "reactif:99999999999999999999", "other"])))}
    elif kind == "postback":
        item["postback"] = {"title": draw(_maybe(HOSTILE)), "payload": draw(_maybe(HOSTILE)),
                            "mid": draw(_maybe(HOSTILE)), "referral": draw(JSON)}
    elif kind == "read":
        item["read"] = {"watermark": draw(TIMESTAMP)}
    elif kind == "delivery":
        item["delivery"] = {"watermark": draw(TIMESTAMP), "mids": draw(JSON)}
    elif kind == "reaction":
        item["reaction"] = {"mid": draw(_maybe(HOSTILE)), "reaction": draw(_maybe(HOSTILE)),
                            "emoji": draw(_maybe(HOSTILE)), "action": draw(_maybe(st.sampled_from(["react", "unreact"])))}
    elif kind == "message_edit":
        item["message_edit"] = {"mid": draw(_maybe(HOSTILE)), "text": draw(_maybe(HOSTILE)),
                                "num_edit": draw(_maybe(st.integers()))}
    elif kind == "referral":
        item["referral"] = draw(st.dictionaries(st.text(max_size=10), JSON, max_size=4))
    else:
        item = draw(JSON)
    return item


@st.composite
def feed_change(draw):
    return {"field": draw(_maybe(st.just("feed"))), "value": {
        "item": draw(_maybe(st.sampled_from(["comment", "post", "reaction"]))),
        "verb": draw(_maybe(st.sampled_from(["add", "edited", "remove", "hide", "unhide", "delete", "block"]))),
        "comment_id": draw(_maybe(st.text(min_size=1, max_size=300))),
        "post_id": draw(_maybe(st.sampled_from([f"{PAGE_ID}_1", f"{PAGE_ID}_2"]))),
        "parent_id": draw(_maybe(st.sampled_from([f"{PAGE_ID}_1", f"{PAGE_ID}_5", ""]))),
        "from": {"id": draw(_maybe(st.sampled_from(["c1", PAGE_ID, "x" * 300]))),
                 "name": draw(_maybe(HOSTILE))},
        "message": draw(_maybe(HOSTILE)),
        "created_time": draw(TIMESTAMP),
    }}


@st.composite
def delivery(draw):
    entries = draw(st.lists(st.fixed_dictionaries({
        "id": _maybe(st.just(PAGE_ID)),
        "time": TIMESTAMP,
        "messaging": _maybe(st.lists(messaging_item(), max_size=4)),
        "standby": st.lists(messaging_item(), max_size=2),
        "changes": _maybe(st.lists(feed_change(), max_size=3)),
    }), max_size=3))
    return {"object": draw(_maybe(st.just("page"))), "entry": draw(_maybe(st.just(entries)))}


# --- The pure parser ------------------------------------------------------------


@PURE
@given(st.binary(max_size=2000))
def test_it_parses_any_bytes_without_raising(body):
    payload = meta_events.parse_body(body)
    events = meta_events.parse_delivery(payload)
    assert all(isinstance(e, meta_events.Event) for e in events)


@PURE_JSON
@given(st.one_of(JSON, delivery()))
def test_it_parses_any_json_without_raising(payload):
    events = meta_events.parse_delivery(payload)
    assert all(isinstance(e, meta_events.Event) for e in events)
    # Round trip through bytes, as Meta sends them, gives the same events.
    assert meta_events.parse_delivery(meta_events.parse_body(simulation.encode(payload))) == events


@PURE
@given(TIMESTAMP)
def test_it_reads_any_timestamp_without_raising(value):
    parsed = meta_events.parse_timestamp(value)
    assert parsed is None or parsed.tzinfo is not None


# --- The whole path: HTTP, storage, processing ------------------------------------


@pytest.fixture
def known_page(db):
    from inbox.models import Page

    return Page.objects.get_or_create(meta_page_id=PAGE_ID, defaults={"name": "Boulangerie", "access_token": "t"})[0]


def _post(client, body: bytes, signature: str | None):
    headers = {} if signature is None else {"HTTP_X_HUB_SIGNATURE_256": signature}
    return client.post("/webhooks/meta", data=body, content_type="application/json", **headers)


@pytest.mark.django_db
@WITH_DB
@given(payload=delivery(), good=st.lists(st.text(min_size=1, max_size=200), max_size=2))
def test_a_signed_hostile_delivery_is_answered_and_processed_to_the_end(client, known_page, payload, good):
    # Well-formed messages hidden among the junk must come through, once each.
    expected = {}
    if payload.get("object") == "page" and isinstance(payload.get("entry"), list):
        for n, text in enumerate(good):
            mid = f"m_good_{time.monotonic_ns()}_{n}"
            expected[mid] = text
            payload["entry"].append({"id": PAGE_ID, "time": 1, "messaging": [
                simulation.message(PAGE_ID, f"good-{n}", time.time() - 30, text, mid=mid)]})
    body, signature = simulation.signed(payload, "test-app-secret")
    response = _post(client, body, signature)
    assert response.status_code == 200
    delivery = Delivery.objects.get(body_sha256=hashlib.sha256(body).hexdigest())
    ingestion.process_delivery(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.processed_at is not None, delivery.last_error
    stored = dict(Message.objects.filter(mid__in=expected).values_list("mid", "text"))
    assert stored == {mid: text.replace("\x00", "") for mid, text in expected.items()}


@pytest.mark.django_db
@WITH_DB
@given(body=st.one_of(st.binary(max_size=500), delivery().map(simulation.encode)),
       header=st.one_of(st.none(), st.text(max_size=80), st.just("sha256=" + "0" * 64),
                        st.binary(min_size=32, max_size=32).map(lambda b: "sha256=" + b.hex())))
def test_an_unsigned_or_badly_signed_body_is_refused_and_nothing_is_stored(client, known_page, body, header):
    if header is not None and meta_events.signature_is_valid(body, header, "test-app-secret"):
        return  # a 2^-256 chance
    try:
        response = _post(client, body, header)
    except ValueError:
        # The test client itself refuses headers holding control characters,
        # as every HTTP server does before Django sees the request.
        return
    assert response.status_code == 403
    assert not Delivery.objects.exists()


@pytest.mark.django_db
@WITH_DB
@given(body=st.binary(max_size=2000))
def test_signed_garbage_is_kept_processed_and_ignored(client, known_page, body):
    response = _post(client, body, meta_events.sign(body, "test-app-secret"))
    assert response.status_code == 200
    delivery = Delivery.objects.get(body_sha256=hashlib.sha256(body).hexdigest())
    ingestion.process_delivery(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.processed_at is not None


def test_the_fuzzer_reaches_meta_like_payloads():
    # Guard against a strategy that only ever produces junk: some examples
    # must hold events the parser recognises.
    from hypothesis import find

    found = find(delivery(), lambda p: any(
        isinstance(e, meta_events.MessageEvent) for e in meta_events.parse_delivery(json.loads(simulation.encode(p)))))
    assert meta_events.parse_delivery(found)

"""Every form, fuzzed (issue 8, item 4): Hypothesis posts arbitrary form data,
and sends arbitrary query strings, to every URL the resolver knows (the same
routes and objects as the access sweep), as the Page's admin, htmx or not.
Whatever the values, the answer is never a 5xx.

make test: a few dozen examples, the same every run. make fuzz:
REACTIF_FUZZ_FORM_EXAMPLES (100 000) per property, random every run. Each
example runs in a savepoint rolled back afterwards, so what one example
deletes or renames is there again for the next."""

from __future__ import annotations

import os

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .test_access_sweep import FIELDS, GUARDED, HOSTILE, _url, world  # noqa: F401 - world is a fixture

pytestmark = pytest.mark.django_db

FORM_EXAMPLES = int(os.environ.get("REACTIF_FUZZ_FORM_EXAMPLES", "0"))
FUZZ = settings(max_examples=FORM_EXAMPLES or 60, deadline=None, derandomize=not FORM_EXAMPLES,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])

# What each kind of field is meant to hold, near misses of it, and anything.
VALUE = st.one_of(
    st.text(max_size=60),
    st.sampled_from(HOSTILE),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.from_regex(r"\A-?\d{1,5}-\d{1,3}-\d{1,3}\Z"),  # dates, and what is not quite one
    st.from_regex(r"\A\d{1,3}:\d{1,3}(:\d{1,3})?\Z"),  # times
    st.sampled_from(["on", "true", "false", "1", "0", "-1", "fr", "en", "zz", "private", "public", "open", "done",
                     "spam", "snoozed", "pending", "Europe/Paris", "Mars/Olympus", "1e309", "NaN", "/x", "x" * 100_000]),
)
FORM = st.dictionaries(st.sampled_from([*FIELDS, "next", "csrfmiddlewaretoken", "after", "before", "cursor"]),
                       st.one_of(VALUE, st.lists(VALUE, min_size=2, max_size=3)), max_size=10)
QUERY = st.dictionaries(st.sampled_from(["q", "status", "kind", "after", "before", "page", "days", "tab", "assignee",
                                         "channel", "format", "day", "since", "v", "conversation", "lang"]),
                        VALUE, max_size=6)
ROUTE = st.sampled_from(GUARDED)


@pytest.fixture
def signed_in(client, world):  # noqa: F811 - the imported fixture
    client.force_login(world["alice"])
    return client


def _answer(client, method: str, url: str, data: dict, htmx: bool):
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    with transaction.atomic():
        response = getattr(client, method)(url, data, **headers)
        transaction.set_rollback(True)
    return response


@FUZZ
@given(route=ROUTE, form=FORM, htmx=st.booleans())
def test_any_form_posted_to_any_url_never_gives_a_5xx(signed_in, world, route, form, htmx):  # noqa: F811 - fixture
    url = _url(route, world)
    response = _answer(signed_in, "post", url, form, htmx)
    assert response.status_code < 500, f"POST {url} {form!r} → {response.status_code}"


@FUZZ
@given(route=ROUTE, query=QUERY, htmx=st.booleans())
def test_any_query_string_on_any_url_never_gives_a_5xx(signed_in, world, route, query, htmx):  # noqa: F811 - fixture
    url = _url(route, world)
    response = _answer(signed_in, "get", url, query, htmx)
    assert response.status_code < 500, f"GET {url} {query!r} → {response.status_code}"


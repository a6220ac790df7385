"""GET /api/v1/pages/<meta_page_id>/responsiveness (CONTRACT.md)."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from inbox.models import ApiToken

from . import ro_helpers as meta

pytestmark = pytest.mark.django_db

FIGURES = [
    "opportunities", "on_time", "share_on_time", "target_met", "pending", "at_risk", "median_seconds",
    "p90_seconds", "miss_budget", "needed_to_recover", "meta_response_rate", "meta_response_time_seconds",
    "meta_badge",
]
CONTEXT = ["page_id", "kind", "days", "target_seconds", "target_share", "computed_at"]


def token_for(user) -> str:
    out = StringIO()
    call_command("create_api_token", user.username, stdout=out)
    return out.getvalue().strip()


def get(client, meta_page_id, token=None, **params):
    headers = {} if token is None else {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    return client.get(f"/api/v1/pages/{meta_page_id}/responsiveness", params, **headers)


def test_it_answers_401_without_a_token(client, page):
    response = get(client, page.meta_page_id)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["Bearer", "Bearer rk_not-a-real-token", "Basic YWxpY2U6cGFzcw==", "rk_x"])
def test_it_answers_401_with_a_wrong_token(client, page, alice, header):
    response = client.get(f"/api/v1/pages/{page.meta_page_id}/responsiveness", HTTP_AUTHORIZATION=header)

    assert response.status_code == 401


def test_it_answers_401_with_a_revoked_token(client, page, alice):
    token = token_for(alice)
    assert get(client, page.meta_page_id, token).status_code == 200
    ApiToken.objects.update(revoked_at=timezone.now())

    assert get(client, page.meta_page_id, token).status_code == 401


def test_it_answers_401_for_a_deactivated_user(client, page, alice):
    token = token_for(alice)
    alice.is_active = False
    alice.save()

    assert get(client, page.meta_page_id, token).status_code == 401


def test_it_answers_404_to_an_outsider(client, page, charlie):
    response = get(client, page.meta_page_id, token_for(charlie))

    assert response.status_code == 404


def test_it_answers_404_for_an_unknown_page(client, alice):
    assert get(client, "999999", token_for(alice)).status_code == 404


def test_it_serves_every_key_of_the_contract(client, page, bob):
    response = get(client, page.meta_page_id, token_for(bob))

    assert response.status_code == 200
    data = response.json()
    assert set(CONTEXT + FIGURES) <= set(data)
    assert (data["page_id"], data["kind"], data["days"]) == (page.meta_page_id, "private", 7)
    assert (data["target_seconds"], data["target_share"]) == (300, 0.9)
    assert abs(parse_datetime(data["computed_at"]) - timezone.now()) < timedelta(seconds=10)
    # Nothing yet: every figure whose denominator is 0 is null, and so are the tests on it.
    assert {name: data[name] for name in FIGURES} == {
        "opportunities": 0, "on_time": 0, "share_on_time": None, "target_met": None, "pending": 0,
        "at_risk": 0, "median_seconds": None, "p90_seconds": None, "miss_budget": None,
        "needed_to_recover": None, "meta_response_rate": None, "meta_response_time_seconds": None,
        "meta_badge": None,
    }


def test_it_serves_exact_figures(client, page, alice, deliver):
    pid, now = page.meta_page_id, timezone.now()
    # 9 conversations answered in 2 min, one in 10 min, all in the last 2 days.
    for n in range(10):
        opened = now - timedelta(hours=2 + n)
        deliver(meta.messaging(pid, meta.customer(pid, f"p{n}", opened)))
        deliver(meta.messaging(pid, meta.echo(pid, f"p{n}", opened + timedelta(seconds=600 if n == 9 else 120))))
    # And one customer waiting for 100 s.
    deliver(meta.messaging(pid, meta.customer(pid, "p-waiting", now - timedelta(seconds=100))))

    data = get(client, pid, token_for(alice)).json()

    assert {name: data[name] for name in FIGURES} == {
        "opportunities": 10, "on_time": 9, "share_on_time": 0.9, "target_met": True, "pending": 1,
        "at_risk": 0, "median_seconds": 120, "p90_seconds": 120, "miss_budget": 0, "needed_to_recover": 0,
        # Every RO starts a conversation; the fastest 9 of 10 took 120 s.
        "meta_response_rate": 1.0, "meta_response_time_seconds": 120.0, "meta_badge": True,
    }


def test_it_serves_public_threads_and_other_windows(client, page, alice, deliver):
    pid, now = page.meta_page_id, timezone.now()
    opened = now - timedelta(days=10)
    deliver(meta.comment(pid, opened, from_id="c1", comment_id=f"{pid}_1_5"))
    deliver(meta.comment(pid, opened + timedelta(minutes=30), from_id=pid, parent_id=f"{pid}_1_5"))
    token = token_for(alice)

    week = get(client, pid, token, kind="public").json()
    month = get(client, pid, token, kind="public", days="30").json()

    assert (week["kind"], week["target_seconds"], week["opportunities"]) == ("public", 3600, 0)
    assert (month["days"], month["opportunities"], month["on_time"], month["median_seconds"]) == (30, 1, 1, 1800)
    assert get(client, pid, token, days="30").json()["opportunities"] == 0  # private


@pytest.mark.parametrize("params", [{"kind": "email"}, {"days": "week"}, {"days": "0"}, {"days": "366"}])
def test_it_answers_400_to_bad_parameters(client, page, alice, params):
    response = get(client, page.meta_page_id, token_for(alice), **params)

    assert response.status_code == 400
    assert "error" in response.json()


def test_it_reads_a_bounded_number_of_rows_whatever_the_history(client, page, alice, deliver,
                                                                  django_assert_max_num_queries):
    from inbox.services import rollups

    pid, now = page.meta_page_id, timezone.now()
    for n in range(40):
        opened = now - timedelta(days=n, hours=1)
        deliver(meta.messaging(pid, meta.customer(pid, f"h{n}", opened)))
        # One answer per whole second: Meta's "fastest 90 %" cut falls between
        # seconds, which needs no look at the ROs themselves.
        deliver(meta.messaging(pid, meta.echo(pid, f"h{n}", opened + timedelta(seconds=60 + n))))
    rollups.refresh_due(now=now)
    token = token_for(alice)
    get(client, pid, token)  # the token's last use is stamped at most once a minute

    # The token, the Page, the window's rollups, the ROs of its edges: no
    # messages (the replies are the dashboard's agents table only).
    with django_assert_max_num_queries(4) as queries:
        data = get(client, pid, token, days=30).json()
    assert not any('"inbox_message"' in query["sql"] for query in queries.captured_queries)
    assert data["opportunities"] == 30

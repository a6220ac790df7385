# ruff: noqa: RUF001, RUF003 - the table's × and – are meant
"""The benchmark instrument itself (bench/): a tiny load and one measure, so
that a schema change that the loader no longer matches, or a page the
harness can no longer time, fails here rather than on the day of a run."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bench import load as loader
from bench import pages, report, summary

TINY = loader.Sizes(messages=800, pages=2, agents=3, saved_replies_per_page=3, picker_saved_replies=12,
                      messages_per_day=100)
NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@pytest.fixture
def loaded(db):
    return loader.load(TINY, now=NOW)


def _ros():
    from inbox.models import ResponseOpportunity

    return list(ResponseOpportunity.objects.order_by("pk").values(
        "conversation_id", "opened_by_id", "opened_at", "clock_start", "due_at", "target_seconds", "closed_by_id",
        "closed_at", "response_seconds", "responder_id", "status", "starts_conversation"))


def _rollups():
    from inbox.models import DailyRollup

    return list(DailyRollup.objects.order_by("page_id", "kind", "day").values(
        "page_id", "kind", "day", "timezone", "target_seconds", "starts_at", "ends_at", "tally", "replies",
        "stale", "settles_at"))


def test_it_loads_what_the_services_would_have_written(loaded):
    from django.db.models import Max

    from inbox.models import Conversation, Message
    from inbox.services import opportunities

    assert loaded.counts["message"] == TINY.messages
    assert loaded.counts["conversation"] > 30
    assert loaded.counts["opportunity"] > loaded.counts["conversation"]
    # The conversation summaries the queue reads match their messages.
    latest = dict(Message.objects.values("conversation_id").annotate(m=Max("timestamp"))
                  .values_list("conversation_id", "m"))
    summaries = dict(Conversation.objects.values_list("pk", "last_message_at"))
    assert summaries == latest
    assert Conversation.objects.filter(status="open").exists()
    # Recomputing every RO (and every rollup) from the loaded messages with
    # the real rules changes nothing.
    loader.build_rollups(loaded)
    ros, rollups = _ros(), _rollups()
    due = dict(Conversation.objects.values_list("pk", "due_at"))
    assert len(rollups) > 10
    opportunities.rebuild(now=NOW)
    assert _ros() == ros
    assert dict(Conversation.objects.values_list("pk", "due_at")) == due
    assert _rollups() == rollups


def test_it_times_a_page_next_to_its_bare_sql(loaded):
    from django.db import connection

    results = pages.run(["queue", "api"], loaded, n=3, warmup=1, sql_conn=connection.connection)
    for name in ("queue", "api"):
        result = results[name]
        assert "error" not in result, result
        assert result["queries"] >= 2
        assert 0 < result["sql"]["p50_ms"] <= result["server"]["p95_ms"]


def test_it_times_a_pages_calls_for_a_paired_comparison():
    import re

    from bench import profile

    calls = []

    def call():
        calls.append(1)
        return pages.SCENARIOS

    line = profile.timing_line([call], n=7, warmup=2)
    assert len(calls) == 9
    figures = [float(x) for x in re.findall(r"(\d+\.\d+) ms", line)]
    assert line.startswith("7 calls: CPU p50 ") and len(figures) == 4 and all(f >= 0 for f in figures)
    assert figures[0] <= figures[1] and figures[2] <= figures[3]  # p50 ≤ p95


def test_it_writes_each_figure_next_to_its_limit_ratio_first(tmp_path, monkeypatch):
    class Settings:
        small, large = 10_000, 1_000_000

    raw = {"pages": {
        "10000": {"queue": {"how": "view", "server": {"p50_ms": 4.0, "p95_ms": 6.0}, "sql": {"p50_ms": 1.0,
                  "p95_ms": 2.0}, "queries": 4}},
        "1000000": {"queue": {"how": "view", "server": {"p50_ms": 5.0, "p95_ms": 7.2}, "sql": {"p50_ms": 1.0,
                    "p95_ms": 2.4}, "queries": 4}},
    }, "stack": {"ingest": {"deliveries": 100, "http": {"per_second": 900.0, "p50_ms": 5.0, "p95_ms": 12.0,
                                                         "senders": 8, "n": 100, "seconds": 0.1},
                            "raw_insert": {"per_second": 3000.0, "p95_ms": 3.0}}}}
    rows, _notes = summary.rows_and_notes(raw, Settings())
    by_measure = {row.measure: row for row in rows}
    ingest = by_measure["Webhook ingestion over HTTP (gunicorn)"]
    assert ingest.ratio == pytest.approx(0.3) and ingest.met is False  # 900/s is under 1,000/s
    growth = next(row for row in rows if "growth" in row.measure and row.measure.startswith("Queue"))
    assert growth.ratio == pytest.approx(1.2) and growth.met is True
    monkeypatch.setattr(report, "RESULTS", tmp_path)
    _json, md = report.write("smoke", title="t", meta={}, rows=rows, raw=raw, notes=[])
    table = md.read_text().splitlines()
    assert table[table.index("| ratio | measure | figure | limit, same run | target | verdict |") + 2].startswith(
        "| **0.30×** of raw INSERT rate | Webhook ingestion")


def test_it_calls_a_slow_page_on_a_busy_machine_inconclusive_only_when_its_own_work_fits():
    class Settings:
        small, large = 10_000, 1_000_000

    def raw(cpu_ms: float) -> dict:
        page = {"how": "view", "server": {"p50_ms": 30.0, "p95_ms": 40.0, "cpu_p50_ms": cpu_ms},
                "sql": {"p50_ms": 2.0, "p95_ms": 3.0}, "queries": 4}
        return {"pages": {"1000000": {"queue": page}}, "stack": {}}

    def verdict(cpu_ms: float, busy: bool):
        rows, _notes = summary.rows_and_notes(raw(cpu_ms), Settings(), busy=busy)
        return next(row for row in rows if row.measure.startswith("Queue")).met

    assert verdict(5.0, busy=False) is False
    assert verdict(5.0, busy=True) is None  # 5 + 2 ms fits in 15 ms: the machine, not the page
    assert verdict(25.0, busy=True) is False  # its own CPU alone is over the target


def test_it_measures_the_machines_speed_with_a_fixed_piece_of_work():
    from bench.run import calibrate

    first, second = calibrate(rounds=3), calibrate(rounds=3)
    # A fixed piece of work: the same order of magnitude twice in a row.
    assert 0 < first < 1000 and 0 < second < 1000
    assert max(first, second) / min(first, second) < 5


def test_a_result_says_when_its_commits_were_cheaper_than_in_production(db):
    from django.db import connection

    from bench.run import _durability

    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")  # what the tests' databases do
    said = _durability()
    assert "synchronous_commit off" in said and "NOT as in production" in said
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = on")  # what the benchmark's database does
    assert "synchronous_commit on" in _durability()


def test_the_services_postgresql_flushes_to_disk_as_in_production(db):
    # The benchmarks run on it: with fsync or full page writes off, a durable
    # commit would cost them less than it does in production.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW fsync")
        fsync = cursor.fetchone()[0]
        cursor.execute("SHOW full_page_writes")
        full_page_writes = cursor.fetchone()[0]
    assert (fsync, full_page_writes) == ("on", "on")

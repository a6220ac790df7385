# ruff: noqa: RUF001, RUF003 - the table's × and – are meant
"""From the raw measures to the table's rows: figure, limit, ratio, target."""

from __future__ import annotations

from typing import Any

from .pages import SCENARIOS
from .report import Row, ms

INGEST_RATE = 1000  # deliveries/s
INGEST_P95_MS = 20
PROCESSING_RATE = 1000  # messages/s
E2E_P95_MS = 1000
DEADLINE_LATE_S = 5
BEAT_PERIOD_S = 2.0  # settings.CELERY_BEAT_SCHEDULE["sweep-deadlines"]
WEB_RSS_MB = 150
WORKER_RSS_MB = 250


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def rows_and_notes(raw: dict[str, Any], settings: Any, *, busy: bool = False) -> tuple[list[Row], list[str]]:
    """`busy`: other work competed for the CPU during the run. A page that
    then misses its target in wall-clock time while its own CPU time plus its
    bare SQL time fits is reported as inconclusive, not as a miss."""
    rows: list[Row] = []
    notes: list[str] = []
    stack = raw.get("stack", {})
    small, large = str(settings.small), str(settings.large)
    large_label = f"{settings.large // 1000:,} k" if settings.large < 1_000_000 else f"{settings.large // 1_000_000} M"

    if "ingest" in stack:
        http, limit = stack["ingest"]["http"], stack["ingest"]["raw_insert"]
        rows.append(Row(
            "Webhook ingestion over HTTP (gunicorn)", _ratio(http["per_second"], limit["per_second"]),
            "of raw INSERT rate",
            f"{http['per_second']:,.0f} deliveries/s, p50 {ms(http['p50_ms'])}, p95 {ms(http['p95_ms'])} "
            f"({http['senders']} senders, {http['n']:,} deliveries in {http.get('seconds', '?')} s)",
            f"INSERT … ON CONFLICT: {limit['per_second']:,.0f}/s, p95 {ms(limit['p95_ms'])}",
            f"≥ {INGEST_RATE:,}/s, p95 < {INGEST_P95_MS} ms",
            http["per_second"] >= INGEST_RATE and http["p95_ms"] < INGEST_P95_MS,
            note=f"{stack.get('web_workers')} sync workers",
        ))
        one = stack["ingest"].get("in_process", {})
        if one.get("cpu_p50_ms"):
            notes.append(
                f"The webhook in-process costs {one['cpu_p50_ms']:.1f} ms of web-process CPU per delivery (p50; "
                f"wall p50 {one['p50_ms']:.1f} ms): at most {1000 / one['cpu_p50_ms']:,.0f} deliveries/s per core "
                "for the web tier alone, before PostgreSQL, Redis and the senders take their share.")
    if "processing" in stack:
        loop, celery = stack["processing"]["loop"], stack["processing"]["celery"]
        rows.append(Row(
            "Processing: deliveries → messages + ROs by the Celery worker",
            _ratio(celery["messages_per_second"], loop["messages_per_second"]), "of the service in a loop",
            f"{celery['messages_per_second']:,.0f} messages/s ({celery['deliveries_per_second']:,.0f} deliveries/s, "
            f"{celery['concurrency']} processes)",
            f"process_batch in a loop: {loop['messages_per_second']:,.0f} messages/s "
            f"({loop['processes']} processes)",
            f"≥ {PROCESSING_RATE:,} messages/s", celery["messages_per_second"] >= PROCESSING_RATE,
        ))
    one_delivery = stack.get("processing", {}).get("loop", {}).get("one_delivery", {})
    if one_delivery.get("cpu_p50_ms"):
        notes.append(
            f"Processing one delivery in the loop costs {one_delivery['cpu_p50_ms']:.1f} ms of CPU (its share of "
            f"a batch of up to {stack['processing']['loop'].get('batch_size', 1)}, p50; wall p50 "
            f"{one_delivery['p50_ms']:.1f} ms): at most {1000 / one_delivery['cpu_p50_ms']:,.0f} deliveries/s per "
            "core for the worker alone.")
    if "e2e" in stack:
        e2e = stack["e2e"]
        one = stack.get("processing", {}).get("loop", {}).get("one_delivery", {})
        rows.append(Row(
            f"End to end at a steady {e2e['rate']:.0f} deliveries/s: accepted → visible in the queue",
            _ratio(e2e["p95_ms"], one.get("p95_ms")), "of one delivery's processing" if one else "",
            f"p50 {ms(e2e['p50_ms'])}, p95 {ms(e2e['p95_ms'])}, max {ms(e2e['max_ms'])} "
            f"({e2e['seen']}/{e2e['sent']} seen; queue polled every {e2e['poll_interval_ms']:.0f} ms; "
            f"backlog drained {e2e.get('backlog_drained_s')} s after the last one)",
            f"processing one delivery in-process: p95 {ms(one.get('p95_ms'))}" if one else "–",
            f"p95 < {E2E_P95_MS:,} ms", e2e["p95_ms"] < E2E_P95_MS and e2e["seen"] == e2e["sent"],
        ))

    for name, scenario in SCENARIOS.items():
        at_small = raw.get("pages", {}).get(small, {}).get(name)
        at_large = raw.get("pages", {}).get(large, {}).get(name)
        if at_small is None and at_large is None:
            continue
        for size, result, label in ((small, at_small, "10 k"), (large, at_large, large_label)):
            if result is None:
                continue
            if "error" in result:
                rows.append(Row(f"{scenario.title} @ {label}", None, "", "error", "–", "–", False,
                                note=result["error"][:200]))
                continue
            server, sql = result["server"], result["sql"]
            is_target_size = size == large
            met: bool | None = server["p95_ms"] <= scenario.target.p95_ms if is_target_size else None
            note = result["how"]
            floor = server.get("cpu_p50_ms", 0.0) + sql["p50_ms"]
            if met is False and busy and floor <= scenario.target.p95_ms:
                met = None
                note += f" — inconclusive on a busy machine: CPU p50 + SQL p50 = {ms(floor)}"
            elif met is False and server.get("cpu_p50_ms", 0.0) > scenario.target.p95_ms:
                note += f" — missed on the web process's CPU alone ({ms(server['cpu_p50_ms'])})"
            rows.append(Row(
                f"{scenario.title} @ {label} messages", _ratio(server["p95_ms"], sql["p95_ms"]), "of bare SQL",
                f"p50 {ms(server['p50_ms'])}, p95 {ms(server['p95_ms'])}"
                + (f" (CPU p50 {ms(server['cpu_p50_ms'])})" if "cpu_p50_ms" in server else ""),
                f"SQL p50 {ms(sql['p50_ms'])}, p95 {ms(sql['p95_ms'])} ({result['queries']} queries)",
                f"p95 ≤ {scenario.target.p95_ms:.0f} ms" if is_target_size else "(reference for the growth)",
                met, note=note,
            ))
        if (at_small and at_large and "error" not in at_small and "error" not in at_large
                and scenario.target.growth is not None):
            growth = _ratio(at_large["server"]["p95_ms"], at_small["server"]["p95_ms"])
            sql_growth = _ratio(at_large["sql"]["p95_ms"], at_small["sql"]["p95_ms"])
            cpu_growth = _ratio(at_large["server"].get("cpu_p50_ms"), at_small["server"].get("cpu_p50_ms"))
            sql_p50_growth = _ratio(at_large["sql"]["p50_ms"], at_small["sql"]["p50_ms"])
            grew = growth is not None and growth > scenario.target.growth
            # On a busy machine a wall-clock growth is only a miss if the
            # page's own work (its CPU and its SQL) grew too.
            settled: bool | None = not grew
            if (grew and busy and (cpu_growth or 0) <= scenario.target.growth
                    and (sql_p50_growth or 0) <= scenario.target.growth):
                settled = None
            rows.append(Row(
                f"{scenario.title}: growth {large_label} / 10 k", growth, "of the 10 k figure",
                f"p95 {ms(at_small['server']['p95_ms'])} → {ms(at_large['server']['p95_ms'])}"
                + (f"; CPU p50 grew {cpu_growth:.2f}×" if cpu_growth else ""),
                f"SQL alone grew {sql_growth:.2f}×" if sql_growth else "–",
                f"≤ {scenario.target.growth}×", settled,
                note=("inconclusive on a busy machine: its CPU p50 and SQL p50 did not grow" if settled is None
                      else "the 10 k load holds 7 days: less than the 28-day trend the page also reads"
                      if name == "dashboard" else ""),
            ))

    if "deadlines" in stack:
        d = stack["deadlines"]
        b = d.get("browser") or {}
        if b:
            shown = max(b["at_risk_late"]["max_ms"], b["missed_late"]["max_ms"]) / 1000
            rows.append(Row(
                "Deadline passing → at-risk / missed mark shown in the queue (Chromium)",
                _ratio(shown, 1.0), "of the countdown's 1 s tick",
                f"at risk shown late p95 {b['at_risk_late']['p95_ms'] / 1000:.2f} s, missed p95 "
                f"{b['missed_late']['p95_ms'] / 1000:.2f} s, worst {shown:.2f} s "
                f"({b['missed_shown']}/{b['rows']} rows)",
                "inbox.js re-evaluates every row each second (page read every 100 ms)",
                f"≤ {DEADLINE_LATE_S} s late",
                shown <= DEADLINE_LATE_S and b["missed_shown"] == b["rows"] == d["ros"],
            ))
        worst = max(d["at_risk_late"]["max_ms"], d["missed_late"]["max_ms"]) / 1000
        rows.append(Row(
            "Deadline passing → mark stored by the sweep, live version bumped (SLA figures, other tabs)",
            _ratio(worst, BEAT_PERIOD_S), "of the sweep period",
            f"at risk late p95 {d['at_risk_late']['p95_ms'] / 1000:.2f} s, missed late p95 "
            f"{d['missed_late']['p95_ms'] / 1000:.2f} s, worst {worst:.2f} s "
            f"({d['missed_marked']}/{d['ros']} marked; live version moved: {d['live_version_moved']})",
            f"beat sweep every {BEAT_PERIOD_S:.0f} s",
            f"≤ {DEADLINE_LATE_S} s late", worst <= DEADLINE_LATE_S and d["missed_marked"] == d["ros"]
            and d["live_version_moved"],
        ))
    if "memory" in stack:
        for name, target, baseline_key in (("web", WEB_RSS_MB, "web_baseline"), ("worker", WORKER_RSS_MB,
                                                                                   "worker_baseline")):
            mem = stack["memory"][name]
            processes = mem["children"] or [mem["main"]]
            peak = max(p["peak_mb"] for p in processes)
            base = stack.get(baseline_key, {})
            base_processes = base.get("children") or ([base["main"]] if base else [])
            baseline = max((p["rss_mb"] for p in base_processes), default=None)
            rows.append(Row(
                f"Peak RSS of a {name} process at {large_label} messages", _ratio(peak, baseline),
                "of a freshly started one",
                f"{peak:.0f} MB (highest of {len(processes)} processes)",
                f"fresh process: {baseline:.0f} MB" if baseline else "–",
                f"≤ {target} MB", peak <= target,
            ))
    if "http" in stack:
        parts = [f"{name} p50 {ms(t['p50_ms'])} / p95 {ms(t['p95_ms'])}" for name, t in stack["http"].items()]
        notes.append(f"Pages over HTTP through gunicorn at {large_label} messages: " + "; ".join(parts) + ".")
    for name, error in raw.get("errors", {}).items():
        notes.append(f"{name} failed: {error}")
    for size, data in raw.get("loads", {}).items():
        notes.append(f"Load of {int(size):,} messages ({data['history_days']} days of history): "
                     f"{data['seconds']} s, {data['counts']}, phases {data['phases']}.")
    return rows, notes

"""Deliveries in: the webhook over HTTP, the worker, end to end, deadlines.

Each measure runs next to its limit: the webhook next to a bare
`INSERT … ON CONFLICT` of the same rows with the same concurrency; the Celery
worker next to the same service called in a loop by as many processes; a
delivery's trip to the queue next to the time its processing alone takes.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from . import measure
from .env import APP_SECRET, ROOT
from .load import Loaded, Table

SENDERS = 8  # concurrent connections, as Meta opens several at once


# --- Signed deliveries --------------------------------------------------------


def deliveries_for(meta_page_id: str, psids: Sequence[str], count: int, *, start: float,
                   text: str = "Bonjour, vous livrez à Lyon ?") -> list[tuple[bytes, str]]:
    """`count` signed Messenger deliveries from existing customers, one
    message each (one in five a burst of two), as Meta sends them."""
    from inbox import simulation

    bodies = []
    for i in range(count):
        psid = psids[i % len(psids)]
        at = start + i * 0.001
        items = [simulation.message(meta_page_id, psid, at, text)]
        if i % 5 == 4:
            items.append(simulation.message(meta_page_id, psid, at + 0.0005, "Merci !"))
        payload = simulation.envelope(meta_page_id, messaging=items, time_ms=simulation.ms(at))
        bodies.append(simulation.signed(payload, APP_SECRET))
    return bodies


def _request(path: str, body: bytes, signature: str) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"X-Hub-Signature-256: {signature}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


def post(port: int, request: bytes) -> int:
    """One request on a fresh connection (Meta does not keep connections
    alive); a bare socket, so that the client costs next to no CPU."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    response = b"".join(chunks)
    return int(response[9:12]) if response.startswith(b"HTTP/1.") else 0


def _parallel(items: Sequence[Any], work: Any, threads: int, seconds: float | None = None
              ) -> tuple[float, list[float]]:
    """Run `work(item)` over `items` from `threads` threads, for at most
    `seconds`; returns the wall time and the latency of each item done."""
    latencies: list[float | None] = [None] * len(items)
    lock = threading.Lock()
    cursor = iter(range(len(items)))
    errors: list[BaseException] = []
    stop_at = time.perf_counter() + seconds if seconds else None

    def worker() -> None:
        try:
            while True:
                with lock:
                    index = next(cursor, None)
                if index is None or (stop_at is not None and time.perf_counter() > stop_at):
                    return
                started = time.perf_counter()
                work(items[index])
                latencies[index] = time.perf_counter() - started
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    started = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - started, [x for x in latencies if x is not None]


# --- Ingestion ------------------------------------------------------------------


def raw_insert_rate(bodies: Sequence[tuple[bytes, str]], *, dsn: str, threads: int = SENDERS) -> dict[str, Any]:
    """The limit: the same rows by a bare INSERT … ON CONFLICT DO NOTHING, one
    transaction each, from as many connections as there are senders."""
    import hashlib
    import queue

    import psycopg

    from inbox.models import Delivery

    table = Table(Delivery, ["body", "body_sha256", "received_at"])
    columns = ", ".join(f'"{c}"' for c in table.columns)
    placeholders = ", ".join(["%s"] * len(table.columns))
    sql = (f'INSERT INTO "{Delivery._meta.db_table}" ({columns}) VALUES ({placeholders}) '
           'ON CONFLICT ("body_sha256") DO NOTHING')
    connections: queue.Queue[Any] = queue.Queue()
    for _ in range(threads):
        connections.put(psycopg.connect(dsn, autocommit=True))
    digests = [hashlib.sha256(body).hexdigest() for body, _sig in bodies]

    def insert(index: int) -> None:
        conn = connections.get()
        try:
            conn.execute(sql, (bodies[index][0], digests[index], datetime.now(UTC), *table.defaults))
        finally:
            connections.put(conn)

    wall, latencies = _parallel(list(range(len(bodies))), insert, threads)
    conn = connections.get()
    conn.execute(f'DELETE FROM "{Delivery._meta.db_table}" WHERE body_sha256 = ANY(%s)', [digests])
    while True:
        conn.close()
        try:
            conn = connections.get_nowait()
        except queue.Empty:
            break
    timing = measure.Timing(latencies)
    return {"per_second": round(len(latencies) / wall, 1), **timing.as_dict(), "connections": threads}


def http_ingest(bodies: Sequence[tuple[bytes, str]], *, port: int, threads: int = SENDERS,
                seconds: float | None = None) -> dict[str, Any]:
    requests = [_request("/webhooks/meta", body, signature) for body, signature in bodies]
    statuses: list[int] = []

    def send(request: bytes) -> None:
        status = post(port, request)
        statuses.append(status)
        if status != 200:
            raise RuntimeError(f"webhook answered {status}")

    wall, latencies = _parallel(requests, send, threads, seconds)
    timing = measure.Timing(latencies)
    return {"per_second": round(len(latencies) / wall, 1), **timing.as_dict(), "senders": threads,
            "seconds": round(wall, 1)}


def inprocess_webhook(bodies: Sequence[tuple[bytes, str]]) -> dict[str, Any]:
    """The webhook view called in-process (test Client): the CPU one delivery
    costs the web process, which bounds the rate a core can accept whatever
    else the machine is doing."""
    from django.test import Client

    client = Client()

    def call(body: bytes, signature: str) -> Any:
        def post() -> None:
            response = client.post("/webhooks/meta", data=body, content_type="application/json",
                                   HTTP_X_HUB_SIGNATURE_256=signature)
            if response.status_code != 200:
                raise RuntimeError(f"webhook answered {response.status_code}")

        return post

    calls = [call(body, signature) for body, signature in bodies]
    for warm in calls[:10]:
        warm()
    # Each body once: a repeated one would take the cheaper "already stored" path.
    return measure.time_calls(calls[10:], n=len(calls) - 10, warmup=0).as_dict()


# --- Processing ---------------------------------------------------------------------


def stored_ids(since_id: int) -> list[int]:
    from inbox.models import Delivery

    return list(Delivery.objects.filter(pk__gt=since_id, processed_at__isnull=True).order_by("pk")
                .values_list("pk", flat=True))


def _counts(since: dict[str, int]) -> dict[str, int]:
    from inbox.models import Message, ResponseOpportunity

    return {"messages": Message.objects.filter(pk__gt=since["message"]).count(),
            "opportunities": ResponseOpportunity.objects.filter(pk__gt=since["opportunity"]).count()}


def high_water() -> dict[str, int]:
    from django.db.models import Max

    from inbox.models import Delivery, Message, ResponseOpportunity

    return {"message": Message.objects.aggregate(m=Max("pk"))["m"] or 0,
            "opportunity": ResponseOpportunity.objects.aggregate(m=Max("pk"))["m"] or 0,
            "delivery": Delivery.objects.aggregate(m=Max("pk"))["m"] or 0}


def loop_processing(ids: Sequence[int], *, env: dict[str, str], processes: int, seconds: float
                    ) -> dict[str, Any]:
    """The limit: the worker's service (`ingestion.process_batch`, which
    claims the fresh deliveries) called in a loop by as many processes as
    the worker has, started and warmed before the clock runs, for at most
    `seconds`. Only `ids` may be fresh meanwhile: the caller sets the
    others aside."""
    from inbox.services import ingestion

    before = high_water()
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.run", "process-loop"], cwd=ROOT, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        for _ in range(processes)
    ]
    for child in children:
        if child.stdin is None or child.stdout is None:
            raise RuntimeError("process-loop has no pipes")
        child.stdin.write(json.dumps({"seconds": seconds}) + "\n")
        child.stdin.flush()
        if child.stdout.readline().strip() != "ready":
            raise RuntimeError("process-loop did not start")
    started = time.perf_counter()
    for child in children:
        child.stdin.write("go\n")  # type: ignore[union-attr]
        child.stdin.flush()  # type: ignore[union-attr]
    per_delivery: list[float] = []
    per_delivery_cpu: list[float] = []
    batches: list[float] = []
    batches_cpu: list[float] = []
    taken = 0
    for child in children:
        report = json.loads(child.stdout.readline())  # type: ignore[union-attr]
        for wall, cpu, count in zip(report["wall"], report["cpu"], report["count"], strict=True):
            batches.append(wall)
            batches_cpu.append(cpu)
            per_delivery.append(wall / count)
            per_delivery_cpu.append(cpu / count)
            taken += count
        child.wait()
    wall = time.perf_counter() - started
    made = _counts(before)
    return {"messages_per_second": round(made["messages"] / wall, 1),
            "deliveries_per_second": round(taken / wall, 1), **made, "processes": processes,
            "deliveries": taken, "of": len(ids), "seconds": round(wall, 1),
            # A delivery's share of its batch's time (the batch's time / its size).
            "one_delivery": measure.Timing(per_delivery, per_delivery_cpu).as_dict(),
            "one_batch": measure.Timing(batches, batches_cpu).as_dict(),
            "batch_size": ingestion.BATCH_SIZE}


def process_loop_child() -> None:
    """`python -m bench.run process-loop`: the time budget on stdin, then "go"."""
    from django.db import connection

    from inbox.services import ingestion

    work = json.loads(sys.stdin.readline())
    connection.ensure_connection()
    print("ready", flush=True)
    sys.stdin.readline()
    stop_at = time.perf_counter() + work["seconds"]
    durations, cpu, counts = [], [], []
    while time.perf_counter() < stop_at:
        cpu_started = time.process_time()
        started = time.perf_counter()
        count = ingestion.process_batch()
        if not count:
            break
        durations.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
        counts.append(count)
    print(json.dumps({"wall": durations, "cpu": cpu, "count": counts}), flush=True)


def wait_for_worker(timeout: float = 60) -> None:
    """Until the worker ran a task (its heartbeat row moved)."""
    from inbox import tasks
    from inbox.models import WorkerHeartbeat

    since = datetime.now(UTC)
    tasks.heartbeat.apply_async()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if WorkerHeartbeat.objects.filter(beat_at__gte=since).exists():
            return
        time.sleep(0.1)
    raise RuntimeError("the Celery worker did not run a task within a minute")


def celery_processing(ids: Sequence[int], *, concurrency: int, seconds: float, env: dict[str, str]
                      ) -> dict[str, Any]:
    """The worker woken for every stored delivery as the webhook wakes it
    (`tasks.enqueue_processing`: one task until it starts, and its drain
    asks a free process to help); its rate over at most `seconds`. What it
    did not reach is then dropped."""
    from django.core.cache import cache

    from inbox import tasks
    from inbox.models import Delivery

    from .stack import purge_queue

    before = high_water()
    cache.delete(tasks.PROCESSING_WANTED_KEY)
    started = time.perf_counter()
    for _delivery_id in ids:
        tasks.enqueue_processing()
    published = time.perf_counter() - started
    stop_at = started + seconds
    pending = Delivery.objects.filter(pk__in=ids, processed_at__isnull=True)
    # Polled by their range of ids, not the list: the list's query cost this
    # process 10 ms of CPU and PostgreSQL 5 more, every 20 ms, on the cores
    # the worker measured here needs (the loop above has no poller). No
    # other delivery in the range is fresh (the caller sees to it).
    waiting = Delivery.objects.filter(processed_at__isnull=True, pk__range=(min(ids), max(ids)))
    while waiting.exists() and time.perf_counter() < stop_at:
        time.sleep(0.02)
    made = _counts(before)
    wall = time.perf_counter() - started
    done = len(ids) - pending.count()
    purge_queue(env)
    pending.delete()
    return {"messages_per_second": round(made["messages"] / wall, 1),
            "deliveries_per_second": round(done / wall, 1), **made, "concurrency": concurrency,
            "deliveries": done, "seconds": round(wall, 1), "publish_seconds": round(published, 2)}


# --- End to end ---------------------------------------------------------------------


def make_page(name: str, meta_page_id: str, *, contacts: int, at_risk_seconds: int = 60) -> tuple[Any, list[str]]:
    from inbox.models import Contact, Membership, Page

    page = Page.objects.create(meta_page_id=meta_page_id, name=name, access_token="bench",  # noqa: S106
                               at_risk_seconds=at_risk_seconds)
    psids = [f"{meta_page_id[-4:]}{n:08d}" for n in range(contacts)]
    Contact.objects.bulk_create([Contact(page=page, external_id=psid, name=f"Client {n}")
                                 for n, psid in enumerate(psids)])
    from django.contrib.auth import get_user_model

    admin = get_user_model().objects.get(username="bench-admin")
    Membership.objects.create(user=admin, page=page, role="admin")
    return page, psids


E2E_CONTACTS = 40  # all on the queue's first page (50 rows)
E2E_POLL_SECONDS = 0.05


def end_to_end(loaded: Loaded, *, port: int, rate: float, seconds: float, drain_seconds: float = 60
               ) -> dict[str, Any]:
    """Deliveries at a steady rate over HTTP; a poller reads the queue (the
    selector the page uses) and notes when each one shows."""
    from django.db import connection

    from inbox import selectors, simulation

    page, psids = make_page("Bench end to end", "9100000000001", contacts=E2E_CONTACTS)
    count = int(rate * seconds)
    accepted: dict[int, float] = {}
    seen: dict[int, float] = {}
    contact_of = {seq: seq % len(psids) for seq in range(count)}
    done = threading.Event()

    def sender() -> None:
        t0 = time.perf_counter()
        for seq in range(count):
            wait = t0 + seq / rate - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            psid = psids[contact_of[seq]]
            payload = simulation.envelope(page.meta_page_id, messaging=[
                simulation.message(page.meta_page_id, psid, time.time(), f"e2e {seq:06d} Vous êtes ouverts ?")])
            body, signature = simulation.signed(payload, APP_SECRET)
            status = post(port, _request("/webhooks/meta", body, signature))
            if status == 200:
                accepted[seq] = time.perf_counter()

    def poller() -> None:
        latest: dict[str, int] = {}
        try:
            while not done.is_set() or len(seen) < len(accepted):
                now = time.perf_counter()
                for row in selectors.queue(pages=[page], limit=50).rows:
                    if not row.preview.startswith("e2e "):
                        continue
                    psid = row.contact.external_id if row.contact else ""
                    top = int(row.preview[4:10])
                    if top > latest.get(psid, -1):
                        # Everything this contact sent up to `top` is now visible.
                        for seq in range(latest.get(psid, -1) + 1, top + 1):
                            if contact_of.get(seq) is not None and psids[contact_of[seq]] == psid:
                                seen.setdefault(seq, now)
                        latest[psid] = top
                if done.is_set() and time.perf_counter() - done_at[0] > 15:
                    break
                time.sleep(E2E_POLL_SECONDS)
        finally:
            connection.close()

    done_at = [0.0]
    poll = threading.Thread(target=poller)
    poll.start()
    sender()
    done_at[0] = time.perf_counter()
    done.set()
    poll.join()
    latencies = [seen[seq] - accepted[seq] for seq in accepted if seq in seen]
    timing = measure.Timing([max(0.0, x) for x in latencies])
    return {"rate": rate, "sent": count, "accepted": len(accepted), "seen": len(latencies),
            "poll_interval_ms": E2E_POLL_SECONDS * 1000, **timing.as_dict(),
            "backlog_drained_s": drain(timeout=drain_seconds)}


def drain(*, timeout: float) -> float | None:
    """Wait until the worker has processed every stored delivery, so that
    the next measure does not run beside this one's backlog. Returns how
    long it took, or None if it gave up (the rest is then discarded)."""
    from inbox.models import Delivery

    started = time.monotonic()
    while Delivery.objects.filter(processed_at__isnull=True).exists():
        if time.monotonic() - started > timeout:
            Delivery.objects.filter(processed_at__isnull=True).delete()
            return None
        time.sleep(0.2)
    return round(time.monotonic() - started, 1)


# --- Deadlines ------------------------------------------------------------------------

DEADLINE_ROS = 15
AT_RISK_SECONDS = 3
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def deadlines(*, base_url: str, session_key: str, count: int = DEADLINE_ROS, timeout: float = 60
              ) -> dict[str, Any]:
    """ROs whose at-risk moment and deadline pass while an agent looks at
    the queue in a browser and the beat runs: how late the browser shows each
    mark, how late the sweep stores it, and whether the live version moved."""
    from inbox import live, simulation
    from inbox.models import ResponseOpportunity
    from inbox.services import ingestion

    page, psids = make_page("Bench deadlines", "9100000000002", contacts=count,
                            at_risk_seconds=AT_RISK_SECONDS)
    now = time.time()
    target = page.private_target_seconds
    for i, psid in enumerate(psids):
        due = now + 10 + 0.8 * i
        payload = simulation.envelope(page.meta_page_id, messaging=[
            simulation.message(page.meta_page_id, psid, due - target, "Bonjour, c'est urgent")])
        body, _signature = simulation.signed(payload, APP_SECRET)
        delivery, _created = ingestion.store_delivery(body=body)
        ingestion.process_delivery(delivery_id=delivery.pk)
    version_before = live.versions(page_ids=[page.pk])
    ros = ResponseOpportunity.objects.filter(page=page)
    if ros.count() != count:
        raise RuntimeError(f"expected {count} open ROs, found {ros.count()}")
    browser = _watch_queue(base_url, session_key, page.pk, timeout=timeout)
    deadline = time.monotonic() + timeout
    while ros.filter(missed_marked_at__isnull=True).exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    at_risk, missed = [], []
    for ro in ros:
        if ro.at_risk_marked_at:
            at_risk.append((ro.at_risk_marked_at - (ro.due_at - timedelta(seconds=AT_RISK_SECONDS))).total_seconds())
        if ro.missed_marked_at:
            missed.append((ro.missed_marked_at - ro.due_at).total_seconds())
    return {
        "ros": count, "at_risk_marked": len(at_risk), "missed_marked": len(missed),
        "at_risk_late": measure.Timing([max(0.0, x) for x in at_risk]).as_dict(),
        "missed_late": measure.Timing([max(0.0, x) for x in missed]).as_dict(),
        "live_version_moved": live.versions(page_ids=[page.pk]) != version_before,
        "browser": browser,
    }


def _watch_queue(base_url: str, session_key: str, page_id: int, *, timeout: float) -> dict[str, Any]:
    """Chromium on the queue filtered to the deadline Page: when does each
    row first show at risk, then missed (wall clock vs the row's deadline)?"""
    from django.conf import settings
    from playwright.sync_api import sync_playwright

    shown_at_risk: dict[str, float] = {}
    shown_missed: dict[str, float] = {}
    page_errors: list[str] = []
    clock = [0.0, 0.0]
    dues: dict[str, float] = {}
    script = """els => els.map(e => {
        const clock = e.querySelector('.js-countdown');
        return [e.dataset.conversation, clock ? clock.dataset.due : null,
                e.classList.contains('is-at-risk'), e.classList.contains('is-missed')];
    })"""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(base_url=base_url, locale="fr-FR", timezone_id="Europe/Paris")
            context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session_key, "url": base_url}])
            tab = context.new_page()
            # A script error would leave the marks to the server's sweep and
            # the live poll (seconds late): the result says so.
            tab.on("pageerror", lambda exc: page_errors.append(str(exc)))
            tab.on("console", lambda m: page_errors.append(m.text) if m.type == "error" else None)
            tab.goto(f"/?page={page_id}")
            clock = tab.evaluate("""() => { const n = performance.getEntriesByType('navigation')[0];
                return [Number(document.getElementById('inbox-root').dataset.serverNow),
                        performance.timeOrigin + (n.requestStart + n.responseStart) / 2]; }""")
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                rows = tab.eval_on_selector_all("[data-row]", script)
                seen = time.time()
                for conversation, due, is_at_risk, is_missed in rows:
                    if due:
                        dues[conversation] = int(due) / 1000
                    if is_at_risk:
                        shown_at_risk.setdefault(conversation, seen)
                    if is_missed:
                        shown_missed.setdefault(conversation, seen)
                if rows and len(shown_missed) >= len(rows):
                    break
                time.sleep(0.1)
        finally:
            browser.close()
    at_risk = [shown_at_risk[c] - (dues[c] - AT_RISK_SECONDS) for c in shown_at_risk if c in dues]
    missed = [shown_missed[c] - dues[c] for c in shown_missed if c in dues]
    return {"rows": len(dues), "at_risk_shown": len(at_risk), "missed_shown": len(missed),
            "at_risk_late": measure.Timing([max(0.0, x) for x in at_risk]).as_dict(),
            "missed_late": measure.Timing([max(0.0, x) for x in missed]).as_dict(),
            "poll_ms": 100, "page_errors": page_errors[:5],
            "clock_offset_ms": round(clock[0] - clock[1], 1) if all(clock) else None}


# --- Pages over HTTP (for the web process's memory, and the network's share) ----------


def http_pages(paths: Sequence[str], *, port: int, cookie: str, n: int, headers: dict[str, str] | None = None
               ) -> dict[str, Any]:
    import http.client

    extra = {"Cookie": cookie, **(headers or {})}
    latencies = []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for i in range(n):
        path = paths[i % len(paths)]
        started = time.perf_counter()
        conn.request("GET", path, headers=extra)
        response = conn.getresponse()
        response.read()
        latencies.append(time.perf_counter() - started)
        if response.status != 200:
            raise RuntimeError(f"GET {path} answered {response.status}")
        if response.getheader("Connection", "").lower() == "close":
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.close()
    return measure.Timing(latencies).as_dict()

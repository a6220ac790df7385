#!/usr/bin/env python
"""Chaos scenarios: nothing lost, nothing doubled while the stack is hurt.

    .venv/bin/python chaos/run.py [--deliveries 10000] [--rate 60] [--scenario redis worker postgres beat]

For each scenario this starts a stack of its own — PostgreSQL and Redis on
ports of their own (so other engineers' test services are never touched),
gunicorn, a Celery worker (prefork) and beat, and the fake Graph API that
echoes sent messages back as Meta does — then sends `--deliveries` signed
deliveries as Meta would (20 % of them sent twice: half byte-identical
retries, half the same events re-batched in another envelope; 10 % out of
order; a quarter batched several events to an envelope), while agents reply
to open conversations. In the middle of it the scenario's fault strikes:

    redis     Redis stopped for 30 s (queued tasks lost with it), restarted
    worker    a worker child SIGKILLed mid-task, then the whole worker, restarted
    postgres  PostgreSQL restarted (immediate mode: as after a crash)
    beat      a second beat started by mistake, left running to the end
    all       the four above in turn, in one stream
    none      no fault (the baseline)

Afterwards it waits for the sweeps, then checks: every message stored exactly
once, every delivery processed, every reply sent exactly once (the fake
Graph API counts what reached "Meta"), every response opportunity and every
figure equal to what `rebuild_responsiveness` computes from the messages.
It prints one line per scenario and writes var/chaos/results.json.

Like Meta, the sender retries a delivery until it gets a 200 (the webhook
answers 503 while the database is down); 500s are counted, and must be 0.
Traffic goes to 127.0.0.1 only and every loop is bounded in time.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
VAR = ROOT / "var" / "chaos"
BIN = Path(sys.executable).parent

# Ports and folders of the chaos stack's own services.
PG_PORT = int(os.environ.get("CHAOS_PG_PORT", "55491"))
REDIS_PORT = int(os.environ.get("CHAOS_REDIS_PORT", "56491"))
WEB_PORT = int(os.environ.get("CHAOS_WEB_PORT", "18491"))
GRAPH_PORT = int(os.environ.get("CHAOS_GRAPH_PORT", "18492"))
SERVICES_DIR = VAR / "services"
DB_NAME = "reactif_chaos"
APP_SECRET = "chaos-app-secret"  # noqa: S105 - a local test stack's
PAGE_IDS = ["104200000000101", "104200000000202"]

STACK_ENV = {
    "DATABASE_URL": f"postgres://postgres@127.0.0.1:{PG_PORT}/{DB_NAME}",
    "REDIS_URL": f"redis://127.0.0.1:{REDIS_PORT}/0",
    "CELERY_QUEUE": "reactif-chaos",
    "CACHE_KEY_PREFIX": "reactif-chaos",
    "DEBUG": "0",
    "SECRET_KEY": "chaos-" + "x7Qp2LmZ9vR4tY8wK3nB6cJ1hF5dS0gA" * 2,
    "FIELD_ENCRYPTION_KEY": "cmVhY3RpZi10ZXN0LWtleS0zMi1ieXRlcy0xMjM0NTY=",
    "META_APP_SECRET": APP_SECRET,
    "META_VERIFY_TOKEN": "chaos-verify",
    "META_APP_ID": "424242",
    "META_GRAPH_URL": f"http://127.0.0.1:{GRAPH_PORT}/v25.0",
    "META_GRAPH_TIMEOUT": "5",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "SECURE_SSL_REDIRECT": "0",
    "REACTIF_VAR_DIR": str(VAR / "app"),
    "LOG_LEVEL": "WARNING",
    "PYTHONUNBUFFERED": "1",
}


def log(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", flush=True)


# ---------------------------------------------------------------------------
# Services (PostgreSQL, Redis) through scripts/services.py, on our own ports


def services_env() -> dict[str, str]:
    return {**os.environ, "REACTIF_SERVICES_DIR": str(SERVICES_DIR), "REACTIF_PG_PORT": str(PG_PORT),
            "REACTIF_REDIS_PORT": str(REDIS_PORT)}


def services(command: str) -> None:
    subprocess.run([sys.executable, str(ROOT / "scripts" / "services.py"), command], env=services_env(),
                   check=True, stdout=subprocess.DEVNULL)


def _services_module():
    sys.path.insert(0, str(ROOT / "scripts"))
    os.environ.update({k: v for k, v in services_env().items() if k.startswith("REACTIF_")})
    import services as module  # type: ignore[import-not-found]

    return module


def psql(sql: str) -> None:
    module = _services_module()
    subprocess.run([module.find("psql"), "-h", "127.0.0.1", "-p", str(PG_PORT), "-U", "postgres", "-qtAc", sql],
                   check=True, stdout=subprocess.DEVNULL)


def redis_stop() -> None:
    module = _services_module()
    subprocess.run([module.find("redis-cli"), "-p", str(REDIS_PORT), "shutdown", "nosave"],
                   check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def redis_flush() -> None:
    module = _services_module()
    subprocess.run([module.find("redis-cli"), "-p", str(REDIS_PORT), "flushall"],
                   check=True, stdout=subprocess.DEVNULL)


def postgres_restart() -> None:
    module = _services_module()
    data = SERVICES_DIR / "pg"
    # Immediate mode: no checkpoint, every connection cut, as after a crash.
    subprocess.run([*module.as_pg_user(), module.find("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                   check=True, stdout=subprocess.DEVNULL)
    time.sleep(3)
    services("start")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def use_env_services() -> None:
    """Run on DATABASE_URL's and REDIS_URL's servers (make test's) instead of
    starting our own: a database, a queue, a cache prefix and ports of this
    run's own, so nothing another run uses is touched."""
    global PG_PORT, DB_NAME, WEB_PORT, GRAPH_PORT
    from urllib.parse import urlparse

    database = urlparse(os.environ["DATABASE_URL"])
    PG_PORT = database.port or 5432
    DB_NAME = f"reactif_load_{os.getpid()}"
    WEB_PORT, GRAPH_PORT = free_port(), free_port()
    STACK_ENV.update({
        "DATABASE_URL": database._replace(path=f"/{DB_NAME}").geturl(),
        "REDIS_URL": os.environ["REDIS_URL"],
        "CELERY_QUEUE": f"reactif-load-{os.getpid()}",
        "CACHE_KEY_PREFIX": f"reactif-load-{os.getpid()}",
        "META_GRAPH_URL": f"http://127.0.0.1:{GRAPH_PORT}/v25.0",
        "REACTIF_VAR_DIR": str(VAR / f"app-{os.getpid()}"),
    })


def drop_database() -> None:
    from django.db import connections

    connections.close_all()
    psql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{DB_NAME}' "
         "AND pid <> pg_backend_pid()")
    psql(f"DROP DATABASE IF EXISTS {DB_NAME}")


# ---------------------------------------------------------------------------
# Processes of the stack


class Stack:
    def __init__(self, logs: Path | None = None) -> None:
        self.processes: dict[str, subprocess.Popen] = {}
        self.logs = logs or VAR / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, command: list[str]) -> subprocess.Popen:
        out = (self.logs / f"{name}.log").open("ab")
        # A session of its own: the whole worker (master and children) can be
        # killed by its process group id, and nothing else.
        process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **STACK_ENV}, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        self.processes[name] = process
        return process

    def web(self) -> None:
        self.start("web", [str(BIN / "gunicorn"), "config.wsgi", "--bind", f"127.0.0.1:{WEB_PORT}",
                           "--workers", "2", "--threads", "4", "--timeout", "30", "--log-level", "warning"])

    def worker(self, name: str = "worker") -> subprocess.Popen:
        return self.start(name, [str(BIN / "celery"), "-A", "config", "worker", "--pool", "prefork",
                                 "--concurrency", "2", "--loglevel", "WARNING", "-n", f"{name}@%h"])

    def beat(self, name: str = "beat") -> None:
        self.start(name, [str(BIN / "celery"), "-A", "config", "beat", "--loglevel", "WARNING",
                          "--schedule", str(VAR / f"{name}-schedule")])

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.processes.pop(name)
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def children(self, name: str) -> list[int]:
        found = subprocess.run(["pgrep", "-P", str(self.processes[name].pid)], capture_output=True, text=True,
                               check=False)
        return [int(pid) for pid in found.stdout.split()]

    def stop_all(self) -> None:
        for name in list(self.processes):
            self.kill(name, signal.SIGTERM)


def wait_http(url: str, seconds: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {seconds:.0f} s")


# ---------------------------------------------------------------------------
# Traffic: Meta's deliveries, with duplicates, disorder and batches


@dataclass
class Traffic:
    bodies: list[bytes]
    unique: int
    duplicates: int
    reordered: int
    expected_mids: set[str]


def build_traffic(count: int, seed: int) -> Traffic:
    from inbox import simulation

    rng = random.Random(seed)  # noqa: S311 - test traffic
    # Timestamps end about now: the stream's platform time advances ~0.25 s a
    # delivery, so it starts that long ago.
    start = time.time() - count * 0.26
    stream = simulation.traffic(PAGE_IDS, start=start, contacts_per_page=150, seed=seed)
    envelopes: list[dict[str, Any]] = []
    while len(envelopes) < count:
        payload = next(stream)
        # A quarter of the deliveries batch the next events of the same Page
        # (Meta batches under load: several `messaging` items or `entry`s).
        if rng.random() < 0.25:
            for _ in range(rng.randint(1, 3)):
                extra = next(stream)
                if extra["entry"][0]["id"] != payload["entry"][0]["id"]:
                    envelopes.append(extra)  # another Page's: a delivery of its own
                    continue
                if rng.random() < 0.5:
                    payload["entry"].append(extra["entry"][0])
                else:
                    entry, other = payload["entry"][-1], extra["entry"][0]
                    for key in ("messaging", "changes"):
                        if key in other:
                            entry.setdefault(key, []).extend(other[key])
        envelopes.append(payload)
    envelopes = envelopes[:count]
    expected: set[str] = set()
    for payload in envelopes:
        for entry in payload["entry"]:
            for item in entry.get("messaging", []):
                if "message" in item:
                    expected.add(item["message"]["mid"])
            for change in entry.get("changes", []):
                expected.add(change["value"]["comment_id"])
    bodies = [simulation.encode(p) for p in envelopes]
    # 10 % out of order: swapped with a delivery up to 40 places later.
    reordered = 0
    for i in range(len(bodies)):
        if rng.random() < 0.05 and i + 1 < len(bodies):
            j = min(len(bodies) - 1, i + rng.randint(1, 40))
            bodies[i], bodies[j] = bodies[j], bodies[i]
            reordered += 2
    # 20 % duplicated, sent again a little later: half the same bytes (Meta
    # retrying), half the same events in another envelope (Meta re-batching).
    out = list(bodies)
    duplicates = 0
    for i, payload in enumerate(envelopes):
        if rng.random() < 0.2:
            if rng.random() < 0.5:
                again = simulation.encode(payload)
            else:
                again = simulation.encode({**payload, "entry": list(reversed(payload["entry"])),
                                           "resent": duplicates})
            out.insert(min(len(out), i + duplicates + rng.randint(5, 200)), again)
            duplicates += 1
    return Traffic(bodies=out, unique=count, duplicates=duplicates, reordered=reordered, expected_mids=expected)


@dataclass
class SendFigures:
    posts: int = 0
    retries: int = 0
    statuses: Counter = field(default_factory=Counter)
    gave_up: int = 0
    max_latency: float = 0.0


def send_all(bodies: list[bytes], *, rate: float, threads: int, progress: list[int],
             figures: SendFigures, deadline: float) -> None:
    """POST every body as Meta would: signed, retried until a 200."""
    import httpx

    from inbox.meta_events import sign

    lock = threading.Lock()
    cursor = iter(range(len(bodies)))
    started = time.monotonic()

    def run() -> None:
        with httpx.Client(timeout=10) as http:
            while True:
                with lock:
                    index = next(cursor, None)
                    if index is None:
                        return
                    # Paced: the n-th delivery leaves no earlier than n / rate.
                    wait = started + index / rate - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                body = bodies[index]
                delay = 0.5
                while True:
                    t0 = time.monotonic()
                    try:
                        response = http.post(f"http://127.0.0.1:{WEB_PORT}/webhooks/meta", content=body,
                                             headers={"Content-Type": "application/json",
                                                      "X-Hub-Signature-256": sign(body, APP_SECRET)})
                        status = response.status_code
                    except httpx.HTTPError as exc:
                        status = type(exc).__name__
                    with lock:
                        figures.posts += 1
                        figures.statuses[str(status)] += 1
                        if status == 200:
                            figures.max_latency = max(figures.max_latency, time.monotonic() - t0)
                            progress[0] += 1
                    if status == 200:
                        break
                    if time.monotonic() > deadline:
                        with lock:
                            figures.gave_up += 1
                        break
                    with lock:
                        figures.retries += 1
                    time.sleep(delay)
                    delay = min(delay * 2, 8)

    workers = [threading.Thread(target=run, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


# ---------------------------------------------------------------------------
# Agents: replying to open conversations while the stack is hurt


@dataclass
class AgentFigures:
    replies: int = 0
    refused: int = 0
    errors: int = 0


def agents_reply(stop: threading.Event, figures: AgentFigures, tokens: list[str]) -> None:
    from django.contrib.auth import get_user_model
    from django.db import close_old_connections, connection
    from django.utils import timezone

    from inbox.models import Channel, Conversation, ConversationKind, ConversationStatus, Message
    from inbox.services import SendRefused, send_reply

    agents = list(get_user_model().objects.filter(username__startswith="agent"))
    attempts = itertools.count(1)
    rng = random.Random(7)  # noqa: S311
    while not stop.wait(0.25):
        try:
            close_old_connections()
            conversation = (
                Conversation.objects.filter(status=ConversationStatus.OPEN, due_at__isnull=False,
                                            last_customer_message_at__gt=timezone.now() - timezone.timedelta(hours=20))
                .select_related("page").order_by("?").first()
            )
            if conversation is None:
                continue
            # Every attempt its own token: a reply the agent believes failed
            # but was in fact queued must not be confused with the next one.
            token = f"r{next(attempts)}"
            text = f"Bonjour, on regarde ça tout de suite ({token}). — {rng.choice(['Marie', 'Hugo'])}"
            kwargs: dict[str, Any] = {}
            if conversation.kind == ConversationKind.PUBLIC:
                comment = Message.objects.filter(conversation=conversation, channel=Channel.COMMENT,
                                                 direction="in").order_by("-timestamp").first()
                if comment is None:
                    continue
                kwargs = {"channel": Channel.COMMENT, "comment": comment}
            send_reply(conversation=conversation, author=rng.choice(agents), text=text, **kwargs)
            tokens.append(token)
            figures.replies += 1
        except SendRefused:
            figures.refused += 1
        except Exception:  # noqa: BLE001 - the database or broker is down: the agent tries again
            figures.errors += 1
            with contextlib.suppress(Exception):  # a broken connection may fail to close too
                connection.close()


# ---------------------------------------------------------------------------
# Checking the outcome


def wait_settled(seconds: float) -> bool:
    """Until every delivery is processed and no reply is still on its way."""
    from django.db import close_old_connections

    from inbox.models import Delivery, Message, SendStatus

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            close_old_connections()
            pending = Delivery.objects.filter(processed_at__isnull=True).count()
            outbox = Message.objects.filter(send_status__in=[SendStatus.QUEUED, SendStatus.SENDING]).count()
        except Exception:  # noqa: BLE001
            pending = outbox = -1
        if pending == 0 and outbox == 0:
            return True
        time.sleep(2)
    return False


def ro_snapshot() -> dict[int, tuple]:
    from inbox.models import ResponseOpportunity

    return {
        ro.opened_by_id: (ro.conversation_id, ro.kind, ro.opened_at, ro.clock_start, ro.due_at, ro.closed_by_id,
                          ro.closed_at, ro.response_seconds, ro.status, ro.starts_conversation)
        for ro in ResponseOpportunity.objects.all()
    }


def figures_snapshot(now) -> dict[str, dict]:
    from inbox.models import Page
    from inbox.selectors import responsiveness_report

    out = {}
    for page in Page.objects.all():
        for kind in ("private", "public"):
            out[f"{page.meta_page_id}/{kind}"] = responsiveness_report(page=page, kind=kind, days=7,
                                                                       now=now).as_json()
    return out


def check(traffic: Traffic, graph, tokens: list[str]) -> dict[str, Any]:
    from django.utils import timezone

    from inbox.models import Delivery, Direction, Message, SendStatus
    from inbox.services import opportunities

    stored = Counter(
        Message.objects.filter(mid__in=traffic.expected_mids).values_list("mid", flat=True)
    )
    inbound_rows = Message.objects.filter(direction=Direction.INBOUND).count()
    inbound_distinct = Message.objects.filter(direction=Direction.INBOUND).values("mid").distinct().count()
    # Our replies: one row each, whatever the echoes did.
    reply_rows = Counter()
    reply_state = Counter()
    token_re = re.compile(r"\((r\d+)\)")
    for text, status in Message.objects.filter(direction=Direction.OUTBOUND).values_list("text", "send_status"):
        match = token_re.search(text)
        if match:
            reply_rows[match.group(1)] += 1
            reply_state[status] += 1
    sent_to_meta = Counter()
    for send in graph.sends:
        match = token_re.search(str(send.get("text") or ""))
        if match:
            sent_to_meta[match.group(1)] += 1
    replies_doubled = sum(n - 1 for n in reply_rows.values() if n > 1)
    double_sends = sum(n - 1 for n in sent_to_meta.values() if n > 1)
    # A reply marked sent that never reached Meta, or one stuck on its way.
    sent_ids = {t for t, n in sent_to_meta.items() if n}
    replies_lost = 0
    for text, status in Message.objects.filter(direction=Direction.OUTBOUND).values_list("text", "send_status"):
        match = token_re.search(text)
        if not match:
            continue
        token = match.group(1)
        if status == SendStatus.SENT and token not in sent_ids:
            replies_lost += 1
        if status in (SendStatus.QUEUED, SendStatus.SENDING):
            replies_lost += 1
    replies_missing = len([t for t in tokens if t not in reply_rows])

    # Responsiveness: what the worker kept incrementally, against a rebuild.
    now = timezone.now()
    opportunities.mark_deadlines(now=now)
    before_ros, before_figures = ro_snapshot(), figures_snapshot(now)
    opportunities.rebuild(now=now)
    after_ros, after_figures = ro_snapshot(), figures_snapshot(now)
    differing = [k for k in before_ros.keys() | after_ros.keys() if before_ros.get(k) != after_ros.get(k)]
    ro_mismatches = len(differing)
    examples = [{"kept": before_ros.get(k), "rebuilt": after_ros.get(k)} for k in sorted(differing)[:5]]
    figure_mismatches = sum(
        1 for key in before_figures
        for name, value in before_figures[key].items()
        if name != "computed_at" and after_figures[key].get(name) != value
    )
    duplicate_mids = sum(n - 1 for n in stored.values() if n > 1)
    return {
        "deliveries": traffic.unique,
        "duplicates_sent": traffic.duplicates,
        "reordered": traffic.reordered,
        "delivery_rows": Delivery.objects.count(),
        "unprocessed": Delivery.objects.filter(processed_at__isnull=True).count(),
        "expected_messages": len(traffic.expected_mids),
        "messages": len(stored),
        "duplicates": duplicate_mids + (inbound_rows - inbound_distinct) + replies_doubled,
        "lost": len(traffic.expected_mids - set(stored)),
        "replies": len(tokens),
        "replies_missing": replies_missing,
        "reply_states": dict(reply_state),
        "replies_lost": replies_lost,
        "double_sends": double_sends + graph.stats()["double_sends"],
        "ro_count": len(after_ros),
        "ro_mismatches": ro_mismatches,
        "figure_mismatches": figure_mismatches,
        "ro_mismatch_examples": examples,
    }


# ---------------------------------------------------------------------------
# One scenario


def django_setup() -> None:
    os.environ.update(STACK_ENV)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django

    django.setup()


def prepare_database() -> None:
    from django.db import connections

    connections.close_all()
    psql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{DB_NAME}' "
         "AND pid <> pg_backend_pid()")
    psql(f"DROP DATABASE IF EXISTS {DB_NAME}")
    psql(f"CREATE DATABASE {DB_NAME}")
    # The test services trade durability for speed (synchronous_commit off:
    # a commit may be acknowledged before its WAL is written, and lost by a
    # crash). Production keeps PostgreSQL's default, and so does the chaos
    # run: a 200 to Meta must mean the delivery survives a restart. A
    # database setting outranks the server's command line.
    psql(f"ALTER DATABASE {DB_NAME} SET synchronous_commit = on")
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT,
                   env={**os.environ, **STACK_ENV}, check=True)
    from django.contrib.auth import get_user_model

    from inbox.models import Membership, Page, Role

    for n, page_id in enumerate(PAGE_IDS):
        # Short targets, so that deadlines fall due (and the deadline sweep
        # works) during the run itself, not after it.
        page = Page.objects.create(meta_page_id=page_id, name=f"Chaos Page {n + 1}", access_token=f"token-{n}",
                                   private_target_seconds=60, public_target_seconds=120)
        for a in range(3):
            user, _ = get_user_model().objects.get_or_create(username=f"agent{a}", defaults={"first_name": "Agent"})
            Membership.objects.get_or_create(user=user, page=page, defaults={"role": Role.AGENT})


def run_scenario(name: str, *, deliveries: int, rate: float, settle: float, seed: int) -> dict[str, Any]:
    from django.db import connections

    from inbox.fake_graph import FakeGraph, make_server

    log(f"scenario {name}: preparing")
    services("start")
    redis_flush()
    prepare_database()
    graph = FakeGraph(echo_to=f"http://127.0.0.1:{WEB_PORT}/webhooks/meta", app_secret=APP_SECRET)
    server = make_server(graph, GRAPH_PORT)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stack = Stack()
    try:
        stack.web()
        stack.worker()
        stack.beat()
        wait_http(f"http://127.0.0.1:{WEB_PORT}/healthz")
        traffic = build_traffic(deliveries, seed)
        log(f"scenario {name}: sending {len(traffic.bodies)} POSTs ({traffic.unique} deliveries, "
            f"{traffic.duplicates} duplicates, {traffic.reordered} out of order) at {rate}/s")
        progress = [0]
        sent = SendFigures()
        deadline = time.monotonic() + len(traffic.bodies) / rate + 900
        sender = threading.Thread(target=send_all, kwargs={
            "bodies": traffic.bodies, "rate": rate, "threads": 8, "progress": progress, "figures": sent,
            "deadline": deadline}, daemon=True)
        stop_agents = threading.Event()
        agent_figures = AgentFigures()
        tokens: list[str] = []
        agents = threading.Thread(target=agents_reply, args=(stop_agents, agent_figures, tokens), daemon=True)
        sender.start()
        agents.start()
        # One fault in the middle of the stream; "all" strikes each in turn.
        faults = ["redis", "worker", "postgres", "beat"] if name == "all" else [name]
        for n, fault in enumerate(faults):
            fault_at = len(traffic.bodies) * (n + 1) / (len(faults) + 1)
            while progress[0] < fault_at and sender.is_alive():
                time.sleep(0.5)
            inject(fault, stack)
        sender.join()
        stop_agents.set()
        agents.join(timeout=30)
        log(f"scenario {name}: traffic sent ({sent.posts} POSTs, statuses {dict(sent.statuses)}); settling")
        settled = wait_settled(settle)
        # Quiet before comparing: nothing may write while the kept figures
        # and the rebuilt ones are taken at the same instant.
        stack.stop_all()
        connections.close_all()
        result = check(traffic, graph, tokens)
        result.update({
            "scenario": name,
            "settled": settled,
            "posts": sent.posts,
            "http_statuses": dict(sent.statuses),
            "http_500": sent.statuses.get("500", 0),
            "sender_gave_up": sent.gave_up,
            "max_webhook_seconds": round(sent.max_latency, 2),
            "agent_errors": agent_figures.errors,
            "agent_refused": agent_figures.refused,
            "graph_sends": graph.stats()["sends"],
        })
        result["ok"] = (
            settled and result["lost"] == 0 and result["duplicates"] == 0 and result["double_sends"] == 0
            and result["unprocessed"] == 0 and result["ro_mismatches"] == 0 and result["figure_mismatches"] == 0
            and result["http_500"] == 0 and result["replies_lost"] == 0 and result["replies_missing"] == 0
            and sent.gave_up == 0
        )
        return result
    finally:
        stack.stop_all()
        server.shutdown()
        server.server_close()


def inject(name: str, stack: Stack) -> None:
    if name == "redis":
        log("fault: Redis stopped for 30 s")
        redis_stop()
        time.sleep(30)
        services("start")
        log("fault: Redis back")
    elif name == "worker":
        children = stack.children("worker")
        if children:
            log(f"fault: SIGKILL worker child {children[0]}")
            os.kill(children[0], signal.SIGKILL)
        time.sleep(5)
        log("fault: SIGKILL the whole worker (master and children)")
        stack.kill("worker", signal.SIGKILL)
        time.sleep(5)
        stack.worker()
        log("fault: a new worker started")
    elif name == "postgres":
        log("fault: PostgreSQL restarted (immediate)")
        postgres_restart()
        log("fault: PostgreSQL back")
    elif name == "beat":
        log("fault: a second beat started by mistake")
        stack.beat("beat2")
    elif name != "none":
        raise SystemExit(f"unknown scenario {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deliveries", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=60.0, help="POSTs per second")
    parser.add_argument("--settle", type=float, default=600.0, help="seconds to wait for the sweeps")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--scenario", nargs="*", default=["all", "redis", "worker", "postgres", "beat"])
    parser.add_argument("--results", default=str(VAR / "results.json"))
    parser.add_argument("--keep-services", action="store_true")
    args = parser.parse_args()
    VAR.mkdir(parents=True, exist_ok=True)
    services("start")
    django_setup()
    results = []
    try:
        for name in args.scenario:
            started = time.monotonic()
            result = run_scenario(name, deliveries=args.deliveries, rate=args.rate, settle=args.settle,
                                  seed=args.seed)
            result["seconds"] = round(time.monotonic() - started)
            results.append(result)
            log(json.dumps(result, default=str))
    finally:
        if not args.keep_services:
            services("stop")
    Path(args.results).write_text(json.dumps(results, indent=2, default=str))
    print()
    print(f"{'scenario':<10} {'deliveries':>10} {'messages':>9} {'duplicates':>10} {'lost':>5} "
          f"{'double-sends':>12} {'unprocessed':>11} {'RO diff':>7} {'500s':>5} {'replies':>7}  ok")
    for r in results:
        print(f"{r['scenario']:<10} {r['deliveries']:>10} {r['messages']:>9} {r['duplicates']:>10} "
              f"{r['lost']:>5} {r['double_sends']:>12} {r['unprocessed']:>11} "
              f"{r['ro_mismatches'] + r['figure_mismatches']:>7} {r['http_500']:>5} {r['replies']:>7}  "
              f"{'yes' if r['ok'] else 'NO'}")
    sys.exit(0 if all(r["ok"] for r in results) else 1)


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""Load: steady Meta traffic and a team of agents against gunicorn.

    .venv/bin/python load/run.py [--duration 1800] [--rate 50] [--agents 20]

Starts the same stack as the chaos runs (its own PostgreSQL and Redis,
gunicorn, a Celery worker and beat, the fake Graph API echoing sends), then
for --duration seconds:

- Meta: --rate signed deliveries a second, stamped with the time they leave
  (messages, bursts, comments, reads), retried until a 200 as Meta does;
- agents: --agents signed-in users in browsers' shoes: each polls /live every
  2 s as the inbox page does, reloads the queue every 10 s, opens a
  conversation, and answers about one in three through the composer (htmx
  POST with the CSRF token), while an integrator reads the API.

It reports, per page: requests, errors (5xx or no answer), p50/p95/max; the
deliveries' backlog; the memory of gunicorn and the worker over the run (RSS
growth between the first and last tenth, after a warm-up). Results go to
var/load/results.json. `--use-env-services` runs against DATABASE_URL and
REDIS_URL's servers instead (the smoke test inside `make test`). Traffic goes
to 127.0.0.1 only; every loop ends with the run.
"""

from __future__ import annotations

import argparse
import html
import json
import random
import re
import statistics
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chaos import run as chaos  # noqa: E402 - after the path is set

VAR = ROOT / "var" / "load"
PASSWORD = "load-agent-2026"  # noqa: S105 - throwaway users of a local load run
# Pages an agent's browser loads, with the p95 each must stay under while the
# stack is loaded, over HTTP through gunicorn on this 2-core machine. The
# benchmark (bench/) measures the same pages in-process, unloaded, against
# tighter targets (15-50 ms); under load the budget is what an agent feels.
TARGETS_MS = {"queue": 500, "conversation": 500, "reply": 500, "live": 100, "api": 500, "webhook": 250,
              "sign_in": 2000}


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.times: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, list[str]] = defaultdict(list)
        self.statuses: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))

    def record(self, name: str, seconds: float, status: int | str, ok: bool) -> None:
        with self.lock:
            self.times[name].append(seconds)
            self.statuses[name][str(status)] += 1
            if not ok:
                self.errors[name].append(str(status))

    def summary(self) -> dict[str, dict[str, Any]]:
        out = {}
        for name, values in sorted(self.times.items()):
            out[name] = {
                "requests": len(values), "errors": len(self.errors[name]),
                "p50_ms": round(percentile(values, 0.5) * 1000, 1),
                "p95_ms": round(percentile(values, 0.95) * 1000, 1),
                "max_ms": round(max(values) * 1000, 1),
                "target_p95_ms": TARGETS_MS.get(name),
                "statuses": dict(self.statuses[name]),
            }
        return out


# ---------------------------------------------------------------------------


def meta_traffic(base: str, rate: float, until: float, recorder: Recorder, threads: int = 6) -> None:
    """Deliveries stamped as they leave, at a steady rate."""
    import httpx

    from inbox import simulation
    from inbox.meta_events import sign

    rng = random.Random(11)  # noqa: S311 - test traffic
    lock = threading.Lock()
    counter = [0]
    started = time.monotonic()

    def next_body() -> bytes:
        page_id = rng.choice(chaos.PAGE_IDS)
        psid = f"{page_id[-4:]}{rng.randrange(400):06d}"
        now = time.time()
        roll = rng.random()
        if roll < 0.7:
            items = [simulation.message(page_id, psid, now, rng.choice(simulation.QUESTIONS))]
            if rng.random() < 0.2:
                items.append(simulation.message(page_id, psid, now + 0.5, rng.choice(simulation.QUESTIONS)))
            payload = simulation.envelope(page_id, messaging=items, time_ms=simulation.ms(now))
        elif roll < 0.9:
            payload = simulation.envelope(page_id, changes=[simulation.comment(
                page_id, at=now, text=rng.choice(simulation.COMMENTS), from_id=f"c{psid}",
                from_name=rng.choice(simulation.NAMES), post_id=f"{page_id}_{rng.randrange(1, 6)}")],
                time_ms=int(now))
        else:
            payload = simulation.envelope(page_id, messaging=[simulation.read(page_id, psid, now, now - 1)])
        return simulation.encode(payload)

    def run() -> None:
        with httpx.Client(timeout=10) as http:
            while True:
                with lock:
                    n = counter[0]
                    counter[0] += 1
                    body = next_body()
                leave_at = started + n / rate
                # Paced, and over at `until` even if the server fell behind.
                if leave_at > until or time.monotonic() > until:
                    return
                time.sleep(max(0.0, leave_at - time.monotonic()))
                while True:
                    t0 = time.monotonic()
                    try:
                        status: int | str = http.post(f"{base}/webhooks/meta", content=body, headers={
                            "Content-Type": "application/json",
                            "X-Hub-Signature-256": sign(body, chaos.APP_SECRET)}).status_code
                    except httpx.HTTPError as exc:
                        status = type(exc).__name__
                    recorder.record("webhook", time.monotonic() - t0, status, status == 200)
                    if status == 200 or time.monotonic() > until + 60:
                        break
                    time.sleep(1)

    workers = [threading.Thread(target=run, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


LIVE_URL = re.compile(r'(/live\?[^"\']+)')
CONVERSATION_URL = re.compile(r'href="(/c/\d+/)"')
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def agent(base: str, username: str, until: float, recorder: Recorder, seed: int) -> None:
    import httpx

    rng = random.Random(seed)  # noqa: S311 - test traffic
    http = httpx.Client(base_url=base, timeout=15, follow_redirects=False)
    # Production settings: cookies are Secure and the site is HTTPS behind a
    # proxy. The agents speak plain HTTP to gunicorn on loopback, so they say
    # what the proxy would (X-Forwarded-Proto) and keep the cookies themselves.
    origin = base.replace("http://", "https://")
    cookies: dict[str, str] = {}

    def send(method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"X-Forwarded-Proto": "https", "Origin": origin, "Referer": f"{origin}{path}",
                   "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()), **kwargs.pop("headers", {})}
        response = http.request(method, path, headers=headers, **kwargs)
        for line in response.headers.get_list("set-cookie"):
            name, _, rest = line.partition("=")
            cookies[name.strip()] = rest.split(";", 1)[0]
        return response

    def get(name: str, path: str, **headers: str) -> httpx.Response | None:
        t0 = time.monotonic()
        try:
            response = send("GET", path, headers=headers)
        except httpx.HTTPError as exc:
            recorder.record(name, time.monotonic() - t0, type(exc).__name__, False)
            return None
        recorder.record(name, time.monotonic() - t0, response.status_code, response.status_code < 400)
        return response

    # Agents arrive over the first minute, as a team does, not in one burst:
    # a sign-in hashes the password (deliberately slow), 20 at once on two
    # cores time out.
    time.sleep(seed * 3)
    signed_in = None
    while signed_in is None and time.monotonic() < until:
        t0 = time.monotonic()
        try:
            page = send("GET", "/accounts/login/", timeout=60)
            token = CSRF.search(page.text).group(1)
            response = send("POST", "/accounts/login/", data={"username": username, "password": PASSWORD,
                                                             "csrfmiddlewaretoken": token}, timeout=60)
            status: int | str = response.status_code
        except httpx.HTTPError as exc:
            status = type(exc).__name__
        recorder.record("sign_in", time.monotonic() - t0, status, status == 302)
        if status == 302:
            signed_in = True
        else:
            time.sleep(5)
    live_path = ""
    conversations: list[str] = []
    next_queue = next_open = 0.0
    try:
        while time.monotonic() < until:
            now = time.monotonic()
            if now >= next_queue:
                queue = get("queue", "/")
                if queue is not None and queue.status_code == 200:
                    conversations = CONVERSATION_URL.findall(queue.text) or conversations
                    found = LIVE_URL.search(queue.text)
                    live_path = html.unescape(found.group(1)) if found else live_path
                next_queue = now + 10
            if now >= next_open and conversations:
                path = rng.choice(conversations[:20])
                opened = get("conversation", path)
                if opened is not None and opened.status_code == 200 and rng.random() < 0.35:
                    t0 = time.monotonic()
                    try:
                        response = send("POST", f"{path}reply", data={"text": f"Bonjour, je regarde ça. — {username}"},
                                        headers={"HX-Request": "true", "X-CSRFToken": cookies.get("csrftoken", "")})
                        status: int | str = response.status_code
                    except httpx.HTTPError as exc:
                        status = type(exc).__name__
                    recorder.record("reply", time.monotonic() - t0, status, isinstance(status, int) and status < 400)
                next_open = now + rng.uniform(8, 20)
            if live_path:
                get("live", live_path, **{"HX-Request": "true"})
            time.sleep(2)
    finally:
        http.close()


def api_reader(base: str, token: str, until: float, recorder: Recorder) -> None:
    import httpx

    with httpx.Client(base_url=base, timeout=15, headers={"Authorization": f"Bearer {token}"}) as http:
        while time.monotonic() < until:
            for path in (f"/api/v1/pages/{chaos.PAGE_IDS[0]}/responsiveness?kind=private&days=7",
                         f"/api/v1/pages/{chaos.PAGE_IDS[1]}/conversations?status=open"):
                t0 = time.monotonic()
                try:
                    status: int | str = http.get(path).status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                recorder.record("api", time.monotonic() - t0, status, status == 200)
            time.sleep(5)


def rss_kb(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def process_tree(stack: chaos.Stack, names: tuple[str, ...]) -> list[int]:
    pids = []
    for name in names:
        process = stack.processes.get(name)
        if process is not None and process.poll() is None:
            pids.append(process.pid)
            pids.extend(stack.children(name))
    return pids


def prepare_users(agents: int) -> str:
    from django.contrib.auth import get_user_model

    from inbox.models import ApiToken, Membership, Page, Role

    User = get_user_model()
    for n in range(agents):
        user = User.objects.create_user(username=f"agent{n:02d}", password=PASSWORD, first_name=f"Agent{n}")
        for page in Page.objects.all():
            Membership.objects.create(user=user, page=page, role=Role.ADMIN if n == 0 else Role.AGENT)
    key = ApiToken.generate_key()
    ApiToken.objects.create(user=User.objects.get(username="agent00"), name="load", prefix=key[:10],
                            key_hash=ApiToken.hash_key(key))
    return key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=1800)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--warmup", type=float, default=60, help="seconds left out of the memory figures")
    parser.add_argument("--use-env-services", action="store_true",
                        help="use DATABASE_URL/REDIS_URL's servers (a database of its own) instead of starting them")
    parser.add_argument("--results", default=str(VAR / "results.json"))
    parser.add_argument("--check", action="store_true", help="exit 1 unless every target is met")
    args = parser.parse_args()
    VAR.mkdir(parents=True, exist_ok=True)
    if args.use_env_services:
        chaos.use_env_services()
    else:
        chaos.services("start")
    chaos.django_setup()
    chaos.prepare_database()
    for page in __import__("inbox.models", fromlist=["Page"]).Page.objects.all():
        # The product's default targets, not the chaos run's short ones.
        page.private_target_seconds, page.public_target_seconds = 300, 3600
        page.save(update_fields=["private_target_seconds", "public_target_seconds"])
    from django.contrib.auth import get_user_model

    get_user_model().objects.filter(username__startswith="agent").delete()
    token = prepare_users(args.agents)
    from inbox.fake_graph import FakeGraph, make_server

    base = f"http://127.0.0.1:{chaos.WEB_PORT}"
    graph = FakeGraph(echo_to=f"{base}/webhooks/meta", app_secret=chaos.APP_SECRET)
    server = make_server(graph, chaos.GRAPH_PORT)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stack = chaos.Stack(VAR / "logs")
    recorder = Recorder()
    samples: list[tuple[float, int, int, int]] = []
    try:
        stack.web()
        stack.worker()
        stack.beat()
        chaos.wait_http(f"{base}/healthz")
        started = time.monotonic()
        until = started + args.duration
        chaos.log(f"load: {args.rate}/s deliveries, {args.agents} agents, {args.duration:.0f} s")
        threads = [threading.Thread(target=meta_traffic, args=(base, args.rate, until, recorder), daemon=True),
                   threading.Thread(target=api_reader, args=(base, token, until, recorder), daemon=True)]
        threads += [threading.Thread(target=agent, args=(base, f"agent{n:02d}", until, recorder, n), daemon=True)
                    for n in range(args.agents)]
        for thread in threads:
            thread.start()
        from django.db import close_old_connections

        from inbox.models import Delivery

        while time.monotonic() < until:
            close_old_connections()
            backlog = Delivery.objects.filter(processed_at__isnull=True).count()
            samples.append((time.monotonic() - started, rss_kb(process_tree(stack, ("web",))),
                            rss_kb(process_tree(stack, ("worker",))), backlog))
            time.sleep(min(10, max(1, args.duration / 60)))
        for thread in threads:
            thread.join(timeout=120)
        drained = chaos.wait_settled(300)
    finally:
        stack.stop_all()
        server.shutdown()
        server.server_close()
        if args.use_env_services:
            chaos.drop_database()
        else:
            chaos.services("stop")
    steady = [s for s in samples if s[0] >= args.warmup] or samples
    tenth = max(1, len(steady) // 10)
    first, last = steady[:tenth], steady[-tenth:]

    def growth(index: int) -> float:
        before = statistics.mean(s[index] for s in first)
        return round((statistics.mean(s[index] for s in last) - before) / before * 100, 1) if before else 0.0

    pages = recorder.summary()
    result = {
        "duration_s": args.duration, "rate": args.rate, "agents": args.agents,
        "pages": pages,
        "requests": sum(p["requests"] for p in pages.values()),
        "errors": sum(p["errors"] for p in pages.values()),
        "rss_web_mb": [round(first[0][1] / 1024), round(last[-1][1] / 1024)],
        "rss_worker_mb": [round(first[0][2] / 1024), round(last[-1][2] / 1024)],
        "rss_growth_web_pct": growth(1), "rss_growth_worker_pct": growth(2),
        "backlog_max": max(s[3] for s in samples) if samples else 0,
        "drained": drained, "graph": graph.stats(),
    }
    result["targets_met"] = (
        result["errors"] == 0 and drained
        and all(p["target_p95_ms"] is None or p["p95_ms"] <= p["target_p95_ms"] for p in pages.values())
        and result["rss_growth_web_pct"] < 10 and result["rss_growth_worker_pct"] < 10
    )
    Path(args.results).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    print(f"\n{'page':<14}{'requests':>9}{'errors':>7}{'p50 ms':>9}{'p95 ms':>9}{'target':>8}{'max ms':>9}")
    for name, p in pages.items():
        print(f"{name:<14}{p['requests']:>9}{p['errors']:>7}{p['p50_ms']:>9}{p['p95_ms']:>9}"
              f"{p['target_p95_ms'] or '-':>8}{p['max_ms']:>9}")
    print(f"RSS growth: web {result['rss_growth_web_pct']} %, worker {result['rss_growth_worker_pct']} %; "
          f"backlog max {result['backlog_max']}; drained {drained}; targets met: {result['targets_met']}")
    if args.check and not result["targets_met"]:
        sys.exit(1)


if __name__ == "__main__":
    main()

"""The measures that need the production processes running, at the large load."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

from . import load as loader
from . import pipeline
from .stack import WEB_WORKERS, WORKER_PROCESSES, Stack, purge_queue


def _bodies(loaded: loader.Loaded, count: int) -> list[tuple[bytes, str]]:
    import time

    per_half = max(1, count // len(loaded.page_ids) // 2)
    halves: list[list[list[tuple[bytes, str]]]] = [[], []]
    start = time.time()
    for page_id, meta_page_id in zip(loaded.page_ids, loaded.meta_page_ids, strict=True):
        psids = [psid for _pk, psid in loader.iter_contacts(page_id, limit=200)]
        # Each half of the bodies from its own customers: the processing
        # phase gives the loop the first half and the worker the second, and
        # each half must be the same work (a customer's first message opens
        # an RO, the next ones, unanswered, do not).
        for half, customers in zip(halves, (psids[::2], psids[1::2]), strict=True):
            half.append(pipeline.deliveries_for(meta_page_id, customers, per_half, start=start))
    # Interleave the Pages, as Meta's traffic is.
    return [body for half in halves for bodies in zip(*half, strict=True) for body in bodies]


def run_stack(names: list[str], loaded: loader.Loaded, settings: Any, env: dict[str, str], raw: dict[str, Any],
              log: Callable[[str], None]) -> None:
    import os

    out = raw["stack"]
    stack = Stack(env)
    purge_queue(env)

    def phase(name: str, work: Callable[[], Any]) -> None:
        if name not in names:
            return
        log(f"{name}…")
        try:
            stack.check_alive()
            out[name] = work()
            log(f"  {name}: {out[name]}")
        except Exception as exc:  # noqa: BLE001 - recorded; the other phases still run
            raw["errors"][name] = f"{exc.__class__.__name__}: {exc}"
            log(f"  {name}: ERROR {exc}")
            traceback.print_exc()

    try:
        stack.start_graph()
        web_needed = bool({"ingest", "e2e", "deadlines", "http", "memory"} & set(names))
        if web_needed:
            stack.start_web()
            out["web_workers"] = WEB_WORKERS
            out["web_baseline"] = stack.memory("web")
        ingested_from = pipeline.high_water()["delivery"]
        http_high = {"delivery": ingested_from}

        def ingest() -> dict[str, Any]:
            bodies = _bodies(loaded, settings.ingest)
            limit = pipeline.raw_insert_rate(bodies, dsn=os.environ["DATABASE_URL"])
            figure = pipeline.http_ingest(bodies, port=stack.web_port, seconds=settings.phase_seconds)
            http_high["delivery"] = pipeline.high_water()["delivery"]
            # Fresh bodies (the HTTP ones are stored): the same shape, other ids.
            # They are then dropped: the processing phase splits the HTTP ones.
            in_process = pipeline.inprocess_webhook(_bodies(loaded, 210))
            from inbox.models import Delivery

            Delivery.objects.filter(pk__gt=http_high["delivery"]).delete()
            return {"http": figure, "raw_insert": limit, "deliveries": len(bodies), "in_process": in_process}

        phase("ingest", ingest)
        # The webhook woke a worker that is not running yet: the processing
        # benchmark wakes its own.
        purge_queue(env)

        def processing() -> dict[str, Any]:
            ids = pipeline.stored_ids(ingested_from)
            if len(ids) < 100:
                raise RuntimeError("processing needs the deliveries stored by the ingestion phase")
            half = len(ids) // 2
            from django.utils import timezone

            from inbox.models import Delivery

            # The worker's half is set aside (marked processed) while the
            # loop claims what is fresh, then handed back.
            aside = Delivery.objects.filter(pk__in=ids[half:])
            aside.update(processed_at=timezone.now())
            loop = pipeline.loop_processing(ids[:half], env=env, processes=WORKER_PROCESSES, seconds=settings.phase_seconds)
            # What the loop did not reach must not be the worker's.
            Delivery.objects.filter(pk__in=ids[:half], processed_at__isnull=True).delete()
            aside.update(processed_at=None)
            stack.start_worker(concurrency=WORKER_PROCESSES)
            pipeline.wait_for_worker()
            out["worker_baseline"] = stack.memory("worker")
            celery = pipeline.celery_processing(ids[half:], concurrency=WORKER_PROCESSES, seconds=settings.phase_seconds,
                                                env=env)
            return {"loop": loop, "celery": celery}

        phase("processing", processing)
        if {"e2e", "deadlines", "memory"} & set(names):
            if "worker" not in stack.processes:
                stack.start_worker(concurrency=WORKER_PROCESSES)
                pipeline.wait_for_worker()
                out["worker_baseline"] = stack.memory("worker")
            stack.start_beat()

        phase("e2e", lambda: pipeline.end_to_end(loaded, port=stack.web_port, rate=settings.e2e_rate,
                                                 seconds=settings.e2e_seconds, drain_seconds=settings.drain_seconds))
        def deadlines() -> dict[str, Any]:
            from django.contrib.auth import get_user_model

            from .pages import _client

            client = _client(get_user_model().objects.get(pk=loaded.admin_id))
            return pipeline.deadlines(base_url=f"http://127.0.0.1:{stack.web_port}",
                                      session_key=client.cookies["sessionid"].value, count=settings.deadline_ros)

        phase("deadlines", deadlines)

        def http() -> dict[str, Any]:
            from .pages import Context, _reverse

            ctx = Context(loaded)
            cookie = f"sessionid={ctx.client.cookies['sessionid'].value}"
            result: dict[str, Any] = {}
            queue_path = _reverse("inbox:queue")
            if queue_path:
                result["queue"] = pipeline.http_pages([queue_path], port=stack.web_port, cookie=cookie,
                                                      n=settings.http_n)
            paths = [_reverse("inbox:conversation", pk) for pk in ctx.conversation_ids]
            if paths and all(paths):
                result["conversation"] = pipeline.http_pages(
                    [p for p in paths if p], port=stack.web_port, cookie=cookie, n=settings.http_n)
            dashboards = [_reverse("inbox:dashboard_page", page.pk) for page in ctx.pages]
            if all(dashboards):
                result["dashboard"] = pipeline.http_pages(
                    [p for p in dashboards if p], port=stack.web_port, cookie=cookie, n=settings.http_n)
            api = [f"/api/v1/pages/{page.meta_page_id}/responsiveness?kind=private&days=7" for page in ctx.pages]
            result["api"] = pipeline.http_pages(api, port=stack.web_port, cookie="", n=settings.http_n,
                                                headers={"Authorization": f"Bearer {ctx.api_key}"})
            return result

        phase("http", http)

        def memory() -> dict[str, Any]:
            return {"web": stack.memory("web"), "worker": stack.memory("worker")}

        phase("memory", memory)
    finally:
        stack.stop_all()
        purge_queue(env)

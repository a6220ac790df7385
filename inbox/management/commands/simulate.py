"""Realistic, signed Meta deliveries sent to a running Réactif: the demo's
steady trickle (`make run`) and a load generator.

Deliveries leave at the requested rate from a pool of connections, so a
slow answer does not lower the rate (Meta does not wait either), up to
`--concurrency` requests in flight.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from inbox import simulation
from inbox.models import Page


class Command(BaseCommand):
    help = "Send realistic, signed Meta deliveries to a running Réactif (demo and load)."

    def add_arguments(self, parser):
        parser.add_argument("--url", required=True, help="the webhook URL, e.g. http://127.0.0.1:8000/webhooks/meta")
        parser.add_argument("--rate", type=float, default=0.5, help="deliveries per second")
        parser.add_argument("--duration", type=float, default=0, help="seconds; 0 = until interrupted")
        parser.add_argument("--concurrency", type=int, default=8, help="most requests in flight at once")
        parser.add_argument("--page-id", action="append", default=[], help="Meta Page id (default: all connected)")
        parser.add_argument("--seed", type=int, default=None)

    def handle(self, *args, url, rate, duration, concurrency, page_id, seed, **options):
        if rate <= 0:
            raise CommandError("--rate must be positive")
        if concurrency < 1:
            raise CommandError("--concurrency must be at least 1")
        if not url.startswith(("http://", "https://")):
            raise CommandError("--url must be an http(s) URL")
        secret = settings.META_APP_SECRET
        if not secret:
            raise CommandError("META_APP_SECRET must be set: deliveries are signed with it")
        page_ids = page_id or list(Page.objects.values_list("meta_page_id", flat=True))
        if not page_ids:
            raise CommandError("No Page to simulate: connect one first (connect_page)")
        stream = simulation.traffic(page_ids, start=time.time(), seed=seed)
        counts = {"sent": 0, "failed": 0}
        lock = threading.Lock()
        in_flight = threading.BoundedSemaphore(concurrency)

        def post(body: bytes, signature: str) -> None:
            request = urllib.request.Request(url, data=body, method="POST", headers={  # noqa: S310 - checked above
                "Content-Type": "application/json", "X-Hub-Signature-256": signature})
            try:
                urllib.request.urlopen(request, timeout=10).close()  # noqa: S310 - http(s) checked above
                outcome = "sent"
            except (urllib.error.URLError, OSError) as exc:
                outcome = "failed"
                self.stderr.write(f"delivery failed: {exc}")
            finally:
                in_flight.release()
            with lock:
                counts[outcome] += 1

        started = time.monotonic()
        interval = 1 / rate
        next_at = started
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            try:
                while not duration or time.monotonic() - started < duration:
                    body, signature = simulation.signed(next(stream), secret)
                    in_flight.acquire()
                    pool.submit(post, body, signature)
                    next_at += interval
                    time.sleep(max(0.0, next_at - time.monotonic()))
            except KeyboardInterrupt:
                pass
        elapsed = time.monotonic() - started
        self.stdout.write(f"sent {counts['sent']} deliveries, {counts['failed']} failed "
                          f"({counts['sent'] / elapsed:.1f}/s over {elapsed:.1f} s)")

from __future__ import annotations

import time
import urllib.error
import urllib.request

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
        parser.add_argument("--page-id", action="append", default=[], help="Meta Page id (default: all connected)")
        parser.add_argument("--seed", type=int, default=None)

    def handle(self, *args, url, rate, duration, page_id, seed, **options):
        if rate <= 0:
            raise CommandError("--rate must be positive")
        if not settings.META_APP_SECRET:
            raise CommandError("META_APP_SECRET must be set: deliveries are signed with it")
        page_ids = page_id or list(Page.objects.values_list("meta_page_id", flat=True))
        if not page_ids:
            raise CommandError("No Page to simulate: connect one first (connect_page)")
        stream = simulation.traffic(page_ids, start=time.time(), seed=seed)
        started = time.monotonic()
        sent = failed = 0
        interval = 1 / rate
        next_at = started
        try:
            while not duration or time.monotonic() - started < duration:
                body, signature = simulation.signed(next(stream), settings.META_APP_SECRET)
                request = urllib.request.Request(url, data=body, method="POST", headers={  # noqa: S310 - operator-given URL
                    "Content-Type": "application/json", "X-Hub-Signature-256": signature})
                try:
                    urllib.request.urlopen(request, timeout=10).close()  # noqa: S310 - operator-given URL
                    sent += 1
                except (urllib.error.URLError, OSError) as exc:
                    failed += 1
                    self.stderr.write(f"delivery failed: {exc}")
                next_at += interval
                time.sleep(max(0.0, next_at - time.monotonic()))
        except KeyboardInterrupt:
            pass
        self.stdout.write(f"sent {sent} deliveries, {failed} failed")

"""A demo Page with a team and a few days of conversations, fed through the
same ingestion path as Meta's webhooks (so its figures are real ones)."""

from __future__ import annotations

import random
import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from inbox import simulation
from inbox.models import Membership, Page, Role
from inbox.services import ingestion

DEMO_PAGE_ID = "104200000000001"
DEMO_PASSWORD = "demo-reactif-2026"  # noqa: S105 - printed on purpose: it is the demo's


class Command(BaseCommand):
    help = "Seed the demo: one Page, an admin and an agent, conversations over the last days."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=5)

    def handle(self, *args, days, **options):
        User = get_user_model()
        page, created = Page.objects.get_or_create(
            meta_page_id=DEMO_PAGE_ID,
            defaults={"name": "Boulangerie Dupain", "access_token": "demo-token",  # nosec B105 - the demo's fake token
                      "timezone": "Europe/Paris"},
        )
        people = [("marie", "Marie", "Lefèvre", Role.ADMIN), ("hugo", "Hugo", "Garnier", Role.AGENT)]
        for username, first, last, role in people:
            user, _ = User.objects.get_or_create(username=username, defaults={
                "first_name": first, "last_name": last, "email": f"{username}@example.com"})
            user.set_password(DEMO_PASSWORD)
            user.save()
            Membership.objects.update_or_create(user=user, page=page, defaults={"role": role})
        if not User.objects.filter(is_superuser=True).exists():
            User.objects.create_superuser("admin", "admin@example.com", DEMO_PASSWORD)
        if created:
            self._conversations(page, days)
        self.stdout.write(f"Demo Page {page.name} ({page.meta_page_id}); logins marie / hugo / admin, "
                          f"password {DEMO_PASSWORD}")

    def _conversations(self, page: Page, days: int) -> None:
        rng = random.Random(42)  # noqa: S311 - demo data
        now = time.time()
        payloads = []
        for n in range(24):
            psid = f"9{n:05d}"
            at = now - rng.uniform(0.2, days) * 86400
            payloads.append(simulation.envelope(page.meta_page_id, messaging=[
                simulation.message(page.meta_page_id, psid, at, rng.choice(simulation.QUESTIONS))]))
            # Most get an answer (from Meta's inbox, seen as echoes), a few late.
            if n % 6 != 5 and at < now - 3600:
                delay = rng.choice([45, 90, 150, 240, 280, 420, 900])
                payloads.append(simulation.envelope(page.meta_page_id, messaging=[
                    simulation.echo(page.meta_page_id, psid, at + delay, "Bonjour ! Oui bien sûr. — Marie")]))
        for n in range(6):
            at = now - rng.uniform(0.05, days) * 86400
            payloads.append(simulation.envelope(page.meta_page_id, changes=[simulation.comment(
                page.meta_page_id, at=at, text=rng.choice(simulation.COMMENTS), from_id=f"c{n}",
                from_name=rng.choice(simulation.NAMES), post_id=f"{page.meta_page_id}_{n % 3 + 1}")]))
        # Two conversations waiting right now, one close to its deadline.
        for n, ago in enumerate([240, 30]):
            payloads.append(simulation.envelope(page.meta_page_id, messaging=[
                simulation.message(page.meta_page_id, f"8{n:05d}", now - ago, rng.choice(simulation.QUESTIONS))]))
        for payload in payloads:
            with transaction.atomic():
                delivery, _ = ingestion.store_delivery(body=simulation.encode(payload))
            ingestion.process_delivery(delivery_id=delivery.pk)

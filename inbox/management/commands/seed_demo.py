"""A demo Page with a team and a few days of conversations, fed through the
same ingestion path as Meta's webhooks (so its figures are real ones)."""

from __future__ import annotations

import random
import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from inbox import simulation
from inbox.availability import OpeningInterval
from inbox.models import AwayMessage, Membership, Page, Role
from inbox.services import hours, ingestion
from templates_app import services as saved_replies
from templates_app.selectors import Scope

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
            marie = User.objects.get(username="marie")
            self._hours(page, marie)
            self._saved_replies(page, marie)
            self._conversations(page, days)
        self.stdout.write(f"Demo Page {page.name} ({page.meta_page_id}); logins marie / hugo / admin, "
                          f"password {DEMO_PASSWORD}")

    def _hours(self, page: Page, admin) -> None:
        """A bakery's week (closed on Sunday afternoons and at night), with
        away messages in French and English: the business-hours screens and
        the "received while closed" clock have something to show."""
        week = [OpeningInterval(weekday=day, start=7 * 60, end=20 * 60) for day in range(6)]
        hours.replace_hours(page=page, actor=admin, intervals=[*week, OpeningInterval(weekday=6, start=8 * 60,
                                                                                      end=13 * 60)])
        for language, body in (
            ("fr", "Bonjour {{ contact.first_name }}, merci pour votre message\u00a0! La boulangerie est fermée "
                   "pour le moment\u00a0: nous vous répondons {{ page.next_opening }}."),
            ("en", "Hello {{ contact.first_name }}, thanks for your message! The bakery is closed right now: "
                   "we will answer {{ page.next_opening }}."),
        ):
            AwayMessage.objects.create(page=page, language=language, body=body)

    def _saved_replies(self, page: Page, admin) -> None:
        scope = Scope(page=page, owner=None, can_manage=True)
        for title, shortcut, language, tags, body in (
            ("Horaires d'ouverture", "horaires", "fr", "horaires",
             "Bonjour {{ contact.first_name }}\u00a0! Nous sommes ouverts du lundi au samedi de 7 h à 20 h, "
             "et le dimanche de 8 h à 13 h. — {{ agent.first_name }}"),
            ("Livraison à Lyon", "livraison", "fr", "livraison, commande",
             "Bonjour {{ contact.first_name }}, oui\u00a0: nous livrons dans tout Lyon le samedi matin, dès 20 € de "
             "commande. — {{ agent.first_name }}"),
            ("Commande de gâteau", "gateau", "fr", "commande",
             "Avec plaisir {{ contact.first_name }}\u00a0! Pour un gâteau personnalisé, commandez 48 h à l'avance\u00a0: "
             "dites-nous le nombre de parts et l'inscription. — {{ agent.first_name }}"),
            ("Allergènes", "allergenes", "fr", "allergènes",
             "Bonjour {{ contact.first_name }}, la liste des allergènes de chaque produit est affichée en "
             "boutique\u00a0; dites-nous lequel vous intéresse et nous vous répondons en privé. "
             "— {{ agent.first_name }}"),
            ("Opening hours", "hours", "en", "hours",
             "Hello {{ contact.first_name }}! We are open Monday to Saturday 7 am to 8 pm, and Sunday 8 am to "
             "1 pm. — {{ agent.first_name }}"),
        ):
            saved_replies.create_saved_reply(actor=admin, scope=scope, data=saved_replies.SavedReplyData(
                title=title, shortcut=shortcut, body=body, language=language, tags=tags))

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

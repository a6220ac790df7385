from __future__ import annotations

from zoneinfo import available_timezones

from django.core.management.base import BaseCommand, CommandError

from inbox.models import Page


class Command(BaseCommand):
    help = "Create or update a connected Facebook Page (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--page-id", required=True, help="Meta's Page id")
        parser.add_argument("--name", required=True)
        parser.add_argument("--access-token", required=True, help="Page access token (stored encrypted)")
        parser.add_argument("--timezone", default=None, help="IANA time zone, e.g. Europe/Paris")

    def handle(self, *args, page_id, name, access_token, timezone, **options):
        if not page_id.strip().isdigit():
            raise CommandError("--page-id must be Meta's numeric Page id")
        if timezone and timezone not in available_timezones():
            raise CommandError(f"Unknown time zone {timezone!r} (use an IANA name such as Europe/Paris)")
        defaults = {"name": name, "access_token": access_token, "needs_reconnect": False}
        if timezone:
            defaults["timezone"] = timezone
        page, created = Page.objects.update_or_create(meta_page_id=page_id.strip(), defaults=defaults)
        self.stdout.write(f"{'Created' if created else 'Updated'} Page {page.meta_page_id} ({page.name}, {page.timezone})")

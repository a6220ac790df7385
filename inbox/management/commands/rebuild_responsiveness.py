from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from inbox.models import Page
from inbox.services import opportunities


class Command(BaseCommand):
    help = (
        "Recompute every response opportunity from the stored messages, then the daily "
        "rollups the dashboards read. Stored clock starts are kept (changing the hours "
        "does not rewrite history)."
    )

    def add_arguments(self, parser):
        parser.add_argument("page_id", nargs="?", help="Meta's Page id (default: every Page)")

    def handle(self, *args, page_id=None, **options):
        page = None
        if page_id:
            page = Page.objects.filter(meta_page_id=page_id).first()
            if page is None:
                raise CommandError(f"No connected Page {page_id!r}")
        count = opportunities.rebuild(page=page)
        self.stdout.write(f"Rebuilt the response opportunities of {count} conversations")

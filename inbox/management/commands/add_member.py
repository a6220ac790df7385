from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from inbox.models import Membership, Page, Role


class Command(BaseCommand):
    help = "Give a user a role on a Page."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("page_id", help="Meta's Page id")
        parser.add_argument("--role", required=True, choices=Role.values)

    def handle(self, *args, username, page_id, role, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user {username!r}")
        page = Page.objects.filter(meta_page_id=page_id).first()
        if page is None:
            raise CommandError(f"No connected Page {page_id!r} (run connect_page first)")
        Membership.objects.update_or_create(user=user, page=page, defaults={"role": role})
        self.stdout.write(f"{username} is {role} of {page.name}")

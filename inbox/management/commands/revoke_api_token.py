from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from inbox.models import ApiToken
from inbox.services import audit


class Command(BaseCommand):
    help = "Revoke API tokens at once: one by its prefix (shown by --list), or all of a user's."

    def add_arguments(self, parser):
        parser.add_argument("prefix", nargs="?", help="the token's first characters, e.g. rk_AbCdEfG")
        parser.add_argument("--user", help="revoke every token of this username")
        parser.add_argument("--list", action="store_true", help="list the tokens (never their keys)")

    def handle(self, *args, prefix=None, user=None, list=False, **options):
        if list:
            for token in ApiToken.objects.select_related("user").order_by("user__username", "created_at"):
                state = f"revoked {token.revoked_at:%Y-%m-%d %H:%M}" if token.revoked_at else "active"
                used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
                self.stdout.write(f"{token.prefix}\t{token.user.get_username()}\t{token.name or '-'}\t"
                                  f"last used {used}\t{state}")
            return
        if bool(prefix) == bool(user):
            raise CommandError("Give a token prefix or --user USERNAME (see --list).")
        tokens = ApiToken.objects.select_related("user").filter(revoked_at__isnull=True)
        if user:
            owner = get_user_model().objects.filter(username=user).first()
            if owner is None:
                raise CommandError(f"No user {user!r}")
            tokens = tokens.filter(user=owner)
        else:
            tokens = tokens.filter(prefix=prefix[:10])
        revoked = sum(audit.revoke_api_token(token=token) for token in tokens)
        if not revoked and prefix:
            raise CommandError(f"No active token starts with {prefix!r} (see --list).")
        self.stdout.write(f"Revoked {revoked} token(s).")

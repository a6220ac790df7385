"""Key rotation for Page access tokens (inbox/fields.py).

1. Put the new key first in FIELD_ENCRYPTION_KEY, keeping the old one after
   it (`new,old`), and restart: everything still reads.
2. `python manage.py rotate_page_tokens`: every token is re-encrypted with the
   new key.
3. Drop the old key from FIELD_ENCRYPTION_KEY.
"""

from __future__ import annotations

from cryptography.fernet import InvalidToken
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import TextField, Value
from django.db.models.functions import Cast

from inbox import fields
from inbox.models import Page


class Command(BaseCommand):
    help = "Re-encrypt every Page access token with the first key of FIELD_ENCRYPTION_KEY."

    def handle(self, *args, **options):
        rotated = 0
        unreadable: list[str] = []
        for pk in Page.objects.order_by("pk").values_list("pk", flat=True):
            with transaction.atomic():
                # The ciphertext as stored: the cast keeps the field from
                # decrypting it, and the Value keeps it from encrypting again.
                row = (
                    Page.objects.select_for_update(no_key=True)
                    .filter(pk=pk)
                    .annotate(ciphertext=Cast("access_token", TextField()))
                    .values_list("meta_page_id", "ciphertext")
                    .first()
                )
                if row is None or not row[1]:
                    continue
                meta_page_id, ciphertext = row
                try:
                    rotated_text = fields.rotate(ciphertext)
                except InvalidToken:
                    unreadable.append(meta_page_id)
                    continue
                Page.objects.filter(pk=pk).update(access_token=Value(rotated_text, output_field=TextField()))
                rotated += 1
        self.stdout.write(f"Re-encrypted the access tokens of {rotated} Pages with the first key.")
        if unreadable:
            raise CommandError(
                "No key in FIELD_ENCRYPTION_KEY decrypts the token of Pages "
                f"{', '.join(unreadable)}: put their old key back (after the new one) and run this again, "
                "or reconnect them with connect_page."
            )

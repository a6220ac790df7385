"""A text field encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256).

FIELD_ENCRYPTION_KEY holds one or more comma-separated keys: the first one
encrypts, every one decrypts, so keys rotate without downtime (add the new key
first, run `rotate_page_tokens`, then drop the old key).
"""

from __future__ import annotations

from functools import cache, lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


@cache
def _fernet(keys: str) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.strip().encode()) for key in keys.split(",") if key.strip()])
    except ValueError as exc:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEY must be url-safe base64 Fernet keys, comma-separated."
        ) from exc


def fernet() -> MultiFernet:
    return _fernet(settings.FIELD_ENCRYPTION_KEY)


def encrypt(value: str) -> str:
    return fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    return _decrypt(token, settings.FIELD_ENCRYPTION_KEY)


# Every page of the inbox loads the user's Pages, and each Page's token was
# decrypted again on each load (~0.1 ms each: a tenth of the queue's time
# for an agency of 10 Pages). A ciphertext always decrypts to the same text
# under the same keys, so both are the key here; a rotation brings new ones.
@lru_cache(maxsize=1024)
def _decrypt(token: str, keys: str) -> str:
    try:
        return _fernet(keys).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            "A stored secret cannot be decrypted: is its key still in FIELD_ENCRYPTION_KEY?"
        ) from exc


def rotate(token: str) -> str:
    return fernet().rotate(token.encode()).decode()


class EncryptedTextField(models.TextField):
    """Stores ciphertext; Python code only ever sees the plain value."""

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if value is None or value == "":
            return value
        return decrypt(value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(value)

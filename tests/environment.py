"""Loaded by pytest before Django (`-p tests.environment` in pyproject):
the test run's environment, set before settings are read."""

from __future__ import annotations

import os
import uuid

# Parallel runs (several developers, CI) share one Redis: each run gets its
# own Celery queue and cache prefix. Set before Django reads its settings.
RUN_ID = os.environ.get("REACTIF_TEST_RUN_ID") or uuid.uuid4().hex[:8]
os.environ["REACTIF_TEST_RUN_ID"] = RUN_ID
os.environ.setdefault("CELERY_QUEUE", f"reactif-test-{RUN_ID}")
os.environ.setdefault("CACHE_KEY_PREFIX", f"reactif-test-{RUN_ID}")
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECRET_KEY", "test-" + "k" * 20 + uuid.uuid4().hex + uuid.uuid4().hex)
os.environ.setdefault("FIELD_ENCRYPTION_KEY", "cmVhY3RpZi10ZXN0LWtleS0zMi1ieXRlcy0xMjM0NTY=")
os.environ.setdefault("META_APP_SECRET", "test-app-secret")
os.environ.setdefault("META_VERIFY_TOKEN", "test-verify-token")
os.environ.setdefault("META_APP_ID", "424242")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")



"""Settings from the environment (CONTRACT.md "Configuration"): production
passes `check --deploy` and refuses to start on a weak or missing secret."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent


def production_env(tmp_path: Path, **overrides: str | None) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "REACTIF_VAR_DIR": str(tmp_path / "var"),
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "reactif.example.com",
        "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "DATABASE_URL": os.environ["DATABASE_URL"],
        "REDIS_URL": os.environ["REDIS_URL"],
        "META_APP_SECRET": secrets.token_hex(16),
        "META_VERIFY_TOKEN": secrets.token_urlsafe(16),
        "META_APP_ID": "424242",
    }
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def test_production_settings_pass_the_deployment_checks(tmp_path):
    result = manage(production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("overrides,message", [
    ({"SECRET_KEY": None}, "SECRET_KEY is required when DEBUG is off."),
    ({"SECRET_KEY": ""}, "SECRET_KEY is required when DEBUG is off."),
    ({"SECRET_KEY": "changeme"}, "SECRET_KEY is too weak"),
    ({"SECRET_KEY": "ab" * 40}, "SECRET_KEY is too weak"),
    ({"SECRET_KEY": "django-insecure-reactif-development-only-never-in-production"}, "SECRET_KEY is too weak"),
    ({"FIELD_ENCRYPTION_KEY": None}, "FIELD_ENCRYPTION_KEY is required in production."),
    ({"FIELD_ENCRYPTION_KEY": "not-a-fernet-key"}, "FIELD_ENCRYPTION_KEY must be Fernet keys"),
    ({"DEBUG": "maybe"}, "DEBUG must be a boolean"),
], ids=["missing-key", "empty-key", "short-key", "repetitive-key", "dev-key", "no-encryption-key",
        "bad-encryption-key", "bad-debug"])
def test_production_refuses_to_start_with_a_weak_configuration(tmp_path, overrides, message):
    result = manage(production_env(tmp_path, **overrides), "check")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr.strip().splitlines()[-1]  # the last line says what to fix


@pytest.mark.parametrize("missing,check_id", [
    ("META_APP_SECRET", "reactif.W002"),
    ("META_VERIFY_TOKEN", "reactif.W003"),
    ("REDIS_URL", "reactif.W004"),
    ("ALLOWED_HOSTS", "security.W020"),
])
def test_the_deployment_checks_name_what_production_lacks(tmp_path, missing, check_id):
    result = manage(production_env(tmp_path, **{missing: None}), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0
    assert check_id in result.stderr
    assert result.stderr.count("(reactif.W") + result.stderr.count("(security.W") == 1


def test_development_needs_no_configuration_at_all(tmp_path):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "LANG": "C.UTF-8",
           "REACTIF_VAR_DIR": str(tmp_path / "var"), "DEBUG": "1"}
    result = manage(env, "check")
    assert result.returncode == 0, result.stderr
    result = manage(env, "shell", "-v", "0", "-c", "from django.conf import settings; print(settings.DATABASES['default']"
                    "['ENGINE'], settings.CELERY_BROKER_URL, settings.EMBEDDED)")
    engine, broker, embedded = result.stdout.split()
    assert (engine, embedded) == ("django.db.backends.sqlite3", "True")
    assert broker.startswith("filesystem://")


@pytest.mark.django_db
def test_postgresql_prepares_a_statement_the_worker_runs_again_and_again(page):
    # Server-side binding: the same lookup has the same SQL text whatever its
    # values, so psycopg prepares it and PostgreSQL stops planning it anew.
    from django.db import connection

    from inbox.models import Page

    for meta_page_id in ("a", "b", "c", "d", "e", page.meta_page_id):
        Page.objects.filter(meta_page_id=meta_page_id).first()
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any('FROM "inbox_page" WHERE "inbox_page"."meta_page_id" = $1' in sql for sql in prepared)

"""The production deployment files. Docker cannot run where the suite runs,
so the compose file is checked as data (YAML) and its health checks' Python
is compiled, and the web one run against a live server."""

from __future__ import annotations

import re
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from django.utils import timezone

from inbox.models import WorkerHeartbeat

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = ("web", "worker", "beat")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def healthcheck_code(service: dict) -> str:
    test = service["healthcheck"]["test"]
    return test[test.index("-c") + 1]


def test_compose_runs_postgres_redis_web_worker_and_beat_with_health_checks(compose):
    services = compose["services"]
    assert {"postgres", "redis", *APP_SERVICES} <= set(services)
    for name in ("postgres", "redis", *APP_SERVICES):
        assert services[name]["healthcheck"]["test"], name
        assert services[name]["restart"] == "unless-stopped", name
    assert "/healthz" in healthcheck_code(services["web"])
    assert services["worker"]["command"][:4] == ["celery", "-A", "config", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "config", "beat"]
    assert "gunicorn" in (ROOT / "Dockerfile").read_text()


def test_compose_keeps_data_in_volumes(compose):
    assert {"pgdata", "redisdata", "beatdata"} <= set(compose["volumes"])
    assert "pgdata:/var/lib/postgresql/data" in compose["services"]["postgres"]["volumes"]
    assert "redisdata:/data" in compose["services"]["redis"]["volumes"]
    assert "--appendonly" in compose["services"]["redis"]["command"]


def test_the_app_starts_after_its_database_broker_and_migrations(compose):
    assert compose["services"]["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    for name in APP_SERVICES:
        depends = compose["services"][name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"
        assert depends["migrate"]["condition"] == "service_completed_successfully"


def test_the_app_is_configured_for_production_with_no_default_secret(compose):
    for name in APP_SERVICES:
        env = compose["services"][name]["environment"]
        assert env["DEBUG"] == "0"
        assert env["REDIS_URL"] == "redis://redis:6379/0"
        assert env["DATABASE_URL"].startswith("postgres://")
        for secret in ("SECRET_KEY", "FIELD_ENCRYPTION_KEY", "META_APP_SECRET", "META_VERIFY_TOKEN"):
            # Required: compose refuses to start without it, never a default.
            assert re.fullmatch(r"\$\{" + secret + r":\?[^}]+\}", env[secret]), (name, secret)
    assert "127.0.0.1:" in compose["services"]["web"]["ports"][0]  # behind the TLS proxy


def test_the_image_is_slim_non_root_with_static_files_collected_at_build():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.13-slim\b", dockerfile, re.M)
    users = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert users and users[-1] not in ("root", "0")
    assert "collectstatic" in dockerfile
    assert "--require-hashes -r requirements.lock" in dockerfile
    assert re.search(r'^CMD \["gunicorn", "config.wsgi"', dockerfile, re.M)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "var", ".env"} <= set(ignored)


def test_the_health_check_commands_are_valid_python(compose):
    for name in ("web", "beat"):
        compile(healthcheck_code(compose["services"][name]), f"<{name} healthcheck>", "exec")


@pytest.mark.django_db(transaction=True)
def test_the_web_health_check_passes_against_a_healthy_server(compose, live_server, monkeypatch, settings):
    settings.SECURE_SSL_REDIRECT = True  # as in production: the probe is plain HTTP
    monkeypatch.setenv("ALLOWED_HOSTS", "localhost,reactif.example.com")
    code = healthcheck_code(compose["services"]["web"]).replace("http://127.0.0.1:8000", live_server.url)
    WorkerHeartbeat.objects.create(name="worker", beat_at=timezone.now())
    # The server's first request imports the broker client; the probe's 5 s
    # are for a warm server.
    urllib.request.urlopen(f"{live_server.url}/healthz", timeout=60).close()  # noqa: S310 - loopback
    exec(code, {})  # noqa: S102 - our own compose file's probe; raises if unhealthy
    WorkerHeartbeat.objects.update(beat_at=timezone.now() - timedelta(minutes=5))
    with pytest.raises(Exception, match="503"):
        exec(code, {})  # noqa: S102


def test_gunicorn_keeps_idle_connections_longer_than_the_live_poll():
    """A keep-alive equal to the poll interval closes the connection as the
    next poll is sent on it (dropped requests under load)."""
    import runpy

    from inbox.views import LIVE_POLL_SECONDS

    config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert config["keepalive"] > LIVE_POLL_SECONDS
    # The image starts gunicorn from the directory holding it.
    assert "WORKDIR /app" in (ROOT / "Dockerfile").read_text()
    assert "gunicorn.conf.py" not in (ROOT / ".dockerignore").read_text()


def test_a_gunicorn_worker_freezes_what_it_loaded_out_of_the_garbage_collectors_way():
    import gc
    import runpy

    config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert gc.get_freeze_count() == 0
    try:
        config["post_worker_init"](worker=None)
        assert gc.get_freeze_count() > 1000  # this process's modules, Django's among them
    finally:
        gc.unfreeze()

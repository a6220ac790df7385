"""Shared fixtures. The suite runs against real PostgreSQL and Redis (started
by `make test` via scripts/services.py); without them it fails, never skips.
The only mock is at Meta's edge: a local fake Graph API over real HTTP."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from .environment import RUN_ID


def pytest_configure(config: pytest.Config) -> None:
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")) or not os.environ.get("REDIS_URL"):
        raise pytest.UsageError(
            "The tests need real PostgreSQL and Redis: run `make test`, which starts them "
            "(or export DATABASE_URL=postgres://… and REDIS_URL=redis://…)."
        )


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> None:
    from django.conf import settings

    # A test database of its own for each run, so concurrent runs never collide.
    settings.DATABASES["default"]["TEST"]["NAME"] = f"test_reactif_{RUN_ID}"


@pytest.fixture(scope="session", autouse=True)
def _empty_the_run_queue_at_the_end() -> Iterator[None]:
    # Tasks enqueued by committed test transactions, with no worker to take
    # them, would stay in Redis under this run's queue name forever.
    yield
    from config.celery import app

    try:
        # A connection of its own: a test may have closed the shared pools.
        with app.connection_for_write() as connection:
            app.control.purge(connection=connection)
    except Exception as exc:
        print(f"could not empty the test Celery queue: {exc}")


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:
    # PBKDF2's deliberate slowness costs ~0.3 s per persona; tests hash
    # passwords to sign in, not to resist brute force.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _english_unless_a_test_asks(settings) -> None:
    # The product speaks French to a browser that names no language
    # (LANGUAGE_CODE = "fr"); the suite's assertions read the English source
    # strings, so a request with no cookie or Accept-Language, and code run
    # outside a request, get English here. French is asked for explicitly
    # (cookie or Accept-Language: tests/test_i18n.py and the fr screenshots).
    settings.LANGUAGE_CODE = "en"


@pytest.fixture(autouse=True)
def _clear_cache() -> Iterator[None]:
    """Forget this test's cache keys. Only this run's prefix: cache.clear()
    would FLUSHDB the Redis that parallel runs, and the Celery broker, share."""
    from django.conf import settings
    from django.core.cache import cache

    yield
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
    client = cache._cache.get_client(write=True)  # type: ignore[attr-defined]
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)


# --- Meta's edge ------------------------------------------------------------


@pytest.fixture
def fake_graph(settings) -> Iterator:
    from inbox.fake_graph import FakeGraph, make_server

    graph = FakeGraph()
    server = make_server(graph, 0)
    # A short poll so that shutting it down between tests takes no time.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    settings.META_GRAPH_URL = f"http://127.0.0.1:{server.server_address[1]}/v25.0"
    settings.META_GRAPH_TIMEOUT = 3
    try:
        yield graph
    finally:
        server.shutdown()
        server.server_close()


# --- Personas: alice (admin), bob (agent of the same Page), charlie (outsider)


@pytest.fixture
def page(db):
    from inbox.models import Page

    return Page.objects.create(meta_page_id="1042", name="Boulangerie Dupain", access_token="page-token",
                               timezone="Europe/Paris")


@pytest.fixture
def other_page(db):
    from inbox.models import Page

    return Page.objects.create(meta_page_id="2084", name="Garage Martin", access_token="other-token")


def _user(username: str, first_name: str):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(
        username=username, password=f"{username}-password-2026", first_name=first_name,
        email=f"{username}@example.com",
    )


@pytest.fixture
def alice(page):
    from inbox.models import Membership, Role

    user = _user("alice", "Alice")
    Membership.objects.create(user=user, page=page, role=Role.ADMIN)
    return user


@pytest.fixture
def bob(page):
    from inbox.models import Membership, Role

    user = _user("bob", "Bob")
    Membership.objects.create(user=user, page=page, role=Role.AGENT)
    return user


@pytest.fixture
def charlie(other_page):
    from inbox.models import Membership, Role

    user = _user("charlie", "Charlie")
    Membership.objects.create(user=user, page=other_page, role=Role.ADMIN)
    return user


# --- Deliveries ----------------------------------------------------------------


def at(text: str) -> datetime:
    """'2026-11-20 10:00:00' (UTC) → aware datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def deliver(client, settings):
    """POST a payload to the webhook as Meta does (signed raw bytes), then
    process it the way the worker does. Returns the HTTP response."""
    from inbox import simulation
    from inbox.models import Delivery
    from inbox.services import ingestion

    def _deliver(payload: dict, *, process: bool = True):
        body, signature = simulation.signed(payload, settings.META_APP_SECRET)
        response = client.post("/webhooks/meta", data=body, content_type="application/json",
                               HTTP_X_HUB_SIGNATURE_256=signature)
        assert response.status_code == 200, response.content
        if process:
            for delivery_id in Delivery.objects.filter(processed_at__isnull=True).values_list("pk", flat=True):
                ingestion.process_delivery(delivery_id=delivery_id)
        return response

    return _deliver


# --- Browser (Playwright driving Debian's Chromium; never a downloaded browser)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="session")
def chromium():
    """A headless Chromium for the session. Missing Chromium is a failure."""
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs a loop
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def tab(chromium, live_server):
    """A fresh browser tab (own cookies) on the live server. Any JS error or
    dialog fails the test: customer text must never run."""
    context = chromium.new_context(base_url=live_server.url, locale="fr-FR", timezone_id="Europe/Paris")
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("dialog", lambda dialog: (errors.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    tab.errors = errors  # type: ignore[attr-defined]
    yield tab
    context.close()
    assert errors == [], f"the page raised or opened a dialog: {errors}"


def sign_in(tab, username: str, password: str | None = None) -> None:
    tab.goto("/accounts/login/")
    tab.fill("#id_username", username)
    tab.fill("#id_password", password or f"{username}-password-2026")
    tab.click("button[type=submit]")
    tab.wait_for_url(lambda url: "/accounts/login" not in url)


@pytest.fixture(scope="session", autouse=True)
def _live_server_serves_collected_static():
    """Tests run with DEBUG off and the manifest storage (hashed file names):
    the live server must serve STATIC_ROOT as collected, not the finders."""
    import django.contrib.staticfiles.handlers as handlers
    from django.test.testcases import _StaticFilesHandler

    original = handlers.StaticFilesHandler
    handlers.StaticFilesHandler = _StaticFilesHandler
    yield
    handlers.StaticFilesHandler = original

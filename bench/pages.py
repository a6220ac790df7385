# ruff: noqa: RUF001, RUF003 - the table's × and – are meant
"""The pages an agent waits on, measured at two sizes of history.

Each scenario is measured through its view when the view exists (Django's
test Client, in-process, on the real PostgreSQL) and through its selector
otherwise, so the harness runs before the page is built and adopts the view
as soon as its URL resolves. Beside each figure: the bare SQL time of the
same statements, replayed with psycopg.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.urls import NoReverseMatch, reverse

from . import measure
from .load import Loaded


@dataclass
class Target:
    p95_ms: float
    growth: float | None = 1.3  # 1 M figure ≤ this × the 10 k figure


@dataclass
class Scenario:
    name: str
    title: str
    target: Target
    # Returns (how it was measured, the calls to rotate through).
    build: Callable[[Loaded, Any], tuple[str, list[Callable[[], Any]]]]


def _reverse(name: str, *args: Any) -> str | None:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


def _client(user: Any) -> Any:
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def _get(client: Any, path: str, **headers: Any) -> Callable[[], Any]:
    def call() -> Any:
        response = client.get(path, **headers)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path} answered {response.status_code}")
        if hasattr(response, "streaming_content"):
            b"".join(response.streaming_content)
        return response

    return call


class Context:
    """What the scenarios share for one load: the signed-in admin of every
    Page, an API token, the conversations an agent would open."""

    def __init__(self, loaded: Loaded) -> None:
        from django.contrib.auth import get_user_model

        from inbox.models import ApiToken, Conversation, Page

        User = get_user_model()
        self.loaded = loaded
        self.admin = User.objects.get(pk=loaded.admin_id)
        self.agent = User.objects.get(pk=loaded.agent_ids[0])
        self.pages = list(Page.objects.filter(pk__in=loaded.page_ids).order_by("pk"))
        self.client = _client(self.admin)
        key = ApiToken.generate_key()
        ApiToken.objects.create(user=self.admin, name="bench", prefix=key[:10], key_hash=ApiToken.hash_key(key))
        self.api_key = key
        # What an agent opens: the most urgent open conversations, then a few
        # long-finished ones (history is read too).
        open_ids = list(
            Conversation.objects.filter(page__in=self.pages, status="open")
            .order_by("due_at", "id").values_list("pk", flat=True)[:15]
        )
        old_ids = list(
            Conversation.objects.filter(page__in=self.pages, status="done")
            .order_by("pk").values_list("pk", flat=True)[:5]
        )
        self.conversation_ids = open_ids + old_ids
        # The saved-reply benchmarks run on the Page holding 2,000 of them.
        self.picker_page = self.pages[0]
        self.picker_conversation: Any = (
            Conversation.objects.filter(page=self.picker_page, kind="private", status="open").order_by("pk").first()
            or Conversation.objects.filter(page=self.picker_page, kind="private").order_by("-pk").first()
        )
        self.picker_agent = (
            User.objects.filter(memberships__page=self.picker_page, memberships__role="agent").order_by("pk").first()
            or self.admin
        )


def _queue(loaded: Loaded, ctx: Context) -> tuple[str, list[Callable[[], Any]]]:
    path = _reverse("inbox:queue")
    if path:
        return f"view GET {path}", [_get(ctx.client, path)]
    from inbox import selectors
    from inbox.access import pages_for

    return "selector inbox.selectors.queue", [lambda: selectors.queue(pages=pages_for(ctx.admin))]


def _conversation(loaded: Loaded, ctx: Context) -> tuple[str, list[Callable[[], Any]]]:
    paths = [_reverse("inbox:conversation", pk) for pk in ctx.conversation_ids]
    if paths and all(paths):
        return f"view GET {_reverse('inbox:conversation', 0)} ×{len(paths)} conversations", [
            _get(ctx.client, p) for p in paths if p]
    from inbox import selectors
    from inbox.access import get_conversation_for_user

    def call(pk: int) -> Callable[[], Any]:
        return lambda: selectors.thread(get_conversation_for_user(ctx.admin, pk))

    return "selector inbox.selectors.thread", [call(pk) for pk in ctx.conversation_ids]


def _dashboard(loaded: Loaded, ctx: Context) -> tuple[str, list[Callable[[], Any]]]:
    paths = [_reverse("inbox:dashboard_page", page.pk) for page in ctx.pages]
    if all(paths):
        return f"view GET {_reverse('inbox:dashboard_page', 0)} (7 days, private) ×{len(paths)} Pages", [
            _get(ctx.client, p) for p in paths if p]
    from inbox import dashboard

    def page_dashboard(page: Any) -> Callable[[], Any]:
        def call() -> Any:
            win = dashboard.window(page=page, kind="private", days=7)
            return (win, dashboard.recent_misses(win), dashboard.departures(win), dashboard.agents(win),
                    dashboard.history(page=page, kind="private"))

        return call

    return "selectors inbox.dashboard window+misses+departures+agents+history ×10 Pages", [
        page_dashboard(p) for p in ctx.pages]


def _api(loaded: Loaded, ctx: Context) -> tuple[str, list[Callable[[], Any]]]:
    from django.test import Client

    client = Client()
    calls = []
    for page in ctx.pages:
        path = reverse("inbox:api_responsiveness", args=[page.meta_page_id]) + "?kind=private&days=7"
        calls.append(_get(client, path, HTTP_AUTHORIZATION=f"Bearer {ctx.api_key}"))
    return "view GET /api/v1/pages/<id>/responsiveness?kind=private&days=7 ×10 Pages", calls


PICKER_QUERIES = ["", "hor", "livraison-1", "ret", "commande", "zzz"]


def _picker(loaded: Loaded, ctx: Context) -> tuple[str, list[Callable[[], Any]]]:
    conversation = ctx.picker_conversation
    path = _reverse("templates_app:picker", conversation.pk)
    if path:
        client = _client(ctx.picker_agent)
        return f"view GET {path}?q=… (2,000 saved replies)", [
            _get(client, f"{path}?q={q}", HTTP_HX_REQUEST="true") for q in PICKER_QUERIES]
    from templates_app import selectors

    def call(q: str) -> Callable[[], Any]:
        return lambda: selectors.picker(page=ctx.picker_page, agent=ctx.picker_agent, query=q)

    return "selector templates_app.selectors.picker (2,000 saved replies)", [call(q) for q in PICKER_QUERIES]


def _warnings(loaded: Loaded, ctx: Context) -> tuple[str, list[Callable[[], Any]]]:
    from inbox.models import Message
    from templates_app import services

    conversation = ctx.picker_conversation
    used = (
        Message.objects.filter(page=ctx.picker_page, saved_reply__isnull=False)
        .order_by("-timestamp").values_list("saved_reply_id", flat=True).first()
    )
    drafts = [
        ("Bonjour, nous sommes ouverts de 9 h à 19 h. — Marie", used),
        ("Bonjour Camille, votre commande n° 48213 part demain. Mon numéro : 06 12 34 56 78. — Marie", None),
        ("Merci ! — Boulangerie", used),
    ]

    def call(text: str, saved_reply_id: int | None) -> Callable[[], Any]:
        return lambda: services.composer_warnings(
            conversation=conversation, agent=ctx.picker_agent, text=text, saved_reply_id=saved_reply_id,
            channel="messenger",
        )

    return "function templates_app.services.composer_warnings", [call(t, s) for t, s in drafts]


SCENARIOS = {
    "queue": Scenario("queue", "Queue, first page (all 10 Pages)", Target(15), _queue),
    "conversation": Scenario("conversation", "A conversation", Target(15), _conversation),
    "dashboard": Scenario("dashboard", "Dashboard (7 days)", Target(30), _dashboard),
    "api": Scenario("api", "Responsiveness API (7 days)", Target(30), _api),
    "picker": Scenario("picker", "Saved-reply picker (2,000 on the Page)", Target(50, growth=None), _picker),
    "warnings": Scenario("warnings", "Warnings for one draft", Target(30), _warnings),
}


def run(names: list[str], loaded: Loaded, *, n: int, warmup: int, sql_conn: Any = None) -> dict[str, dict[str, Any]]:
    """Measure each scenario: server p50/p95, bare SQL p50/p95, queries.
    `sql_conn`: the psycopg connection to replay on (default: a new one)."""
    ctx = Context(loaded)
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        scenario = SCENARIOS[name]
        try:
            how, calls = scenario.build(loaded, ctx)
            server = measure.time_calls(calls, n=n, warmup=warmup)
            captured = [measure.capture(call) for call in calls]
            sql = measure.replay_sql(captured, n=n, warmup=warmup, conn=sql_conn)
        except Exception as exc:  # noqa: BLE001 - one broken page must not hide the others
            results[name] = {"title": scenario.title, "error": f"{exc.__class__.__name__}: {exc}"}
            continue
        results[name] = {
            "title": scenario.title,
            "how": how,
            "server": server.as_dict(),
            "sql": sql.as_dict(),
            "queries": max(c.count for c in captured),
            "target_p95_ms": scenario.target.p95_ms,
            "target_growth": scenario.target.growth,
        }
    return results

"""Bulk loader: an agency's Pages with months or years of history, by COPY.

The rows are the ones the services would have written for the same traffic:
contacts, conversations with their denormalised summary (last_message_at,
preview, due_at…), messages with Meta ids and platform timestamps, saved-reply
uses, and response opportunities computed by the DOMAIN.md rules (a burst is
one RO, the first Page reply closes it, "starts a conversation" after 24 h of
silence). tests/test_bench_smoke.py holds the loaded ROs equal to what
`opportunities.rebuild` computes from the loaded messages.

Traffic has a constant daily rate, so a bigger load means a LONGER history,
not a busier week: the 10 k and the 1 M loads share the same last week (the
dashboard's window and the open queue are the same size), and 1 M adds about
two years behind it. The growth ratios the benchmark reports therefore measure
whether a page's cost depends on history, which is what indexes must prevent.

Only Pages, users, memberships and saved replies (thousands of rows) go
through the ORM; everything counted in millions goes through COPY.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.auth.hashers import make_password
from django.db import models

from inbox import simulation

# An agency's ten Pages together receive about this many messages a day
# (customer messages and the Page's replies): ~137 a Page, a busy shop.
MESSAGES_PER_DAY = 1370
PUBLIC_SHARE = 0.2  # one conversation in five is a public comment thread
BENCH_PASSWORD = "bench-reactif-2026"  # noqa: S105 - the benchmark's own throwaway users
# Conversations whose last customer message went unanswered stay open in the
# queue this long (Meta refuses a reply after 7 days); older ones were closed
# by an agent without a reply. About a hundred open conversations result:
# the queue's first page is full and there is a second.
OPEN_FOR = timedelta(days=7)

# The loaded Pages' Meta ids start with this (the bench's other Pages do not).
PAGE_ID_PREFIX = "90000000000"
PAGE_NAMES = [
    "Boulangerie Dupain", "Garage Martin", "Fleurs de Lyon", "Optique Lumière", "Vélo Services",
    "Librairie Le Chapitre", "Pharmacie du Port", "Salon Élégance", "Bio & Vrac", "Pizzeria Napoli",
    "Agence Immobilière Rive", "Atelier Couture", "Chocolaterie Noé", "Fromagerie Alpine",
]
FIRST_NAMES = ["Camille", "Léa", "Hugo", "Chloé", "Lucas", "Manon", "Louis", "Emma", "Jules", "Inès",
               "Gabriel", "Jade", "Arthur", "Alice", "Raphaël", "Lina", "Nathan", "Zoé", "Tom", "Sarah"]
LAST_NAMES = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Petit", "Durand", "Leroy", "Moreau",
              "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "David", "Bertrand", "Roux", "Vincent"]
# The simulator's questions, plus two that carry a number (order, party size).
QUESTIONS = [
    *simulation.QUESTIONS,
    "Ma commande n° {n} est marquée livrée mais je n'ai rien reçu",
    "Est-il possible de réserver pour {n} personnes ce soir ?",
]
COMMENTS = ["Prix ?", "Dispo en 42 ?", "Trop beau 😍", "Toujours pas de réponse à mon message…",
            "C'est livré en combien de temps ?", "Vous ouvrez à quelle heure demain ?"]
REPLIES = [
    "Bonjour {c} ! Oui, nous livrons partout en France sous 48 h. — {a}",
    "Bonjour {c}, je regarde votre commande tout de suite et je reviens vers vous. — {a}",
    "Nous sommes ouverts de 9 h à 19 h du lundi au samedi. Belle journée ! — {a}",
    "Désolée pour ce retard {c}, je relance le transporteur. — {a}",
    "Merci {c} ! Le modèle existe en bleu, taille 36 à 44. — {a}",
    "Avec plaisir ! — {a}",
]
SAVED_REPLY_TOPICS = ["horaires", "livraison", "retour", "echange", "promo", "commande", "taille", "stock",
                      "reservation", "paiement"]


@dataclass(frozen=True)
class Sizes:
    messages: int
    pages: int = 10
    agents: int = 8
    saved_replies_per_page: int = 20
    # The saved-reply picker benchmark (issue 5): this many on the first Page.
    picker_saved_replies: int = 2000
    # One stored webhook delivery per Meta event, as production keeps them.
    deliveries: bool = True
    seed: int = 7
    messages_per_day: int = MESSAGES_PER_DAY

    @property
    def history_days(self) -> float:
        return max(self.messages / self.messages_per_day, 1.0)


@dataclass
class Loaded:
    """What the benchmarks need to know about the data they run on."""

    sizes: Sizes
    now: datetime
    page_ids: list[int]
    meta_page_ids: list[str]
    admin_id: int
    agent_ids: list[int]
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        return sum(self.counts.values()) / self.seconds if self.seconds else 0.0


# ---------------------------------------------------------------------------
# COPY, with every column the generator does not give filled from the model's
# own defaults, so that a new field with a default needs no change here and a
# new NOT NULL field without one fails loudly instead of loading wrong data.


class Table:
    def __init__(self, model: type[models.Model], given: Sequence[str]) -> None:
        self.model = model
        fields = {f.attname: f for f in model._meta.concrete_fields}
        unknown = [name for name in given if name not in fields]
        if unknown:
            raise ValueError(f"{model.__name__} has no columns {unknown}")
        rest = []
        defaults: list[Any] = []
        for name, f in fields.items():
            if name in given or f.primary_key:
                continue  # an id not given comes from its sequence
            if f.has_default():
                value = f.get_default()
                if isinstance(f, models.JSONField):
                    value = json.dumps(value)
            elif f.null:
                value = None
            elif isinstance(f, (models.CharField, models.TextField)):
                value = ""  # what the ORM writes for a blank string field
            else:
                raise ValueError(
                    f"bench/load.py must supply {model.__name__}.{name} (NOT NULL, no default)"
                )
            rest.append(name)
            defaults.append(value)
        self.columns = [fields[name].column for name in given] + [fields[name].column for name in rest]
        self.defaults = tuple(defaults)
        self.rows = 0

    @property
    def sql(self) -> str:
        cols = ", ".join(f'"{c}"' for c in self.columns)
        return f'COPY "{self.model._meta.db_table}" ({cols}) FROM STDIN'


class Copier:
    """One COPY per table, each on its own connection so that they stream at
    once (PostgreSQL parses and indexes on the other core while Python
    generates). Foreign keys are not checked during the load (replica role):
    the generator writes them consistent and the smoke test checks it."""

    def __init__(self, dsn_or_conn: Any, tables: dict[str, Table]) -> None:
        import psycopg

        self.tables = tables
        self.conns: dict[str, Any] = {}
        self.copies: dict[str, Any] = {}
        self._contexts: list[tuple[str, Any]] = []
        for name in tables:
            conn = psycopg.connect(dsn_or_conn) if isinstance(dsn_or_conn, str) else dsn_or_conn
            self.conns[name] = conn
        self._shared = not isinstance(dsn_or_conn, str)
        self.buffers: dict[str, list[tuple[Any, ...]]] = {name: [] for name in tables}

    def write(self, name: str, row: tuple[Any, ...]) -> None:
        table = self.tables[name]
        buffer = self.buffers[name]
        buffer.append(row + table.defaults)
        table.rows += 1
        if not self._shared and len(buffer) >= 20_000:
            self._flush(name)

    def _flush(self, name: str) -> None:
        buffer = self.buffers[name]
        if not buffer:
            return
        if name not in self.copies:
            cursor = self.conns[name].cursor()
            cursor.execute("SET session_replication_role = replica")
            context = cursor.copy(self.tables[name].sql)
            self.copies[name] = context.__enter__()
            self._contexts.append((name, context))
        copy = self.copies[name]
        for row in buffer:
            copy.write_row(row)
        buffer.clear()

    def finish(self) -> None:
        if self._shared:
            # One connection (the smoke test's transaction): one COPY at a time.
            conn = next(iter(self.conns.values()))
            with conn.cursor() as cursor:
                for name, table in self.tables.items():
                    if self.buffers[name]:
                        with cursor.copy(table.sql) as copy:
                            for row in self.buffers[name]:
                                copy.write_row(row)
                        self.buffers[name].clear()
            return
        for name in self.tables:
            self._flush(name)
        for _name, context in self._contexts:
            context.__exit__(None, None, None)
        # Parents before children: the order deferred foreign keys would need
        # were they checked (the replica role skips them during the load).
        for name in self.tables:
            self.conns[name].commit()
            self.conns[name].close()


# ---------------------------------------------------------------------------


def _ms(dt: datetime) -> datetime:
    # Meta's timestamps have millisecond precision.
    return dt.replace(microsecond=dt.microsecond // 1000 * 1000)


def _tables() -> dict[str, Table]:
    from inbox.models import (
        Contact,
        Conversation,
        ConversationEvent,
        Delivery,
        Message,
        ResponseOpportunity,
    )

    return {
        "contact": Table(Contact, ["id", "page_id", "external_id", "name", "first_name", "last_name",
                                   "language", "profile_fetched_at", "created_at"]),
        "conversation": Table(Conversation, [
            "id", "page_id", "kind", "contact_id", "post_id", "root_comment_id", "status", "assignee_id",
            "last_message_at", "last_customer_message_at", "last_page_reply_at", "preview", "due_at",
            "received_while_closed", "created_at", "updated_at"]),
        "message": Table(Message, [
            "id", "page_id", "conversation_id", "mid", "direction", "channel", "timestamp", "author_id", "text",
            "parent_comment_id", "send_status", "messaging_type", "sent_at", "saved_reply_id",
            "saved_reply_similarity", "is_unedited_saved_reply", "created_at"]),
        "opportunity": Table(ResponseOpportunity, [
            "id", "page_id", "conversation_id", "kind", "opened_by_id", "opened_at", "clock_start", "due_at",
            "target_seconds", "closed_by_id", "closed_at", "response_seconds", "responder_id", "status",
            "starts_conversation", "at_risk_marked_at", "missed_marked_at"]),
        "event": Table(ConversationEvent, ["conversation_id", "kind", "at", "actor_id", "data"]),
        "delivery": Table(Delivery, ["body", "body_sha256", "received_at", "processed_at", "attempts",
                                     "event_count"]),
    }


def reset(cursor: Any) -> None:
    """Empty every table the benchmark fills (its own database only)."""
    cursor.execute(
        "TRUNCATE inbox_page, auth_user, inbox_delivery, inbox_workerheartbeat, django_session "
        "RESTART IDENTITY CASCADE"
    )


def _people(sizes: Sizes, rng: random.Random) -> tuple[Any, list[Any], list[Any]]:
    from django.contrib.auth import get_user_model

    from inbox.models import Membership, Page, Role

    User = get_user_model()
    password = make_password(BENCH_PASSWORD)  # hashed once: PBKDF2 is slow on purpose
    pages = [
        Page(meta_page_id=f"{PAGE_ID_PREFIX}{i:04d}", name=PAGE_NAMES[i % len(PAGE_NAMES)]
             + ("" if i < len(PAGE_NAMES) else f" {i}"), access_token=f"bench-token-{i}",
             timezone="Europe/Paris")
        for i in range(sizes.pages)
    ]
    Page.objects.bulk_create(pages)
    admin = User.objects.create(username="bench-admin", first_name="Margaux", last_name="Admin",
                                email="bench-admin@example.com", password=password)
    agents = User.objects.bulk_create([
        User(username=f"bench-agent-{i}", first_name=FIRST_NAMES[i % len(FIRST_NAMES)],
             last_name=LAST_NAMES[i % len(LAST_NAMES)], email=f"bench-agent-{i}@example.com", password=password)
        for i in range(sizes.agents)
    ])
    memberships = [Membership(user=admin, page=page, role=Role.ADMIN) for page in pages]
    # Each agent covers a few Pages; every Page has at least two agents.
    for index, page in enumerate(pages):
        team = {agents[index % len(agents)], agents[(index + 1) % len(agents)],
                *rng.sample(agents, k=min(2, len(agents)))}
        memberships += [Membership(user=agent, page=page, role=Role.AGENT) for agent in team]
    Membership.objects.bulk_create(memberships)
    return admin, agents, pages


def _saved_replies(sizes: Sizes, pages: list[Any], admin: Any) -> dict[int, list[int]]:
    from templates_app.models import SavedReply

    rows = []
    for index, page in enumerate(pages):
        count = sizes.picker_saved_replies if index == 0 else sizes.saved_replies_per_page
        for n in range(count):
            topic = SAVED_REPLY_TOPICS[n % len(SAVED_REPLY_TOPICS)]
            rows.append(SavedReply(
                page=page, title=f"{topic.capitalize()} {n}", shortcut=f"{topic}-{n}",
                body=f"Bonjour {{{{ contact.first_name }}}}, {topic} : voici la réponse n° {n}. "
                     "— {{ agent.first_name }}",
                language="fr" if n % 5 else "en", tags=topic, created_by=admin,
            ))
    SavedReply.objects.bulk_create(rows, batch_size=1000)
    by_page: dict[int, list[int]] = {}
    for page_id, pk in SavedReply.objects.values_list("page_id", "pk"):
        by_page.setdefault(page_id, []).append(pk)
    return by_page


def load(sizes: Sizes, *, dsn: str | None = None, now: datetime | None = None) -> Loaded:
    """Empty the benchmark tables and load `sizes` worth of history ending at
    `now`. With no `dsn` the rows go through Django's own connection (the
    smoke test's transaction); with one, through parallel COPY connections."""
    from django.db import connection

    from inbox.models import Membership

    started = time.perf_counter()
    now = _ms(now or datetime.now(UTC))
    rng = random.Random(sizes.seed)  # noqa: S311 - synthetic data
    with connection.cursor() as cursor:
        reset(cursor)
    admin, agents, pages = _people(sizes, rng)
    saved = _saved_replies(sizes, pages, admin)
    team: dict[int, list[int]] = {}
    for page_id, user_id in Membership.objects.filter(role="agent").values_list("page_id", "user_id"):
        team.setdefault(page_id, []).append(user_id)
    first_names = {agent.pk: agent.first_name for agent in agents}

    tables = _tables()
    copier = Copier(dsn if dsn else connection.connection, tables)
    ids = {"contact": 0, "conversation": 0, "message": 0, "opportunity": 0}

    def next_id(name: str) -> int:
        ids[name] += 1
        return ids[name]

    history = timedelta(days=sizes.history_days)
    start_of_history = now - history
    produced = 0
    while produced < sizes.messages:
        page = pages[rng.randrange(len(pages))]
        public = rng.random() < PUBLIC_SHARE
        start = _ms(start_of_history + timedelta(seconds=rng.uniform(0, history.total_seconds())))
        produced += _conversation(
            copier, next_id, rng, now=now, page=page, public=public, start=start,
            agents=team.get(page.pk) or [agents[0].pk], first_names=first_names,
            saved=saved.get(page.pk, []), budget=sizes.messages - produced,
            with_deliveries=sizes.deliveries,
        )
    generated = time.perf_counter()
    copier.finish()
    copied = time.perf_counter()
    _after_load(dsn)
    phases = {"generate_and_stream": generated - started, "finish_copy": copied - generated,
              "vacuum_analyze": time.perf_counter() - copied}
    counts = {name: table.rows for name, table in tables.items()}
    return Loaded(
        sizes=sizes, now=now, page_ids=[p.pk for p in pages], meta_page_ids=[p.meta_page_id for p in pages],
        admin_id=admin.pk, agent_ids=[a.pk for a in agents], counts=counts,
        seconds=time.perf_counter() - started, phases=phases,
    )


def loaded_from_database() -> Loaded:
    """What the last `load` left in the benchmark database, read back: for the
    profiling aids (bench.explain, bench.profile) that run after a bench.
    Its Pages are the loaded ones (not the end-to-end phases' own)."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from inbox.models import Message, Page

    User = get_user_model()
    admin = User.objects.filter(username="bench-admin").first()
    if admin is None:
        raise SystemExit("the benchmark database is empty: run `make bench-quick` (or `make bench`) first")
    pages = list(Page.objects.filter(meta_page_id__startswith=PAGE_ID_PREFIX).order_by("pk"))
    return Loaded(
        sizes=Sizes(messages=Message.objects.count()), now=timezone.now(), admin_id=admin.pk,
        agent_ids=list(User.objects.filter(username__startswith="bench-agent-").order_by("pk")
                       .values_list("pk", flat=True)),
        page_ids=[p.pk for p in pages], meta_page_ids=[p.meta_page_id for p in pages],
    )


def build_rollups(loaded: Loaded) -> float:
    """Daily rollups over the loaded history, as the beat keeps them (so that
    the beat finds nothing to catch up on while the benchmarks run).

    `rollups.rebuild` computes one day at a time (two queries a day, Page and
    kind: minutes for two years of ten Pages); this reads each Page's ROs and
    replies once with `dashboard.raw_tallies` and writes the same rows as
    `rollups.compute` in bulk. The smoke test holds the two equal."""
    started = time.perf_counter()
    try:
        from inbox import dashboard
        from inbox.models import DailyRollup, Page
        from inbox.services import rollups
    except ImportError:
        return 0.0
    for page in Page.objects.filter(pk__in=loaded.page_ids):
        by_kind: dict[str, list[Any]] = {}
        for kind, day in rollups._days_to_compute(page, loaded.now):
            by_kind.setdefault(kind, []).append(day)
        rows = []
        for kind, days in by_kind.items():
            start = rollups.day_bounds(page.timezone, min(days))[0]
            end = rollups.day_bounds(page.timezone, max(days))[1]
            tallies = dashboard.raw_tallies(page=page, kind=kind, ranges=[(start, end)], now=loaded.now)
            for day in days:
                rows.append(rollup_row(page, kind, day, tallies.get(day) or dashboard.DayTally(), loaded.now))
        DailyRollup.objects.bulk_create(rows, batch_size=500)
    return time.perf_counter() - started


def rollup_row(page: Any, kind: str, day: Any, tally: Any, now: datetime) -> Any:
    """The row `rollups.compute` writes for one day (kept in step by the smoke test)."""
    from inbox.models import DailyRollup
    from inbox.services import rollups

    start, end = rollups.day_bounds(page.timezone, day)
    return DailyRollup(
        page=page, kind=kind, day=day, timezone=page.timezone, target_seconds=page.target_seconds(kind),
        starts_at=start, ends_at=end,
        tally={"hours": tally.hours.to_json(), "calendar": tally.calendar.to_json()},
        replies={str(pk): counts for pk, counts in tally.replies.items()},
        settles_at=tally.settles_at if tally.settles_at and tally.settles_at > now else None,
        stale=False, computed_at=now,
    )


def _after_load(dsn: str | None) -> None:
    """Sequences past the ids we chose; fresh statistics and visibility map
    (what autovacuum would have done by the time a real table got this big)."""
    from django.db import connection

    statements = [  # table names from our own list, not from input
        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
        for table in ("inbox_contact", "inbox_conversation", "inbox_message", "inbox_responseopportunity",
                      "inbox_conversationevent", "inbox_delivery")
    ]
    if dsn is None:
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
            cursor.execute("ANALYZE")
        return
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)
        conn.execute("VACUUM (ANALYZE)")


def _conversation(copier: Copier, next_id: Any, rng: random.Random, *, now: datetime, page: Any, public: bool,
                  start: datetime, agents: list[int], first_names: dict[int, str], saved: list[int],
                  budget: int, with_deliveries: bool) -> int:
    """One conversation's rows; returns how many messages it wrote."""
    kind = "public" if public else "private"
    target = page.public_target_seconds if public else page.private_target_seconds
    conversation_id = next_id("conversation")
    contact_id = next_id("contact")
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    external_id = f"{'c' if public else ''}{page.meta_page_id[-4:]}{contact_id:010d}"
    copier.write("contact", (contact_id, page.pk, external_id, f"{first} {last}", first, last,
                             "fr" if rng.random() < 0.85 else "en", start, start))
    post_id = f"{page.meta_page_id}_{rng.randrange(1, 400)}" if public else ""
    root_comment_id = f"{page.meta_page_id}_c{conversation_id}" if public else ""
    assignee = rng.choice(agents) if rng.random() < 0.4 else None

    messages: list[tuple[Any, ...]] = []
    ros: list[tuple[Any, ...]] = []
    t = start
    last_customer: datetime | None = None
    last_reply: datetime | None = None
    last_text = ""
    open_ro: tuple[datetime, int] | None = None  # (due_at, id) of the unanswered RO
    # About ten messages a conversation: 100 k conversations for 1 M messages.
    rounds = 1 + int(rng.expovariate(1 / 3.15))
    written = 0
    for round_index in range(rounds):
        if written >= budget or t > now:
            break
        # The customer: one message, or a burst of a few within a minute.
        burst = rng.choice((1, 1, 1, 2, 2, 3))
        opening: tuple[int, datetime] | None = None
        for b in range(burst):
            if t > now or written >= budget:
                break
            message_id = next_id("message")
            text = (rng.choice(COMMENTS) if public else rng.choice(QUESTIONS)).replace(
                "{n}", str(rng.randrange(10_000, 99_999)))
            if public:
                mid = root_comment_id if round_index == 0 and b == 0 else f"{page.meta_page_id}_c{message_id}m"
                parent = post_id if mid == root_comment_id else root_comment_id
            else:
                mid, parent = f"m_{page.meta_page_id[-4:]}{message_id:012d}", ""
            messages.append((message_id, mid, "in", t, None, text, parent, "", "", None, None, False))
            if opening is None:
                opening = (message_id, t)
            last_customer, last_text = t, text
            written += 1
            t = _ms(t + timedelta(seconds=rng.uniform(3, 40)))
        if opening is None:
            break
        opened_id, opened_at = opening
        starts = round_index == 0 or (opened_at - previous_before(messages, opened_id)) >= timedelta(hours=24)
        # The Page's answer: mostly within the target, sometimes late, now and
        # then never (an agent closed the conversation without replying).
        # About 89 % on time: a team near its 90 % target, the interesting case.
        scale = target * (0.35 if rng.random() < 0.92 else 3.0)
        delay = timedelta(seconds=min(rng.lognormvariate(math.log(scale), 0.6), 5 * 86400))
        reply_at = _ms(max(t, opened_at + delay))
        answered = rng.random() > 0.03 and reply_at <= now and written < budget
        due_at = opened_at + timedelta(seconds=target)
        ro_id = next_id("opportunity")
        if answered:
            author = rng.choice(agents)
            closed_id = None
            for r in range(rng.choice((1, 1, 2))):
                if reply_at > now or written >= budget:
                    break
                message_id = next_id("message")
                text = rng.choice(REPLIES).format(c=first, a=first_names.get(author, "Marie"))
                use = saved and rng.random() < 0.3
                mid = f"{page.meta_page_id}_c{message_id}r" if public else f"m_{page.meta_page_id[-4:]}{message_id:012d}"
                messages.append((
                    message_id, mid, "out", reply_at, author, text, root_comment_id if public else "",
                    "sent" if rng.random() < 0.8 else "external", "" if public else "RESPONSE",
                    rng.choice(saved) if use else None, round(rng.uniform(0.5, 1.0), 3) if use else None,
                    bool(use) and rng.random() < 0.5,
                ))
                closed_id = closed_id or message_id
                if r == 0:
                    closed_at = reply_at
                last_reply, last_text = reply_at, text
                written += 1
                reply_at = _ms(reply_at + timedelta(seconds=rng.uniform(20, 120)))
            response = closed_at - opened_at
            status = "on_time" if response <= timedelta(seconds=target) else "missed"
            ros.append((ro_id, kind, opened_id, opened_at, due_at, target, closed_id, closed_at,
                        int(response.total_seconds()), author, status, starts,
                        due_at - timedelta(seconds=page.at_risk_seconds)
                        if closed_at >= due_at - timedelta(seconds=page.at_risk_seconds) else None,
                        due_at if status == "missed" else None))
            t = reply_at
        else:
            status = "missed" if now > due_at else "pending"
            at_risk = due_at - timedelta(seconds=page.at_risk_seconds)
            ros.append((ro_id, kind, opened_id, opened_at, due_at, target, None, None, None, None, status, starts,
                        at_risk if at_risk <= now else None, due_at if status == "missed" else None))
            open_ro = (due_at, ro_id)
            break
        # The next exchange: minutes later, or days.
        gap = rng.uniform(60, 900) if rng.random() < 0.6 else rng.uniform(3600, 3 * 86400)
        t = _ms(t + timedelta(seconds=gap))

    for m in messages:
        (message_id, mid, direction, at, author, text, parent, send_status, messaging_type, saved_reply,
         similarity, unedited) = m
        copier.write("message", (
            message_id, page.pk, conversation_id, mid, direction, "comment" if public else "messenger", at, author,
            text, parent, send_status, messaging_type, at if direction == "out" else None, saved_reply,
            similarity, unedited, at,
        ))
        if with_deliveries:
            body = _delivery_body(page.meta_page_id, external_id, m, public, post_id)
            copier.write("delivery", (body, hashlib.sha256(body).hexdigest(), at, at, 1, 1))
    for ro in ros:
        (ro_id, kind_, opened_id, opened_at, due_at, target_, closed_id, closed_at, response_seconds, responder,
         status, starts, at_risk_marked, missed_marked) = ro
        copier.write("opportunity", (
            ro_id, page.pk, conversation_id, kind_, opened_id, opened_at, opened_at, due_at, target_, closed_id,
            closed_at, response_seconds, responder, status, starts, at_risk_marked, missed_marked,
        ))
    last_at = max(m[3] for m in messages)
    recent = now - last_at < OPEN_FOR
    if open_ro is not None:
        status = "open" if recent else "done"
    elif recent and rng.random() < 0.15:
        status = "pending"
    else:
        status = "spam" if rng.random() < 0.01 else "done"
    copier.write("conversation", (
        conversation_id, page.pk, kind, contact_id, post_id, root_comment_id, status, assignee, last_at,
        last_customer, last_reply, last_text[:140], open_ro[0] if open_ro else None, False, start, last_at,
    ))
    if assignee is not None:
        copier.write("event", (conversation_id, "assigned", start, assignee, json.dumps({"assignee": assignee})))
    return len(messages)


def previous_before(messages: list[tuple[Any, ...]], message_id: int) -> datetime:
    """Timestamp of the message written just before `message_id` (the rules'
    "previous event" for the 24 h silence test)."""
    for index, m in enumerate(messages):
        if m[0] == message_id:
            return messages[index - 1][3] if index else m[3] - timedelta(days=365)
    raise ValueError(message_id)


def _delivery_body(meta_page_id: str, external_id: str, m: tuple[Any, ...], public: bool, post_id: str) -> bytes:
    _message_id, mid, direction, at, _author, text, parent, *_ = m
    ms = int(at.timestamp() * 1000)
    if public:
        value = {"item": "comment", "verb": "add", "comment_id": mid, "post_id": post_id, "parent_id": parent,
                 "from": {"id": meta_page_id if direction == "out" else external_id, "name": ""},
                 "message": text, "created_time": ms // 1000}
        payload = {"object": "page", "entry": [{"id": meta_page_id, "time": ms, "changes": [
            {"field": "feed", "value": value}]}]}
    else:
        body: dict[str, Any] = {"mid": mid, "text": text}
        sender, recipient = external_id, meta_page_id
        if direction == "out":
            body = {"is_echo": True, "app_id": "424242", **body}
            sender, recipient = meta_page_id, external_id
        payload = {"object": "page", "entry": [{"id": meta_page_id, "time": ms, "messaging": [
            {"sender": {"id": sender}, "recipient": {"id": recipient}, "timestamp": ms, "message": body}]}]}
    return json.dumps(payload, ensure_ascii=True, separators=(",", ":")).encode()


def iter_contacts(page_id: int, *, kind: str = "private", limit: int = 100) -> Iterator[tuple[int, str]]:
    """(conversation id, contact external id) of loaded conversations of a
    Page, for benchmarks that need customers who already exist."""
    from inbox.models import Conversation

    yield from Conversation.objects.filter(page_id=page_id, kind=kind, contact__isnull=False).values_list(
        "pk", "contact__external_id")[:limit]

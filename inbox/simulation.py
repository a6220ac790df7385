"""Realistic Meta deliveries, built the way Meta builds them (META.md §2):
used by `simulate`, the demo, the tests, the benchmarks and the chaos runs."""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterator
from typing import Any

from .meta_events import sign

_ids = itertools.count(1)

QUESTIONS = [
    "Bonjour, vous livrez à Lyon ?",
    "Ma commande n'est toujours pas arrivée…",
    "Quels sont vos horaires samedi ?",
    "Est-ce que le modèle existe en bleu ?",
    "Bonjour ! Je voudrais échanger une taille 38 contre une 40.",
    "Hello, do you ship to Belgium?",
    "Merci pour votre réponse rapide 🙏",
    "Le code promo ne marche pas",
    "Vous êtes ouverts le dimanche ?",
    "J'ai reçu un article abîmé, que faire ?",
]
COMMENTS = [
    "Prix ?",
    "Dispo en 42 ?",
    "Trop beau 😍",
    "Toujours pas de réponse à mon message…",
    "C'est livré en combien de temps ?",
]
NAMES = ["Camille Martin", "Léa Bernard", "Hugo Dubois", "Chloé Thomas", "Lucas Robert", "Manon Petit"]


def ms(seconds: float) -> int:
    return int(seconds * 1000)


def envelope(page_id: str, *, messaging: list[dict[str, Any]] | None = None,
             changes: list[dict[str, Any]] | None = None, standby: list[dict[str, Any]] | None = None,
             time_ms: int = 0) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": page_id, "time": time_ms}
    if messaging is not None:
        entry["messaging"] = messaging
    if changes is not None:
        entry["changes"] = changes
    if standby is not None:
        entry["standby"] = standby
    return {"object": "page", "entry": [entry]}


def message(page_id: str, psid: str, at: float, text: str, *, mid: str | None = None,
            attachments: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"mid": mid or f"m_sim_{next(_ids)}_{random.getrandbits(32):x}", "text": text}  # nosec B311 - fake ids for simulated traffic
    if attachments:
        body["attachments"] = attachments
    return {"sender": {"id": psid}, "recipient": {"id": page_id}, "timestamp": ms(at), "message": body}


def echo(page_id: str, psid: str, at: float, text: str, *, mid: str | None = None,
         app_id: str = "1517776481860111", metadata: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"is_echo": True, "app_id": app_id,
                            "mid": mid or f"m_echo_{next(_ids)}_{random.getrandbits(32):x}", "text": text}  # nosec B311 - fake ids for simulated traffic
    if metadata is not None:
        body["metadata"] = metadata
    return {"sender": {"id": page_id}, "recipient": {"id": psid}, "timestamp": ms(at), "message": body}


def read(page_id: str, psid: str, at: float, watermark: float) -> dict[str, Any]:
    return {"sender": {"id": psid}, "recipient": {"id": page_id}, "timestamp": ms(at),
            "read": {"watermark": ms(watermark)}}


def comment(page_id: str, *, at: float, text: str, from_id: str, from_name: str, post_id: str,
            comment_id: str | None = None, parent_id: str | None = None, verb: str = "add") -> dict[str, Any]:
    return {"field": "feed", "value": {
        "item": "comment", "verb": verb,
        "comment_id": comment_id or f"{post_id.split('_')[0]}_{next(_ids)}{random.getrandbits(20)}",  # nosec B311 - fake ids for simulated traffic
        "post_id": post_id, "parent_id": parent_id or post_id,
        "from": {"id": from_id, "name": from_name}, "message": text, "created_time": int(at)}}


def encode(payload: dict[str, Any]) -> bytes:
    # Meta escapes non-ASCII as \uXXXX in the bytes it signs.
    return json.dumps(payload, ensure_ascii=True, separators=(",", ":")).encode()


def signed(payload: dict[str, Any], secret: str) -> tuple[bytes, str]:
    body = encode(payload)
    return body, sign(body, secret)


def traffic(page_ids: list[str], *, start: float, contacts_per_page: int = 50,
            seed: int | None = None) -> Iterator[dict[str, Any]]:
    """An endless, plausible stream: customers writing (sometimes in bursts),
    public comments under posts, reads."""
    rng = random.Random(seed)  # noqa: S311 - simulation, not security
    t = start
    while True:
        page_id = rng.choice(page_ids)
        psid = f"{page_id[-4:]}{rng.randrange(contacts_per_page):06d}"
        t += rng.uniform(0.01, 0.5)
        roll = rng.random()
        if roll < 0.7:
            items = [message(page_id, psid, t, rng.choice(QUESTIONS))]
            if rng.random() < 0.2:  # a burst: a second message right after
                items.append(message(page_id, psid, t + 2, rng.choice(QUESTIONS)))
            yield envelope(page_id, messaging=items, time_ms=ms(t))
        elif roll < 0.9:
            post_id = f"{page_id}_{rng.randrange(1, 6)}"
            name = rng.choice(NAMES)
            yield envelope(page_id, changes=[comment(page_id, at=t, text=rng.choice(COMMENTS),
                                                     from_id=f"c{psid}", from_name=name, post_id=post_id)],
                           time_ms=int(t))
        else:
            yield envelope(page_id, messaging=[read(page_id, psid, t, t - 1)], time_ms=ms(t))

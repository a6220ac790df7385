"""Who else is on a conversation right now ("Marie is replying"), so that two
agents do not both answer the same customer.

Kept in the cache only (Redis in production), one short-lived key per agent
and state, never in the database: presence is worthless a few seconds later,
and the live poll must read it without a query. The poll refreshes "viewing"
every ~2 s; the composer refreshes "typing" every ~3 s while the agent types.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.core.cache import cache

# A little over two polling intervals, so one slow poll does not make an
# agent blink out of the other agents' screens.
VIEWING_TTL = 7
# The composer pings every 3 s while the agent types; an agent who stopped
# typing for a few seconds is no longer "replying".
TYPING_TTL = 6

VIEWING = "viewing"
TYPING = "typing"


@dataclass(frozen=True)
class Presence:
    user_id: int
    name: str
    state: str  # "typing" or "viewing"

    @property
    def is_typing(self) -> bool:
        return self.state == TYPING


def _key(state: str, conversation_id: int, user_id: int) -> str:
    return f"presence:{state}:{conversation_id}:{user_id}"


def viewing(*, conversation_id: int, user_id: int, name: str) -> None:
    cache.set(_key(VIEWING, conversation_id, user_id), name, VIEWING_TTL)


def typing(*, conversation_id: int, user_id: int, name: str) -> None:
    cache.set_many(
        {_key(TYPING, conversation_id, user_id): name, _key(VIEWING, conversation_id, user_id): name},
        TYPING_TTL,
    )


def stopped_typing(*, conversation_id: int, user_id: int) -> None:
    cache.delete(_key(TYPING, conversation_id, user_id))


def others(*, conversation_id: int, member_ids: Iterable[int], user_id: int) -> list[Presence]:
    """The other members on this conversation, those typing first. One cache
    round trip whatever the size of the team."""
    candidates = [pk for pk in member_ids if pk != user_id]
    keys = {
        _key(state, conversation_id, pk): (pk, state) for pk in candidates for state in (TYPING, VIEWING)
    }
    found = cache.get_many(list(keys))
    by_user: dict[int, Presence] = {}
    for key, name in found.items():
        pk, state = keys[key]
        if pk not in by_user or state == TYPING:
            by_user[pk] = Presence(user_id=pk, name=str(name), state=state)
    return sorted(by_user.values(), key=lambda p: (not p.is_typing, p.name.casefold()))


def signature(presences: Iterable[Presence]) -> str:
    """A short fingerprint of who is there doing what: the browser sends it
    back, and the poll answers 204 while it has not changed."""
    return ".".join(f"{p.user_id}{p.state[0]}" for p in sorted(presences, key=lambda p: p.user_id)) or "-"

"""Live updates at next to no cost: a version number per Page and per
conversation, kept in the cache (Redis in production). Services bump them on
commit; browsers poll a tiny endpoint with the versions they have, which
answers 204 with no database query when nothing changed."""

from __future__ import annotations

from django.core.cache import cache

# Versions only need to outlive a browser's polling interval; a lost version
# just makes clients refresh once.
TIMEOUT = 24 * 3600


def _key(kind: str, pk: int) -> str:
    return f"live:{kind}:{pk}"


def bump(*, page_id: int, conversation_id: int | None = None) -> None:
    keys = [_key("page", page_id)] + ([_key("conversation", conversation_id)] if conversation_id else [])
    for key in keys:
        try:
            cache.incr(key)
        except ValueError:
            cache.set(key, 1, TIMEOUT)


def versions(*, page_ids: list[int], conversation_id: int | None = None) -> dict[str, int]:
    keys = [_key("page", pk) for pk in page_ids]
    if conversation_id:
        keys.append(_key("conversation", conversation_id))
    found = cache.get_many(keys)
    return {key: int(found.get(key, 0)) for key in keys}

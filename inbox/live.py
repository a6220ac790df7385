"""Live updates at next to no cost: a version number per Page and per
conversation, kept in the cache (Redis in production). Services bump them on
commit; browsers poll a tiny endpoint with the versions they have, which
answers 204 with no database query when nothing changed."""

from __future__ import annotations

import logging

from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache

log = logging.getLogger(__name__)

# Versions only need to outlive a browser's polling interval; a lost version
# just makes clients refresh once.
TIMEOUT = 24 * 3600


def _key(kind: str, pk: int) -> str:
    return f"live:{kind}:{pk}"


def bump(*, page_id: int, conversation_id: int | None = None) -> None:
    _bump([_key("page", page_id)] + ([_key("conversation", conversation_id)] if conversation_id else []))


def bump_many(changed: set[tuple[int, int]]) -> None:
    """`bump` for many (page_id, conversation_id): each version once, in one
    round trip (the worker's batches)."""
    if not changed:
        return
    page_ids = sorted({page_id for page_id, _conversation_id in changed})
    conversation_ids = sorted({conversation_id for _page_id, conversation_id in changed})
    _bump([_key("page", pk) for pk in page_ids] + [_key("conversation", pk) for pk in conversation_ids])


def _bump(keys: list[str]) -> None:
    try:
        _increment(keys)
    except Exception:  # Redis down: see below
        # Called on commit: raising here would turn a reply that is saved and
        # queued into an error page, and the agent would send it twice (chaos
        # scenario "redis"). Clients just refresh a little later.
        log.warning("Live versions not bumped (cache unavailable)", exc_info=True)


def _increment(keys: list[str]) -> None:
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        # Every processed message bumps two versions: one round trip for
        # both, where cache.incr takes two per key (EXISTS, then INCR). INCR
        # starts a missing key at 1, as cache.set(key, 1) did, and stores
        # what the cache reads back as that int. The TTL is renewed with each
        # bump.
        client = backend._cache.get_client(write=True)
        with client.pipeline(transaction=False) as pipe:
            for key in keys:
                full_key = backend.make_and_validate_key(key)
                pipe.incr(full_key)
                pipe.expire(full_key, TIMEOUT)
            pipe.execute()
        return
    for key in keys:  # the embedded mode's file cache
        try:
            cache.incr(key)
        except ValueError:
            cache.set(key, 1, TIMEOUT)


def versions(*, page_ids: list[int], conversation_id: int | None = None) -> dict[str, int]:
    keys = [_key("page", pk) for pk in page_ids]
    if conversation_id:
        keys.append(_key("conversation", conversation_id))
    try:
        found = cache.get_many(keys)
    except Exception:  # Redis down: polling must not turn into errors
        log.warning("Live versions unavailable (cache unavailable)", exc_info=True)
        found = {}
    return {key: int(found.get(key, 0)) for key in keys}

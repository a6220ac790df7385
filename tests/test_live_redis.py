"""Live versions on the real Redis, as production keeps them (tests/test_live.py
uses a cache of its own for what pages read)."""

from __future__ import annotations

from django.core.cache import cache

from inbox import live


def test_a_bump_increments_both_versions_in_one_go_and_keeps_them_a_day():
    cache.delete_many(["live:page:3", "live:conversation:8"])
    cache.set("live:conversation:8", 5, 60)  # a version set before: counted on from there
    live.bump(page_id=3, conversation_id=8)
    live.bump(page_id=3)
    assert live.versions(page_ids=[3], conversation_id=8) == {"live:page:3": 2, "live:conversation:8": 6}
    client = cache._cache.get_client()
    for key in ("live:page:3", "live:conversation:8"):
        assert live.TIMEOUT - 60 < client.ttl(cache.make_key(key)) <= live.TIMEOUT


def test_a_bump_with_redis_down_is_logged_not_raised(settings, caplog):
    settings.CACHES = {"default": {"BACKEND": "config.redis_cache.ReusingRedisCache",
                                   "LOCATION": "redis://127.0.0.1:1/0"}}  # nothing listens on port 1
    live.bump(page_id=3, conversation_id=8)
    assert "Live versions not bumped" in caplog.text


def test_the_cache_keeps_one_redis_client_and_survives_a_redis_restart_of_its_connections():
    """config/redis_cache.py: Django would build a redis-py client per call."""
    client = cache._cache.get_client(write=True)
    assert cache._cache.get_client() is client
    cache.set("reuse-check", 41)
    # Every pooled connection dropped, as a Redis restart does: the kept
    # client reconnects on its next command.
    client.connection_pool.disconnect()
    assert cache.incr("reuse-check") == 42
    assert cache._cache.get_client(write=True) is client

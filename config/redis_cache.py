"""Django's Redis cache, without a new redis-py client for every call.

`RedisCacheClient.get_client` builds a `redis.Redis` around the (kept)
connection pool on each cache operation, and redis-py's constructor
registers its ~170 response callbacks every time: ~0.3 ms of CPU per cache
call, more than the round trip to Redis. It was half of the webhook's CPU
(the flag that wakes the worker), and every signed-in page pays it for its
session and live versions. A redis-py client holds nothing but its pool and
is safe to share between threads; its pool reconnects after a fork. So one
client per pool is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class _ClientPerPool(RedisCacheClient):
    # RedisCacheClient's own attributes (private: not in django-stubs).
    _client: Any
    _pools: dict[int, Any]
    _pool_class: Any
    _pool_options: dict[str, Any]
    _servers: list[str]
    _get_connection_pool_index: Callable[[bool], int]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            if index not in self._pools:  # as RedisCacheClient._get_connection_pool, for this index
                self._pools[index] = self._pool_class.from_url(self._servers[index], **self._pool_options)
            client = self._clients[index] = self._client(connection_pool=self._pools[index])
        return client


class ReusingRedisCache(RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = _ClientPerPool

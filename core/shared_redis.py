"""One Redis/Valkey connection pool per process, shared by the cache and every direct use.

Django's Redis cache builds a client, and with it a connection pool, per cache instance, and cache instances live
per async context: under ASGI every request opened (and handshook, and later dropped) a connection of its own. The
cache takes this pool class (``CACHES[...]["OPTIONS"]["pool_class"]``), so all of them share one pool per URL.
redis-py's pools are thread-safe and reset themselves in a forked child.
"""

import threading

import redis
from django.conf import settings

_pools: dict[str, redis.ConnectionPool] = {}
_lock = threading.Lock()


class SharedConnectionPool(redis.ConnectionPool):
    @classmethod
    def from_url(cls, url: str, **options) -> redis.ConnectionPool:
        with _lock:
            pool = _pools.get(url)
            if pool is None:
                pool = _pools[url] = redis.ConnectionPool.from_url(url, **options)
            return pool


def client() -> redis.Redis:
    """A client on the process's pool for ``REDIS_URL`` (cheap: no connection of its own)."""
    return redis.Redis(connection_pool=SharedConnectionPool.from_url(settings.REDIS_URL))

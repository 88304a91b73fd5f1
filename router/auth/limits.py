"""Failed-authentication limit: per client address and per key prefix, a Redis counter that expires
with its window. Past the limit the caller gets 429 with Retry-After until the window ends, whatever
it sends (so a correct key cannot be found by trying many)."""

from __future__ import annotations

from redis.asyncio import Redis

from contracts.queue import Keys
from router import errors


class FailureLimiter:
    def __init__(self, redis: Redis, keys: Keys, *, limit: int, window_seconds: int) -> None:
        self._redis = redis
        self._keys = keys
        self._limit = limit
        self._window = window_seconds

    def _counters(self, client: str | None, prefix: str | None) -> list[str]:
        found = []
        if client:
            found.append(self._keys.auth_failures("client", client))
        if prefix:
            found.append(self._keys.auth_failures("key", prefix))
        return found

    async def check(self, client: str | None, prefix: str | None) -> None:
        """Raise RateLimitedError when the client or the key prefix is over the limit."""
        for counter in self._counters(client, prefix):
            count = await self._redis.get(counter)
            if count is not None and int(count) >= self._limit:
                ttl = await self._redis.ttl(counter)
                raise errors.RateLimitedError(retry_after_seconds=max(int(ttl), 1))

    async def record_failure(self, client: str | None, prefix: str | None) -> None:
        for counter in self._counters(client, prefix):
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(counter)
                pipe.expire(counter, self._window, nx=True)
                await pipe.execute()

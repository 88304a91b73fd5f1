"""One Redis pub/sub connection per router process, shared by every open stream and waiter.

`subscribe(channel)` returns only after Redis confirmed the subscription, so a caller that subscribes
and then reads history (a Redis Stream, a database row) cannot miss a message published in between.
Messages fan out to local asyncio queues; a slow consumer only grows its own queue.

`deliver_local` hands a message to this process's subscribers that asked for it (`local=True`) without
the Redis round trip, ahead of the same message arriving from Redis. Only subscribers that act on a
single message and ignore a repeat of it may ask (a waiter for a run's done frame); a stream relay
must not, since a local message may overtake frames still on their way from Redis. A local
subscriber may also start without Redis (`listen=False`) and `listen` later, once it knows the
message may come from another process: a waiter for a run this process executes itself needs no
Redis subscription at all.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

RECONNECT_DELAY_SECONDS = 0.2


class Subscription:
    """Messages of the channels one consumer subscribed to, in arrival order."""

    def __init__(self, channels: tuple[bytes, ...], *, local: bool = False) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.channels = channels
        self.local = local
        self.listening = False
        """Whether this subscriber asked for the channels' messages from Redis (Broker.listen)."""

    async def get(self) -> bytes:
        return await self.queue.get()


class Broker:
    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self._redis = redis
        self._pubsub: PubSub = redis.pubsub()
        self._home = f"{prefix}:broker:{uuid.uuid4().hex}"
        self._subs: dict[bytes, set[Subscription]] = {}
        """Who gets a channel's messages."""
        self._listeners: dict[bytes, set[Subscription]] = {}
        """Who needs a channel's messages from Redis: it is subscribed there while this is not empty."""
        self._confirm: dict[bytes, list[asyncio.Future[None]]] = {}
        self._lock = asyncio.Lock()
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._subscribe_raw(self._home.encode(), wait=False)
        self._reader = asyncio.create_task(self._read(), name="broker-reader")
        # The home channel's confirmation proves the reader is live.

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with suppress(asyncio.CancelledError):
                await self._reader
        await self._pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated

    async def _subscribe_raw(self, channel: bytes, *, wait: bool) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._confirm.setdefault(channel, []).append(fut)
        await self._pubsub.subscribe(channel)
        if wait:
            await fut
        else:
            self._confirm[channel].remove(fut)

    @asynccontextmanager
    async def subscribe(
        self, *channels: str, local: bool = False, listen: bool = True
    ) -> AsyncIterator[Subscription]:
        """Messages of `channels` from here on; with `listen` (the default) Redis has confirmed the
        subscription on entry. `listen=False` (only with `local`): messages delivered locally only,
        until `listen(sub)`."""
        if not listen and not local:
            raise ValueError("only a local subscriber can start without Redis")
        sub = Subscription(tuple(c.encode() for c in channels), local=local)
        for key in sub.channels:
            self._subs.setdefault(key, set()).add(sub)
        try:
            if listen:
                await self.listen(sub)
            yield sub
        finally:
            _remove(self._subs, sub)
            await self._unlisten(sub)

    async def listen(self, sub: Subscription) -> None:
        """Have Redis deliver `sub`'s channels too; returns once Redis confirmed (at once if `sub`
        listens already)."""
        if sub.listening:
            return
        sub.listening = True
        new: list[bytes] = []
        pending: list[asyncio.Future[None]] = []
        async with self._lock:
            for key in sub.channels:
                listeners = self._listeners.setdefault(key, set())
                if not listeners:
                    new.append(key)
                elif key in self._confirm:  # somebody else's SUBSCRIBE is not confirmed yet
                    fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                    self._confirm[key].append(fut)
                    pending.append(fut)
                listeners.add(sub)
        await asyncio.gather(*(self._subscribe_raw(k, wait=True) for k in new), *pending)

    async def _unlisten(self, sub: Subscription) -> None:
        if not sub.listening:
            return
        async with self._lock:
            gone = _remove(self._listeners, sub)
        if gone:
            with suppress(RedisConnectionError, RedisTimeoutError):
                await self._pubsub.unsubscribe(*gone)

    def deliver_local(self, channel: str, data: bytes) -> int:
        """Hand `data` to this process's local subscribers of `channel`; how many there were."""
        delivered = 0
        for sub in self._subs.get(channel.encode(), ()):
            if sub.local:
                sub.queue.put_nowait(data)
                delivered += 1
        return delivered

    def _deliver(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        channel = message["channel"]
        if kind == "message":
            for sub in self._subs.get(channel, ()):
                sub.queue.put_nowait(message["data"])
        elif kind == "subscribe":
            for fut in self._confirm.pop(channel, []):
                if not fut.done():
                    fut.set_result(None)

    async def _read(self) -> None:
        while True:
            try:
                message = await self._pubsub.get_message(timeout=None)
            except (RedisConnectionError, RedisTimeoutError) as exc:
                log.warning("pub/sub connection lost (%s); reconnecting", exc)
                await asyncio.sleep(RECONNECT_DELAY_SECONDS)
                continue
            if message is not None:
                self._deliver(message)


def _remove(table: dict[bytes, set[Subscription]], sub: Subscription) -> list[bytes]:
    """Take `sub` out of its channels' entries in `table`; the channels left with nobody."""
    gone = []
    for key in sub.channels:
        current = table.get(key)
        if current is not None:
            current.discard(sub)
            if not current:
                del table[key]
                gone.append(key)
    return gone

"""Publishing one run's stream frames to Redis, in order, batched, flushed before the outcome.

Every batch is one EVALSHA of `_PUBLISH_LUA`. Non-resumable runs: each frame is PUBLISHed
(`contracts.frames.Frame.encode_pubsub`) on the run's channel without an id, and on the thread's
channel with an id minted in the thread's Redis Stream (XADD + XDEL: the id advances that stream's
sequence, the frame is not kept) when anybody listens there, since thread streams always carry ids.
Resumable runs: each frame is also XADDed to the run's and the thread's Redis Stream (fields `e`,
`d`) and PUBLISHed carrying that stream's entry id, and both TTLs are refreshed — so a live frame
and its stored copy always agree, ids are real strictly increasing stream ids, and a reader that
replays the stream and then follows the channel sees every frame once. Run-channel frames carry
run-stream ids, thread-channel frames thread-stream ids (each is the Last-Event-ID of its own
join endpoint).

Frames are queued without awaiting Redis; one flusher task sends them in order, as batches of
whatever accumulated during the previous round trip or within `linger_seconds` of the first
queued frame (each round trip costs more CPU than the frames in it). `aclose` sends the rest at
once, so the end of a run never waits for the linger.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import NoScriptError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from contracts.queue import Keys

logger = logging.getLogger(__name__)

MAX_BATCH = 256  # frames per round trip; bounds how long one script blocks Redis

# One script for every batch, so a batch is one command (cheaper in redis-py than a pipeline).
# KEYS: run stream, thread stream[, cancel key]. ARGV: stream TTL, resumable (1/0), run channel,
# thread channel, then event/data pairs. The pub/sub payload is Frame.encode_pubsub():
# "<id>\n<event>\n<data>". Returns the cancel key's value when one is given.
_PUBLISH_LUA = """
local ttl = tonumber(ARGV[1])
local resumable = ARGV[2] == '1'
local listened = nil
local minted = false
for i = 5, #ARGV, 2 do
  local run_id, thread_id = '', ''
  if resumable then
    run_id = redis.call('XADD', KEYS[1], '*', 'e', ARGV[i], 'd', ARGV[i + 1])
    thread_id = redis.call('XADD', KEYS[2], '*', 'e', ARGV[i], 'd', ARGV[i + 1])
  else
    if listened == nil then
      listened = redis.call('PUBSUB', 'NUMSUB', ARGV[4])[2] > 0
    end
    if listened then
      thread_id = redis.call('XADD', KEYS[2], '*', 'e', '', 'd', '')
      redis.call('XDEL', KEYS[2], thread_id)
      minted = true
    end
  end
  redis.call('PUBLISH', ARGV[3], run_id .. '\\n' .. ARGV[i] .. '\\n' .. ARGV[i + 1])
  redis.call('PUBLISH', ARGV[4], thread_id .. '\\n' .. ARGV[i] .. '\\n' .. ARGV[i + 1])
end
if resumable then
  redis.call('EXPIRE', KEYS[1], ttl)
end
if resumable or minted then
  redis.call('EXPIRE', KEYS[2], ttl)
end
if KEYS[3] then
  return redis.call('GET', KEYS[3])
end
return false
"""
_PUBLISH_SHA = hashlib.sha1(_PUBLISH_LUA.encode()).hexdigest()


class StreamPublisher:
    """Ordered, batched publisher of one run attempt's frames. Call `open` first, `aclose` last."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        *,
        run_id: str,
        thread_id: str,
        resumable: bool,
        ttl_seconds: int,
        linger_seconds: float = 0.0,
        timeout_seconds: float = 5.0,
    ) -> None:
        self._redis = redis
        self._timeout = timeout_seconds
        self._linger = linger_seconds
        self._timer: asyncio.TimerHandle | None = None
        self._resumable = resumable
        self._ttl = ttl_seconds
        self._run_channel = keys.run_stream_channel(run_id)
        self._thread_channel = keys.thread_stream_channel(thread_id)
        self._run_events = keys.run_events(run_id)
        self._thread_events = keys.thread_events(thread_id)
        self._pending: list[tuple[str, bytes]] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._flusher: asyncio.Task[None] | None = None
        self.frames_lost = 0

    async def open(self, event: str, data: bytes, *, read_key: str) -> bytes | None:
        """Publish the first frame and GET `read_key` in the same command; return its value."""
        value = await self._send([(event, data)], read_key=read_key)
        self._flusher = asyncio.create_task(self._flush_loop(), name=f"publish {self._run_channel}")
        return value

    def put(self, event: str, data: bytes) -> None:
        """Queue a frame; it is sent after every frame queued before it, within `linger_seconds`."""
        self._pending.append((event, data))
        if self._linger <= 0:
            self._wake.set()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._linger, self._due)

    def _due(self) -> None:
        self._timer = None
        self._wake.set()

    def flush(self) -> None:
        """Send what is queued now, without waiting for the linger (the run's frames are complete,
        or nearly: their round trip then overlaps the rest of the run's ending)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._wake.set()

    async def aclose(self) -> None:
        """Send everything queued, then stop. Publishing failures were logged, not raised."""
        self._closing = True
        self.flush()
        if self._flusher is not None:
            await self._flusher

    async def _send(self, frames: list[tuple[str, bytes]], *, read_key: str | None = None) -> bytes | None:
        keys = (
            [self._run_events, self._thread_events]
            if read_key is None
            else [
                self._run_events,
                self._thread_events,
                read_key,
            ]
        )
        args: list[Any] = [self._ttl, 1 if self._resumable else 0, self._run_channel, self._thread_channel]
        for event, data in frames:
            args += [event, data]
        try:
            async with asyncio.timeout(self._timeout):
                try:
                    result = await self._redis.evalsha(_PUBLISH_SHA, len(keys), *keys, *args)
                except NoScriptError:
                    # Redis lost its script cache (restart, SCRIPT FLUSH): nothing ran, so load and resend.
                    await self._redis.script_load(_PUBLISH_LUA)
                    result = await self._redis.evalsha(_PUBLISH_SHA, len(keys), *keys, *args)
        except TimeoutError as exc:  # asyncio's; callers handle Redis' own
            raise RedisTimeoutError(f"Redis did not answer within {self._timeout:g} s") from exc
        return cast(bytes | None, result)

    async def _flush_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                try:
                    await self._send(batch)
                except RedisError:
                    # Streaming is best effort next to the run itself: the outcome still reaches the
                    # router, which records the final state; clients see the gap as missing events.
                    self.frames_lost += len(batch)
                    logger.exception("publishing %d frames on %s failed", len(batch), self._run_channel)
            if self._closing:
                return

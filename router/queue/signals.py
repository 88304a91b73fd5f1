"""Redis signals the router sends and reads. Redis holds no run data: only sentinels, cancel
actions, stream frames and (for resumable runs) their short-lived replay log.
"""

from __future__ import annotations

import re

from redis.asyncio import Redis

from contracts import frames, queue
from contracts.frames import Frame
from contracts.queue import Keys

WAKE_LIST_MAX = 1024  # sentinels beyond this carry no extra information
MAX_STREAM_SEQ = 2**64 - 1
_LAST_EVENT_ID = re.compile(r"^(\d+)(?:-(\d+|\*))?$")


def normalize_last_event_id(value: str) -> str | None:
    """A client's Last-Event-ID as a full Redis stream id, or None if it is not one. `-1` and `-`
    (replay everything) stay as they are; `ms` is `ms-0` (so `0` is before every id); `ms-*` (all of
    that millisecond) is `ms-<max seq>`."""
    if value in ("-1", "-"):
        return value
    match = _LAST_EVENT_ID.match(value)
    if match is None:
        return None
    ms, seq = int(match.group(1)), match.group(2)
    seq_value = MAX_STREAM_SEQ if seq == "*" else int(seq or 0)
    if ms > MAX_STREAM_SEQ or seq_value > MAX_STREAM_SEQ:
        return None
    return f"{ms}-{seq_value}"


async def wake(redis: Redis, keys: Keys, at: float | None = None) -> None:
    """Tell every dispatcher (any replica) that a run may be runnable; `at` (epoch seconds) when a
    run is due later, so dispatchers arm a timer instead of querying for it."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.lpush(keys.wake_list(), queue.WAKE_SENTINEL if at is None else repr(at).encode())
        pipe.ltrim(keys.wake_list(), 0, WAKE_LIST_MAX - 1)
        await pipe.execute()


async def wait_wake(redis: Redis, keys: Keys, timeout_seconds: float) -> tuple[bool, float | None]:
    """Block until a sentinel arrives: (True, when the run is due or None), or (False, None) on timeout."""
    got = await redis.blpop([keys.wake_list()], timeout=timeout_seconds)
    if got is None:
        return False, None
    value = got[1]
    if value == queue.WAKE_SENTINEL:
        return True, None
    try:
        return True, float(value)
    except ValueError:
        return True, None


async def send_cancel(redis: Redis, keys: Keys, run_id: str, action: str) -> None:
    """The key covers a function that has not started yet; the channel one that is running."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.set(keys.run_cancel_key(run_id), action, ex=queue.CANCEL_KEY_TTL_SECONDS)
        pipe.publish(keys.run_control_channel(run_id), action)
        await pipe.execute()


# KEYS: run stream, thread stream. ARGV: stream TTL, resumable (1/0), run channel, thread channel,
# run event, run data, thread event, thread data. One command whichever path: resumable runs keep
# both frames in their streams; otherwise the thread frame still gets an id in the thread stream's
# sequence (XADD + XDEL) when anybody listens, as thread streams always carry ids.
_PUBLISH_DONE_LUA = """
local ttl = tonumber(ARGV[1])
local run_id, thread_id = '', ''
if ARGV[2] == '1' then
  run_id = redis.call('XADD', KEYS[1], '*', 'e', ARGV[5], 'd', ARGV[6])
  thread_id = redis.call('XADD', KEYS[2], '*', 'e', ARGV[7], 'd', ARGV[8])
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
elseif redis.call('PUBSUB', 'NUMSUB', ARGV[4])[2] > 0 then
  thread_id = redis.call('XADD', KEYS[2], '*', 'e', '', 'd', '')
  redis.call('XDEL', KEYS[2], thread_id)
  redis.call('EXPIRE', KEYS[2], ttl)
end
redis.call('PUBLISH', ARGV[3], run_id .. '\\n' .. ARGV[5] .. '\\n' .. ARGV[6])
redis.call('PUBLISH', ARGV[4], thread_id .. '\\n' .. ARGV[7] .. '\\n' .. ARGV[8])
return 1
"""


async def publish_done(
    redis: Redis,
    keys: Keys,
    *,
    run_id: str,
    thread_id: str,
    data: bytes,
    thread_data: bytes,
    resumable: bool,
    ttl_seconds: int,
) -> None:
    """End a run's streams: the internal done frame on the run channel (and its replay log),
    and `metadata {"status": "run_done"}` on the thread channel. The framing is
    Frame.encode_pubsub's, built in the script."""
    # register_script only hashes the source; the call is EVALSHA, reloading the script if Redis lost it.
    await redis.register_script(_PUBLISH_DONE_LUA)(
        keys=[keys.run_events(run_id), keys.thread_events(thread_id)],
        args=[
            ttl_seconds,
            1 if resumable else 0,
            keys.run_stream_channel(run_id),
            keys.thread_stream_channel(thread_id),
            frames.DONE_EVENT,
            data,
            frames.METADATA_EVENT,
            thread_data,
        ],
    )


async def replay(redis: Redis, key: str, after: str) -> list[Frame]:
    """Frames stored in the Redis Stream `key` strictly after id `after` (`-1`, `0`, `-`: all)."""
    start = "-" if frames.parse_stream_id(after) == (-1, -1) else f"({after}"
    entries = await redis.xrange(key, min=start, max="+") or []
    out = []
    for entry_id, fields in entries:
        assert entry_id is not None
        assert fields is not None
        data = fields[b"d"]
        out.append(
            Frame(_text(fields[b"e"]), data if isinstance(data, bytes) else data.encode(), _text(entry_id))
        )
    return out


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value

"""Cancel signals for running attempts, over one shared Redis subscription per process.

The router publishes `interrupt` or `rollback` on `Keys.run_control_channel(run_id)` after setting
`Keys.run_cancel_key(run_id)`. Subscribing per run would cost a round trip (and a connection) per
run, so the listener PSUBSCRIBEs once per key prefix to `<prefix>:run:*:control` and routes each
message to the attempt watching that channel. Invariant: `watch()` returns only after the pattern
subscription is confirmed, so a cancel published after `watch()` is never missed; one published
before it is found by the caller's GET of the cancel key, which the router sets first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import Any, cast

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from contracts.queue import Keys
from contracts.runtime import CancelAction

logger = logging.getLogger(__name__)

CANCEL_ACTIONS: dict[bytes, CancelAction] = {b"interrupt": "interrupt", b"rollback": "rollback"}
RECONNECT_DELAY_SECONDS = 0.5


def parse_action(raw: bytes | str | None) -> CancelAction | None:
    """The cancel action stored in a cancel key or sent on a control channel; unknown → interrupt."""
    if raw is None:
        return None
    value = raw.encode() if isinstance(raw, str) else raw
    # The official server treats any action other than rollback as interrupt.
    return CANCEL_ACTIONS.get(value, "interrupt")


class ControlListener:
    """Routes control-channel messages to the futures of the attempts watching them."""

    def __init__(self, redis: Redis, *, confirm_timeout: float = 5.0) -> None:
        self._pubsub: PubSub = redis.pubsub()
        self._confirm_timeout = confirm_timeout
        self._watchers: dict[bytes, asyncio.Future[CancelAction]] = {}
        self._patterns: dict[bytes, asyncio.Future[None]] = {}
        self._reader: asyncio.Task[None] | None = None

    @staticmethod
    def _pattern(keys: Keys) -> bytes:
        prefix = re.sub(r"([\\*?\[\]])", r"\\\1", keys.prefix)
        return f"{prefix}:run:*:control".encode()

    async def watch(self, keys: Keys, run_id: str) -> asyncio.Future[CancelAction]:
        """A future resolved with the action of the first cancel sent to `run_id` from now on."""
        pattern = self._pattern(keys)
        confirmed = self._patterns.get(pattern)
        if confirmed is None:
            confirmed = self._patterns[pattern] = asyncio.get_running_loop().create_future()
            try:
                await self._pubsub.psubscribe(pattern)
            except BaseException as exc:
                del self._patterns[pattern]
                confirmed.set_exception(RedisError(f"PSUBSCRIBE failed: {exc!r}"))
                confirmed.exception()  # retrieved here; concurrent watchers re-raise it
                raise
            if self._reader is None:
                self._reader = asyncio.create_task(self._read_loop(), name="control listener")
        if not confirmed.done():
            await asyncio.wait_for(asyncio.shield(confirmed), self._confirm_timeout)
        confirmed.result()  # re-raises a failed subscription
        channel = keys.run_control_channel(run_id).encode()
        future = self._watchers.get(channel)
        if future is None or future.done():
            future = self._watchers[channel] = asyncio.get_running_loop().create_future()
        return future

    def unwatch(self, keys: Keys, run_id: str) -> None:
        future = self._watchers.pop(keys.run_control_channel(run_id).encode(), None)
        if future is not None and not future.done():
            future.cancel()

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "psubscribe":
            confirmed = self._patterns.get(cast(bytes, message["channel"]))
            if confirmed is not None and not confirmed.done():
                confirmed.set_result(None)
        elif kind == "pmessage":
            future = self._watchers.get(cast(bytes, message["channel"]))
            action = parse_action(cast(bytes, message["data"]))
            if future is not None and not future.done() and action is not None:
                future.set_result(action)

    async def _read_loop(self) -> None:
        while True:
            try:
                message = await self._pubsub.get_message(timeout=None)
            except RedisError:
                # redis-py reconnects and re-subscribes on the next read; wait instead of spinning.
                logger.exception("control subscription failed; retrying")
                await asyncio.sleep(RECONNECT_DELAY_SECONDS)
                continue
            if message is not None:
                self._dispatch(message)

    async def aclose(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        for future in self._watchers.values():
            future.cancel()
        await self._pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated

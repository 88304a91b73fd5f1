"""What every service function works with, built once by router.main's lifespan."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from redis.asyncio import Redis

from contracts.queue import Keys
from router.dispatch.client import FunctionClient
from router.queue.broker import Broker
from router.settings import RouterSettings
from router.store.pool import Pool


@dataclass
class Services:
    settings: RouterSettings
    pool: Pool
    redis: Redis
    keys: Keys
    broker: Broker
    functions: FunctionClient
    graph_ids: list[str]
    kick_dispatcher: Callable[..., None] = field(default=lambda at=None: None)

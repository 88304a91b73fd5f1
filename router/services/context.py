"""What every service function works with, built once by router.main's lifespan."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from redis.asyncio import Redis

from contracts.app_config import WebhooksConfig
from contracts.queue import Keys
from router.dispatch.client import FunctionClients
from router.queue.broker import Broker
from router.settings import RouterSettings
from router.store.pool import Pool

if TYPE_CHECKING:
    from router.services.apps import Apps


class DispatchHere(Protocol):
    @property
    def owner(self) -> str: ...

    async def reserve(self) -> bool:
        """Take an execution slot if one is free now (never waits)."""
        ...

    def release(self) -> None:
        """Give back a reserved slot that was not used."""
        ...

    def start_run(self, row: Any) -> None:
        """Execute a run inserted already claimed by `owner`, in the reserved slot."""
        ...


@dataclass
class Services:
    settings: RouterSettings
    pool: Pool
    redis: Redis
    keys: Keys
    broker: Broker
    functions: FunctionClients
    """The function service of the deployment the current work acts for (router.tenancy)."""
    apps: Apps
    """The app of each deployment (router.services.apps)."""
    kick_dispatcher: Callable[..., None] = field(default=lambda at=None: None)
    dispatch_here: DispatchHere | None = None
    """The local dispatcher's fast path for runs that can start at once (None: always go through
    the queue)."""
    kick_scheduler: Callable[[], None] = field(default=lambda: None)
    """Wake this replica's cron scheduler (a cron was created or changed)."""
    kick_webhooks: Callable[[], None] = field(default=lambda: None)
    """Wake this replica's webhook deliverer (an outbox row was committed)."""

    @property
    def graph_ids(self) -> list[str]:
        """The graphs of the deployment the current work acts for."""
        return self.apps.current().graph_ids

    @property
    def webhooks(self) -> WebhooksConfig:
        """`webhooks` of that deployment's langgraph.json: the URL policy runs and crons are checked against."""
        return self.apps.current().webhooks

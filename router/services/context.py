"""What every service function works with, built once by router.main's lifespan."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from redis.asyncio import Redis

from contracts.app_config import WebhooksConfig
from contracts.queue import Keys
from router.dispatch.client import FunctionClients
from router.models import Assistant
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


ASSISTANT_CACHE_SIZE = 1024


class AssistantCache:
    """The assistants this replica resolved for new runs, by (deployment, assistant id), least
    recently used dropped first. An entry may be stale: run creation hands Postgres the entry's
    version and updated_at, and the statement refuses the run if the assistant changed since
    (`stale_assistant`, migration 0007); the creator then reads it again (router.services.runs)."""

    def __init__(self, size: int = ASSISTANT_CACHE_SIZE) -> None:
        self._size = size
        self._items: OrderedDict[tuple[str, str], Assistant] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: tuple[str, str]) -> Assistant | None:
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
        return found

    def put(self, key: tuple[str, str], assistant: Assistant) -> None:
        self._items[key] = assistant
        self._items.move_to_end(key)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def forget(self, key: tuple[str, str]) -> None:
        self._items.pop(key, None)


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
    assistants: AssistantCache = field(default_factory=AssistantCache)
    """Assistants resolved for new runs (router.services.assistants.resolve)."""

    @property
    def graph_ids(self) -> list[str]:
        """The graphs of the deployment the current work acts for."""
        return self.apps.current().graph_ids

    @property
    def webhooks(self) -> WebhooksConfig:
        """`webhooks` of that deployment's langgraph.json: the URL policy runs and crons are checked against."""
        return self.apps.current().webhooks

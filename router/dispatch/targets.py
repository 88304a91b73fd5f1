"""Where the function service of a deployment is reached.

In a cluster it is the deployment's Knative Service URL (`StaticTarget`): Knative's activator holds a
request while it scales the service up from zero. Locally, `langopen dev` supplies a target that starts
a function process on demand and stops it when idle (cli/activator.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol


class FunctionTarget(Protocol):
    def use(self) -> AbstractAsyncContextManager[str]:
        """Yield the base URL of a ready function service for the span of one request.

        The target may start a service when none runs; while any `use()` is open it must not stop it.
        """
        ...


class StaticTarget:
    """A function service at a fixed URL (a Knative Service, or a process somebody else runs)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    @asynccontextmanager
    async def use(self) -> AsyncIterator[str]:
        yield self.url

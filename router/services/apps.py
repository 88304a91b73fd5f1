"""The app (langgraph.json) of each deployment a router serves (docs/decisions/0012).

A deployment without a function service of its own runs on the router's: its app is the router's
langgraph.json (`default`). A deployment with its own function service (its row's `function_url` or
`agent_deployment`) runs the app that service loaded, which the router asks for once
(`runtime.APP_REQUESTED`) and keeps: its graphs, `auth` (custom auth runs there) and `webhooks` URL
policy. What the router cannot do per deployment it refuses by name when the app is first loaded:
custom routes and the `http` switches (the router mounts its routes once) and webhook headers (one
webhook client signs every delivery).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from contracts import runtime
from contracts.app_config import AppSummary, WebhooksConfig
from contracts.auth import AuthSection
from contracts.http_app import HttpConfig
from router import errors, tenancy
from router.dispatch.client import FunctionClients
from router.store import accounts
from router.store.pool import Pool


@dataclass(frozen=True)
class App:
    graph_ids: list[str]
    webhooks: WebhooksConfig
    auth: AuthSection
    own_function: bool = False


def _refused_keys(summary: AppSummary) -> list[str]:
    """The keys of a deployment's own app that only the router's own deployment may set."""
    default_http = HttpConfig()
    refused = [
        f"http.{name}"
        for name in HttpConfig.model_fields
        if getattr(summary.http, name) != getattr(default_http, name)
    ]
    if summary.webhooks.headers:
        refused.append("webhooks.headers")
    return refused


class Apps:
    def __init__(self, default: App, *, functions: FunctionClients, pool: Pool) -> None:
        self.default = default
        self._functions = functions
        self._pool = pool
        self._apps: dict[str, App] = {}
        self._lock = asyncio.Lock()

    def current(self) -> App:
        """The app of the deployment the current work acts for (loaded by `ensure` beforehand)."""
        return self._apps.get(tenancy.deployment_id(), self.default)

    async def ensure(self, deployment: accounts.Deployment) -> App:
        """The deployment's app, loaded from its own function service on first use."""
        found = self._apps.get(deployment.deployment_id)
        if found is not None:
            return found
        async with self._lock:
            found = self._apps.get(deployment.deployment_id)
            if found is None:
                found = await self._load(deployment)
                self._apps[deployment.deployment_id] = found
        return found

    async def ensure_id(self, deployment_id: str) -> App:
        """`ensure` for work that knows only the deployment's id (a cron tick after a restart)."""
        if deployment_id in self._apps or deployment_id == runtime.DEFAULT_DEPLOYMENT_ID:
            return self._apps.get(deployment_id, self.default)
        deployment = await accounts.deployment_by_id(self._pool, deployment_id)
        if deployment is None:
            raise errors.NotFoundError(f"Deployment {deployment_id} not found")
        return await self.ensure(deployment)

    async def _load(self, deployment: accounts.Deployment) -> App:
        if not deployment.own_function:
            return self.default
        client = self._functions.register(
            deployment.deployment_id, (deployment.function_url, deployment.agent_deployment)
        )
        summary = await client.call(runtime.APP_REQUESTED, runtime.AppRequest(), AppSummary)
        refused = _refused_keys(summary)
        if refused:
            raise errors.UnprocessableError(
                f"deployment '{deployment.name}': {', '.join(refused)} of its langgraph.json apply only to "
                "the router's own deployment (docs/decisions/0012)"
            )
        return App(
            graph_ids=summary.graph_ids, webhooks=summary.webhooks, auth=summary.auth, own_function=True
        )

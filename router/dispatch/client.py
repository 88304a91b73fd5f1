"""Send CloudEvents to the function service and read the CloudEvent it answers with.

Run requests stay open for the whole run (no read timeout: the lease, not the socket, bounds a run);
synchronous requests (state, schemas, drawing) get `function_timeout_seconds`. A failure to connect
becomes FunctionNotReachedError (nothing ran), any other transport failure FunctionUnavailableError;
a FAILED reply becomes the router error matching its HTTP status.

The HTTP client is aiohttp: per request it costs a fraction of httpx's CPU, whose pool scans every
idle connection for each request. Idle keep-alive connections are dropped after
`IDLE_KEEPALIVE_SECONDS`, well inside the function service's own keep-alive timeout
(functions.settings `keep_alive_seconds`), so a request is never sent on a connection the server is
closing at that moment; a connection the server closed earlier is gone from the pool already (the
event loop sees its end).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
import orjson
from cloudevents.core.bindings import http as ce_http
from cloudevents.core.v1.event import CloudEvent
from pydantic import BaseModel

from contracts import runtime
from router import errors, tenancy
from router.dispatch.targets import FunctionTarget

M = TypeVar("M", bound=BaseModel)

CONNECT_TIMEOUT_SECONDS = 5.0
IDLE_KEEPALIVE_SECONDS = 15.0
_ERROR_BY_STATUS: dict[int, type[errors.RouterError]] = {
    400: errors.InvalidRequestError,
    404: errors.NotFoundError,
    409: errors.ConflictError,
    422: errors.UnprocessableError,
}


def _headers(event_type: str, extensions: dict[str, str]) -> dict[str, str]:
    event = CloudEvent(
        attributes={
            "type": event_type,
            "source": runtime.SPEC_SOURCE_ROUTER,
            "datacontenttype": "application/json",
            **extensions,
        },
        data=b"",
    )
    message = ce_http.to_binary_event(event)
    return message.headers


class FunctionClient:
    def __init__(self, target: FunctionTarget, *, sync_timeout_seconds: float) -> None:
        self._target = target
        self._sync_timeout = sync_timeout_seconds
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        # Created on first use: a ClientSession belongs to the running loop.
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=0, keepalive_timeout=IDLE_KEEPALIVE_SECONDS, enable_cleanup_closed=False
            )
            self._session = aiohttp.ClientSession(
                connector=connector, auto_decompress=False, skip_auto_headers=("User-Agent",)
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def run(self, req: runtime.RunRequest, *, traceparent: str | None = None) -> runtime.RunOutcome:
        ext = {runtime.EXT_RUN_ID: req.run_id, runtime.EXT_ATTEMPT: str(req.attempt)}
        if traceparent:
            ext[runtime.EXT_TRACEPARENT] = traceparent
        return await self._send(runtime.RUN_REQUESTED, req, runtime.RunOutcome, ext, deadline_seconds=None)

    async def call(self, event_type: str, payload: BaseModel, reply: type[M]) -> M:
        return await self._send(event_type, payload, reply, {}, deadline_seconds=self._sync_timeout)

    async def call_json(self, event_type: str, payload: BaseModel) -> Any:
        body = await self._post(event_type, payload, {}, deadline_seconds=self._sync_timeout)
        return orjson.loads(body)

    async def _send(
        self,
        event_type: str,
        payload: BaseModel,
        reply: type[M],
        ext: dict[str, str],
        *,
        deadline_seconds: float | None,
    ) -> M:
        body = await self._post(event_type, payload, ext, deadline_seconds=deadline_seconds)
        return reply.model_validate_json(body)

    async def _post(
        self, event_type: str, payload: BaseModel, ext: dict[str, str], *, deadline_seconds: float | None
    ) -> bytes:
        headers = _headers(event_type, ext)
        content = payload.model_dump_json().encode()
        timeout = aiohttp.ClientTimeout(total=deadline_seconds, sock_connect=CONNECT_TIMEOUT_SECONDS)
        try:
            async with (
                self._target.use() as url,
                self._http().post(url + "/", data=content, headers=headers, timeout=timeout) as response,
            ):
                body = await response.read()
                status = response.status
                ce_type = response.headers.get("ce-type")
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            raise errors.FunctionNotReachedError(
                f"function service unreachable (no connection): {exc!r}"
            ) from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise errors.FunctionUnavailableError(f"function service unreachable: {exc!r}") from exc
        if ce_type == runtime.FAILED or status >= 400:
            raise _failure(status, body)
        return body


def _failure(status: int, body: bytes) -> errors.RouterError:
    try:
        failure = runtime.Failure.model_validate_json(body)
        message = failure.message
    except ValueError:
        text = body[:200].decode(errors="replace")
        message = f"function service answered {status}: {text}"
    cls = _ERROR_BY_STATUS.get(status, errors.FunctionError)
    return cls(message)


FunctionSpec = tuple[str | None, str | None]
"""A deployment's own function service: (URL, AgentDeployment name); (None, None): the router's own."""
ResolveFunction = Callable[[str], Awaitable[FunctionSpec]]
MakeTarget = Callable[[str | None, str | None], FunctionTarget]


class FunctionClients:
    """The function service of each deployment (docs/decisions/0012): its own when its row names one
    (looked up once with `resolve`, then kept), else the router's (`default`). Requests go to the
    deployment the current work acts for (router.tenancy); runs to their own `deployment_id`."""

    def __init__(
        self,
        default: FunctionClient,
        *,
        resolve: ResolveFunction,
        make_target: MakeTarget,
        sync_timeout_seconds: float,
    ) -> None:
        self.default = default
        self._resolve = resolve
        self._make_target = make_target
        self._sync_timeout = sync_timeout_seconds
        self._clients: dict[str, FunctionClient] = {}
        self._lock = asyncio.Lock()

    def register(self, deployment_id: str, spec: FunctionSpec) -> FunctionClient:
        """The client of a deployment whose spec is known (the API's deployment lookup passes it)."""
        client = self._clients.get(deployment_id)
        if client is None:
            url, agent_deployment = spec
            own = url is not None or agent_deployment is not None
            target = self._make_target(url, agent_deployment) if own else None
            client = (
                FunctionClient(target, sync_timeout_seconds=self._sync_timeout) if target else self.default
            )
            self._clients[deployment_id] = client
        return client

    async def for_deployment(self, deployment_id: str | None) -> FunctionClient:
        if deployment_id is None or deployment_id == runtime.DEFAULT_DEPLOYMENT_ID:
            return self._clients.get(runtime.DEFAULT_DEPLOYMENT_ID, self.default)
        client = self._clients.get(deployment_id)
        if client is not None:
            return client
        async with self._lock:
            if deployment_id not in self._clients:
                self.register(deployment_id, await self._resolve(deployment_id))
        return self._clients[deployment_id]

    async def run(self, req: runtime.RunRequest, *, traceparent: str | None = None) -> runtime.RunOutcome:
        client = await self.for_deployment(req.deployment_id)
        return await client.run(req, traceparent=traceparent)

    async def call(self, event_type: str, payload: BaseModel, reply: type[M]) -> M:
        client = await self.for_deployment(tenancy.deployment_id())
        return await client.call(event_type, payload, reply)

    async def call_json(self, event_type: str, payload: BaseModel) -> Any:
        client = await self.for_deployment(tenancy.deployment_id())
        return await client.call_json(event_type, payload)

    async def aclose(self) -> None:
        for client in {id(c): c for c in [self.default, *self._clients.values()]}.values():
            await client.aclose()

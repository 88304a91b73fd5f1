"""The function service's HTTP face: binary-mode CloudEvents in, binary-mode CloudEvents out.

`POST /` takes one request event (contracts.runtime) and answers with its reply type; a request
it cannot serve gets `FAILED` + `Failure` with status 400 (bad event or payload), 404 (unknown
graph or checkpoint) or 500. A run request is held open for the whole attempt, and a dispatcher
that drops the connection stops the attempt. `GET /healthz` is 200 once graphs are imported and
the Postgres pool and Redis client are open.

`Failure.error` is the exception type's name, `message` its text (for 500s a fixed message; the
traceback is only logged).

Lifespan order: import graphs (fail fast on user code) → the store's settings (`store` of
langgraph.json, its embedding function loaded here) → the loop's CheckpointExecutor
(docs/decisions/0003) → [LangGraph migrations, only with `migrate`; the store's vector tables whenever
`store.index` is set, docs/decisions/0005] → Postgres pool (checkpointer + store, TTL sweeper) → Redis
client → control listener → the user's `http.app` lifespan (functions/http_app.py; requests the router
forwards with its marker header go to that app) → the garbage collector's serving settings
(contracts/gc_policy.py: startup objects frozen, fewer young collections). Custom auth (`auth.path`,
functions/auth.py) is imported with the http app, before anything opens; without it the two auth
requests are FAILED 400.
Shutdown closes them in reverse.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

from cloudevents.core.bindings.http import HTTPMessage, from_binary, to_binary
from cloudevents.core.exceptions import BaseCloudEventException
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from langchain_core.runnables import RunnableConfig
from langgraph.store.base import BaseStore
from pydantic import BaseModel, ValidationError
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive

from contracts import auth as auth_contract
from contracts import gc_policy
from contracts import http_app as http_contract
from contracts import runtime as rt
from contracts.app_config import AppSummary, load_app_config, summary
from functions import auth, checkpoints, http_app, info, state
from functions import store as store_ops
from functions.cancel import ControlListener
from functions.errors import (
    BadRequestError,
    CheckpointNotFoundError,
    FunctionError,
    GraphNotFoundError,
    StoreRequestError,
)
from functions.execute import Executor
from functions.graphs import GraphRegistry, load_graph_values
from functions.serde import dumps
from functions.settings import FunctionSettings

logger = logging.getLogger(__name__)

JSON = "application/json"
_STATUS: list[tuple[type[FunctionError], int]] = [
    (BadRequestError, 400),
    (GraphNotFoundError, 404),
    (CheckpointNotFoundError, 404),
    (StoreRequestError, 422),
]


class _RawJSONFormat(JSONFormat):
    """Leaves the body as bytes so pydantic parses it once, straight into the payload model."""

    def read_data(self, body: bytes, datacontenttype: str | None) -> bytes:
        return body


_FORMAT = _RawJSONFormat()


@dataclass
class Services:
    graphs: GraphRegistry
    executor: Executor
    store: BaseStore
    http_app: Starlette | None = None
    """The user's `http.app`, served to requests the router forwards (functions.http_app)."""
    auth: auth.CustomAuth | None = None
    """The user's `auth.path` object, answering authenticate/authorize requests (functions.auth)."""
    app: AppSummary | None = None
    """The app this service runs, as a router that routes a deployment here asks for it."""


@dataclass
class Reply:
    type: str
    data: bytes
    extensions: dict[str, str] | None = None


Handler = Callable[[Services, Any, Receive], Awaitable[Reply]]


def redis_client(settings: FunctionSettings) -> Redis:
    """The process's Redis client. It has no socket timeout: redis-py 8 sends every command of a
    client that has one through `asyncio.wait_for`, which on Python 3.11 writes it from a task of its
    own, a loop turn later and at the cost of a task per command (about 20 µs of CPU per command
    here). The publisher bounds each of its commands itself (StreamPublisher)."""
    return Redis.from_url(
        settings.redis_url,
        max_connections=settings.redis_max_connections,
        socket_timeout=None,
        socket_connect_timeout=settings.redis_timeout_seconds,
    )


async def _wait_disconnect(receive: Receive) -> None:
    # The body is read already, so the next ASGI message is the dispatcher hanging up.
    while (await receive())["type"] != "http.disconnect":
        pass


async def _run(services: Services, req: rt.RunRequest, receive: Receive) -> Reply:
    disconnected = asyncio.ensure_future(_wait_disconnect(receive))
    try:
        with store_ops.acting_for(req.deployment_id):  # the graph's store: this deployment's items only
            outcome = await services.executor.run(req, disconnected=disconnected)
    finally:
        disconnected.cancel()
    extensions = {rt.EXT_RUN_ID: req.run_id, rt.EXT_ATTEMPT: str(req.attempt)}
    return Reply(rt.RUN_OUTCOME, outcome.model_dump_json().encode(), extensions)


def _state_config(req: rt.StateGetRequest | rt.StateHistoryRequest | rt.StateUpdateRequest) -> RunnableConfig:
    # A factory builds the graph from the assistant config plus the thread it is asked about.
    configurable = {
        **req.config.get("configurable", {}),
        "thread_id": req.thread_id,
        "graph_id": req.graph_id,
    }
    return cast(RunnableConfig, auth.attach_user({**req.config, "configurable": configurable}))


async def _state_get(services: Services, req: rt.StateGetRequest, _: Receive) -> Reply:
    async with services.graphs.open_graph(req.graph_id, _state_config(req)) as graph:
        return Reply(rt.STATE, dumps(await state.get_state(graph, req)))


async def _state_history(services: Services, req: rt.StateHistoryRequest, _: Receive) -> Reply:
    async with services.graphs.open_graph(req.graph_id, _state_config(req)) as graph:
        return Reply(rt.STATE_HISTORY, dumps(await state.get_history(graph, req)))


async def _state_update(services: Services, req: rt.StateUpdateRequest, _: Receive) -> Reply:
    async with services.graphs.open_graph(req.graph_id, _state_config(req)) as graph:
        result = await state.update_state(graph, req)
    return Reply(rt.STATE_UPDATED, result.model_dump_json().encode())


async def _graph_info(services: Services, req: rt.GraphInfoRequest, _: Receive) -> Reply:
    config = cast(RunnableConfig, auth.attach_user(req.config))
    async with services.graphs.open_graph(req.graph_id, config) as graph:
        answer = rt.GraphInfo(graph_id=req.graph_id, kind=req.kind, body=await info.graph_info(graph, req))
    return Reply(rt.GRAPH_INFO, answer.model_dump_json().encode())


async def _store(services: Services, req: rt.StoreRequest, _: Receive) -> Reply:
    result = await store_ops.execute(services.store, req)
    return Reply(rt.STORE_RESULT, result.model_dump_json().encode())


async def _http_routes(services: Services, _req: http_contract.RoutesRequest, _: Receive) -> Reply:
    table = http_app.route_table(services.http_app) if services.http_app is not None else None
    return Reply(
        http_contract.ROUTES, (table or http_contract.HttpRoutes(routes=[])).model_dump_json().encode()
    )


def _custom_auth(services: Services) -> auth.CustomAuth:
    if services.auth is None:
        raise BadRequestError("custom auth is not configured (auth.path)")
    return services.auth


async def _authenticate(services: Services, req: auth_contract.AuthenticateRequest, _: Receive) -> Reply:
    result = await _custom_auth(services).authenticate(req)
    return Reply(auth_contract.AUTHENTICATED, result.model_dump_json().encode())


async def _authorize(services: Services, req: auth_contract.AuthorizeRequest, _: Receive) -> Reply:
    result = await _custom_auth(services).authorize(req)
    return Reply(auth_contract.AUTHORIZED, result.model_dump_json().encode())


async def _app(services: Services, _req: rt.AppRequest, _: Receive) -> Reply:
    if services.app is None:
        raise BadRequestError("the app's configuration is not loaded")
    return Reply(rt.APP, services.app.model_dump_json().encode())


HANDLERS: dict[str, tuple[type[BaseModel], Handler]] = {
    rt.APP_REQUESTED: (rt.AppRequest, _app),
    rt.RUN_REQUESTED: (rt.RunRequest, _run),
    rt.STATE_GET_REQUESTED: (rt.StateGetRequest, _state_get),
    rt.STATE_HISTORY_REQUESTED: (rt.StateHistoryRequest, _state_history),
    rt.STATE_UPDATE_REQUESTED: (rt.StateUpdateRequest, _state_update),
    rt.GRAPH_INFO_REQUESTED: (rt.GraphInfoRequest, _graph_info),
    rt.STORE_REQUESTED: (rt.StoreRequest, _store),
    http_contract.ROUTES_REQUESTED: (http_contract.RoutesRequest, _http_routes),
    auth_contract.AUTHENTICATE_REQUESTED: (auth_contract.AuthenticateRequest, _authenticate),
    auth_contract.AUTHORIZE_REQUESTED: (auth_contract.AuthorizeRequest, _authorize),
}


def encode_reply(reply: Reply, *, status: int = 200) -> Response:
    attributes: dict[str, Any] = {
        "type": reply.type,
        "source": rt.SPEC_SOURCE_FUNCTION,
        "id": str(uuid.uuid4()),
        "datacontenttype": JSON,
        **(reply.extensions or {}),
    }
    message = to_binary(CloudEvent(attributes=attributes, data=reply.data), _FORMAT)
    return Response(message.body, status_code=status, headers=message.headers)


def _failure(status: int, error: str, message: str) -> Response:
    body = rt.Failure(error=error, message=message).model_dump_json().encode()
    return encode_reply(Reply(rt.FAILED, body), status=status)


def _status_of(exc: FunctionError) -> int:
    return next((status for cls, status in _STATUS if isinstance(exc, cls)), 500)


async def receive_event(request: Request) -> Response:
    body = await request.body()
    try:
        event = from_binary(HTTPMessage(headers=dict(request.headers), body=body), _FORMAT, CloudEvent)
    except (BaseCloudEventException, ValueError) as exc:
        return _failure(400, "BadRequestError", f"Not a binary-mode CloudEvent: {exc}")
    request_id = event.get_id()
    route = HANDLERS.get(event.get_type())
    if route is None:
        return _failure(400, "BadRequestError", f"Unknown event type {event.get_type()!r}")
    model, handler = route
    try:
        payload = model.model_validate_json(body)
    except ValidationError as exc:
        return _failure(400, "BadRequestError", f"Invalid {event.get_type()} payload: {exc}")
    services: Services = request.app.state.services
    try:
        reply = await handler(services, payload, request.receive)
    except FunctionError as exc:
        status = _status_of(exc)
        if status == 500:
            logger.exception("request %s (%s) failed", request_id, event.get_type())
        return _failure(status, type(exc).__name__, str(exc))
    except Exception as exc:
        logger.exception("request %s (%s) failed", request_id, event.get_type())
        return _failure(500, type(exc).__name__, "An internal error occurred")
    return encode_reply(reply)


async def healthz(request: Request) -> Response:
    ready = getattr(request.app.state, "services", None) is not None
    return JSONResponse({"status": "ok" if ready else "starting"}, status_code=200 if ready else 503)


def create_app(settings: FunctionSettings) -> Starlette:
    """The ASGI app; its lifespan opens (and closes) everything a request needs."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        values = load_graph_values(settings.config_path)
        app_config = load_app_config(settings.config_path)
        store_config = app_config.store
        base = settings.config_path.resolve().parent
        user_app = http_app.load_app(app_config.http.app, base) if app_config.http.app else None
        custom_auth = auth.load_auth(app_config.auth.path, base) if app_config.auth.path else None
        options = store_ops.store_options(store_config, base)
        # docs/decisions/0003: checkpoint (de)serialisation runs inline instead of one thread hop each.
        checkpoints.install_executor(asyncio.get_running_loop())
        if settings.migrate:
            await checkpoints.setup(settings.database_url, index=options.index)
        elif options.index is not None:
            await checkpoints.setup_index(settings.database_url, options.index)
        async with checkpoints.open_persistence(
            settings.database_url,
            max_size=settings.pg_pool_max_size,
            index=options.index,
            ttl=options.ttl,
            sweep_interval_minutes=options.sweep_interval_minutes,
            write_linger_seconds=settings.checkpoint_linger_seconds,
        ) as db:
            redis = redis_client(settings)
            control = ControlListener(redis, confirm_timeout=settings.redis_timeout_seconds)
            try:
                store = store_ops.DeploymentStore(db.store)
                graphs = GraphRegistry(values, checkpointer=db.checkpointer, store=store)
                executor = Executor(
                    # runs write checkpoints through the asynchronously committing saver (RUN_OPTIONS)
                    graphs=GraphRegistry(values, checkpointer=db.run_checkpointer, store=store),
                    redis=redis,
                    control=control,
                    run_timeout_seconds=settings.run_timeout_seconds,
                    stream_linger_seconds=settings.stream_linger_seconds,
                    redis_timeout_seconds=settings.redis_timeout_seconds,
                )
                async with http_app.running(user_app):
                    app.state.services = Services(
                        graphs=graphs,
                        executor=executor,
                        store=store,
                        http_app=user_app,
                        auth=custom_auth,
                        app=summary(app_config),
                    )
                    logger.info("function runtime ready: graphs %s", ", ".join(graphs.graph_ids))
                    # Everything is imported and open: the collector stops walking it (gc_policy).
                    with gc_policy.serving():
                        yield
            finally:
                app.state.services = None
                await control.aclose()
                await redis.aclose()

    routes = [Route("/", receive_event, methods=["POST"]), Route("/healthz", healthz, methods=["GET"])]
    app = Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(http_app.HttpAppDispatch)])
    app.state.services = None
    return app

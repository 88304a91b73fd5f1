"""The HTTP side of the JSON-RPC endpoints (A2A, MCP): reading the envelope, answering, mapping
errors, and running a graph for a method: create the run subscribed to its channel, then wait for
its output with router.api.stream's relay.

Malformed messages are HTTP 400 with a JSON-RPC error body (-32700 parse error, -32600 invalid
request), as the official server answers them with 400; errors of a well-formed request are HTTP 200
with the JSON-RPC error, as JSON-RPC expects.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from functools import cache
from importlib import metadata
from typing import Any

import orjson
from starlette.responses import Response

from router import errors
from router.api import runs as runs_api
from router.api import stream as relay
from router.models import is_terminal
from router.queue.broker import Subscription
from router.requests import RunCreate
from router.services import runs as runs_service
from router.services.context import Services
from router.services.jsonrpc import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    PARSE_ERROR,
    RequestId,
    RpcError,
    error_message,
)

log = logging.getLogger(__name__)

ACCEPTED = 202


@cache
def server_version() -> str:
    try:
        return metadata.version("langopen")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def json_response(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def error_response(rpc_id: RequestId, error: RpcError) -> Response:
    """A JSON-RPC error; a message that could not be read at all is also an HTTP 400."""
    status = 400 if error.code in (PARSE_ERROR, INVALID_REQUEST) else 200
    return json_response(error_message(rpc_id, error), status)


def accepted() -> Response:
    """The answer to a notification or a response: 202 with no body."""
    return Response(status_code=ACCEPTED)


def to_rpc_error(exc: Exception, *, method: str) -> RpcError:
    """A router error met while serving a method, as a JSON-RPC error (the traceback of an
    unexpected one goes to the log, with the request id the client sees)."""
    if isinstance(exc, RpcError):
        return exc
    if isinstance(exc, errors.NotFoundError | errors.InvalidRequestError | errors.UnprocessableError):
        return RpcError(INVALID_PARAMS, exc.message)
    if isinstance(exc, errors.ConflictError):
        return RpcError(INVALID_PARAMS, exc.message)
    request_id = str(uuid.uuid4())
    log.error("JSON-RPC method %s failed (request id %s)", method, request_id, exc_info=exc)
    return RpcError(INTERNAL_ERROR, f"Internal error (request id {request_id})")


def finished_check(services: Services, thread_id: str, run_id: str) -> Callable[[], Awaitable[bool]]:
    """Whether the run ended (or is gone): the relay's safety net against a lost done frame."""

    async def is_finished() -> bool:
        try:
            run = await runs_service.get(services, thread_id, run_id)
        except errors.NotFoundError:
            return True
        return is_terminal(run["status"])

    return is_finished


async def drain_until_done(
    services: Services,
    subscription: AbstractAsyncContextManager[Subscription],
    sub: Subscription,
    *,
    thread_id: str,
    run_id: str,
) -> Any:
    """Wait (woken by the run's done frame) until the run ends; its output, as `runs.wait` gives it."""

    async def fetch_output() -> Any:
        return await runs_service.final_output(services, thread_id, run_id)

    last = b"null"
    try:
        async for chunk in relay.wait_output(
            sub,
            heartbeat=services.settings.heartbeat_seconds,
            fetch_output=fetch_output,
            is_finished=finished_check(services, thread_id, run_id),
        ):
            if chunk != b"\n":  # keep-alives; the last chunk is the output
                last = bytes(chunk)  # a FinalChunk, and orjson reads exact bytes only
    finally:
        await subscription.__aexit__(None, None, None)
    return orjson.loads(last)


async def wait_for_run(services: Services, body: RunCreate, *, thread_id: str | None, run_id: str) -> Any:
    """Create a run (stateless when `thread_id` is None) and return its output once it ends."""
    created, subscription, sub = await runs_api.create_subscribed(
        services, body, thread_id, run_id=run_id, local=True
    )
    return await drain_until_done(
        services, subscription, sub, thread_id=created.run["thread_id"], run_id=run_id
    )

"""Send CloudEvents to the function service and read the CloudEvent it answers with.

Run requests stay open for the whole run (no read timeout: the lease, not the socket, bounds a run);
synchronous requests (state, schemas, drawing) get `function_timeout_seconds`. Transport failures
become FunctionUnavailableError; a FAILED reply becomes the router error matching its HTTP status.
"""

from __future__ import annotations

from typing import Any, TypeVar

import httpx
import orjson
from cloudevents.core.bindings import http as ce_http
from cloudevents.core.v1.event import CloudEvent
from pydantic import BaseModel

from contracts import runtime
from router import errors
from router.dispatch.targets import FunctionTarget

M = TypeVar("M", bound=BaseModel)

CONNECT_TIMEOUT_SECONDS = 5.0
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
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(None, connect=CONNECT_TIMEOUT_SECONDS),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

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
        try:
            async with self._target.use() as url:
                response = await self._http.post(
                    url + "/",
                    content=content,
                    headers=headers,
                    timeout=httpx.Timeout(deadline_seconds, connect=CONNECT_TIMEOUT_SECONDS),
                )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise errors.FunctionNotReachedError(
                f"function service unreachable (no connection): {exc!r}"
            ) from exc
        except httpx.TransportError as exc:
            raise errors.FunctionUnavailableError(f"function service unreachable: {exc!r}") from exc
        if response.headers.get("ce-type") == runtime.FAILED or response.status_code >= 400:
            raise _failure(response)
        return response.content


def _failure(response: httpx.Response) -> errors.RouterError:
    try:
        failure = runtime.Failure.model_validate_json(response.content)
        message = failure.message
    except ValueError:
        message = f"function service answered {response.status_code}: {response.text[:200]}"
    cls = _ERROR_BY_STATUS.get(response.status_code, errors.FunctionError)
    return cls(message)

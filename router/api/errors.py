"""The one place that knows status codes: router errors → `{"detail": message}`, as the official server.

Request validation failures are 422 with a message that names the field. Anything unexpected is a
500 with a request id; the traceback goes to the log only.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from router import errors

log = logging.getLogger(__name__)

INVALID_JSON = "Invalid JSON in request body"  # the official server's words
FASTAPI_UNREADABLE_BODY = "There was an error parsing the body"

STATUS_BY_ERROR: dict[type[errors.RouterError], int] = {
    errors.UnauthorizedError: 401,
    errors.ForbiddenError: 403,
    errors.RateLimitedError: 429,
    errors.NotFoundError: 404,
    errors.ConflictError: 409,
    errors.InvalidRequestError: 400,
    errors.UnsupportedMediaTypeError: 415,
    errors.UnprocessableError: 422,
    errors.FunctionUnavailableError: 503,
    errors.FunctionError: 502,
}


def status_for(exc: errors.RouterError) -> int:
    if isinstance(exc, errors.AuthHandlerRefusedError):
        return exc.status
    for cls in type(exc).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 500


def detail_response(status: int, detail: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps({"detail": detail}), status_code=status, media_type="application/json", headers=headers
    )


def error_response(exc: errors.RouterError) -> Response:
    """The official answer to a domain error: `{"detail": message}` with its status (and
    `Retry-After` when rate limited)."""
    status = status_for(exc)
    if isinstance(exc, errors.RateLimitedError):
        return detail_response(status, exc.message, {"Retry-After": str(exc.retry_after_seconds)})
    if isinstance(exc, errors.AuthHandlerRefusedError):
        return detail_response(status, exc.message, exc.headers)
    return detail_response(status, exc.message)


def describe_validation_error(exc: RequestValidationError) -> str:
    """`field.path: message` for each problem, one per line; body-level paths drop the `body` prefix."""
    lines = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            return INVALID_JSON
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        where = ".".join(loc) if loc else "body"
        msg = err.get("msg", "invalid")
        if err.get("type") == "extra_forbidden":
            msg = "unsupported field"
        lines.append(f"{where}: {msg}")
    return "\n".join(lines)


def install(app: FastAPI) -> None:
    async def on_router_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, errors.RouterError)
        status = status_for(exc)
        if status >= 500:
            log.error("request failed: %s %s: %s", request.method, request.url.path, exc, exc_info=exc)
        return error_response(exc)

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return detail_response(422, describe_validation_error(exc))

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if (exc.status_code, exc.detail) == (400, FASTAPI_UNREADABLE_BODY):
            return detail_response(422, INVALID_JSON)  # e.g. not UTF-8; the official server's 422
        return detail_response(exc.status_code, exc.detail, headers=dict(exc.headers or {}))

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        request_id = str(uuid.uuid4())
        log.error("unexpected error %s on %s %s", request_id, request.method, request.url.path, exc_info=exc)
        return detail_response(500, f"Internal server error (request id {request_id})")

    app.add_exception_handler(errors.RouterError, on_router_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)

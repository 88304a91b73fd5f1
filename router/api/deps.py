"""Request → Services, and path-parameter checks with the official 422 messages."""

from __future__ import annotations

from typing import Annotated, Any, cast

import orjson
from fastapi import Depends, Request

from contracts import ids
from router import errors
from router.api import errors as api_errors
from router.services.context import Services


async def get_services(request: Request) -> Services:
    # async: FastAPI runs a plain-`def` dependency in its thread pool, a thread hop per request.
    return cast(Services, request.app.state.services)


ServicesDep = Annotated[Services, Depends(get_services)]


def check_uuid(value: str, what: str) -> str:
    """`Invalid thread ID: must be a UUID` (422), as the official server words it."""
    if not ids.is_uuid(value):
        raise errors.UnprocessableError(f"Invalid {what} ID: must be a UUID")
    return value.lower()


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
NUL_NOT_ALLOWED = "the NUL character (\\u0000) is not allowed"
INT_OUT_OF_RANGE = "integers must fit in 64 bits"


def _unstorable_at(value: Any, path: str) -> tuple[str, str] | None:
    """Where `value` holds what JSON storage cannot take, and why: a string (or object key) with a
    NUL character, or an integer beyond 64 bits (which stored JSON cannot encode)."""
    if isinstance(value, str):
        return (path, NUL_NOT_ALLOWED) if "\x00" in value else None
    if isinstance(value, int) and not isinstance(value, bool):
        return (path, INT_OUT_OF_RANGE) if not INT64_MIN <= value <= INT64_MAX else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if "\x00" in key:
                return where, NUL_NOT_ALLOWED
            found = _unstorable_at(item, where)
            if found is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _unstorable_at(item, f"{path}.{index}" if path else str(index))
            if found is not None:
                return found
    return None


async def check_input(request: Request) -> None:
    """What the request models cannot see, checked before anything reaches the database: a body must
    be JSON as the official server reads it (orjson: no lone surrogates), and no string may hold a
    NUL character, which PostgreSQL text and jsonb cannot store, nor any integer beyond 64 bits (422
    naming the field in every case)."""
    for name, value in request.query_params.multi_items():
        if "\x00" in value:
            raise errors.UnprocessableError(f"{name}: {NUL_NOT_ALLOWED}")
    route = request.scope.get("route")
    if getattr(route, "body_field", None) is None:
        return
    body = await request.body()
    if not body:
        return
    try:
        orjson.loads(body)  # as the official server parses it: no lone surrogates
    except orjson.JSONDecodeError:
        raise errors.UnprocessableError(api_errors.INVALID_JSON) from None
    found = _unstorable_at(await request.json(), "")  # as FastAPI parsed it (big integers stay ints)
    if found is not None:
        where, reason = found
        raise errors.UnprocessableError(f"{where or 'body'}: {reason}")


InputChecked = Depends(check_input)

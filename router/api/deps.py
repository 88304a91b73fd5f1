"""Request → Services, and path-parameter checks with the official 422 messages."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from contracts import ids
from router import errors
from router.services.context import Services


def get_services(request: Request) -> Services:
    return cast(Services, request.app.state.services)


ServicesDep = Annotated[Services, Depends(get_services)]


def check_uuid(value: str, what: str) -> str:
    """`Invalid thread ID: must be a UUID` (422), as the official server words it."""
    if not ids.is_uuid(value):
        raise errors.UnprocessableError(f"Invalid {what} ID: must be a UUID")
    return value.lower()

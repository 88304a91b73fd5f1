"""JSON encoding of graph values and stream payloads, as the official server writes them.

LangChain messages and other pydantic models become their `model_dump()`, dataclasses (such as
`langgraph.types.Interrupt`) their fields, sets lists, and anything else unknown its `str()` —
graph state must always be sendable, so encoding never raises on a value a node returned.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import orjson
from pydantic import BaseModel

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def _default(obj: Any) -> Any:
    if isinstance(obj, BaseModel):
        return obj.model_dump()
    to_dict: Callable[[], Any] | None = (
        getattr(obj, "to_json", None) if hasattr(obj, "lc_serializable") else None
    )
    if to_dict is not None:
        return to_dict()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    if isinstance(obj, datetime | date):
        return obj.isoformat()
    if isinstance(obj, uuid.UUID):
        return str(obj)
    if isinstance(obj, bytes | bytearray):
        return obj.decode("utf-8", "replace")
    if isinstance(obj, BaseException):
        return {"error": type(obj).__name__, "message": str(obj)}
    as_dict = getattr(obj, "dict", None)  # a user object (Auth.types.StudioUser …) in a run's config
    if callable(as_dict):
        try:
            return as_dict()
        except TypeError:
            pass
    return str(obj)


def dumps(obj: Any) -> bytes:
    """Compact JSON bytes (one line), never raising on unknown types."""
    return orjson.dumps(obj, default=_default, option=_OPTIONS)


def to_jsonable(obj: Any) -> Any:
    """The plain-JSON form of `obj` (what a client would decode from `dumps(obj)`)."""
    return orjson.loads(dumps(obj))

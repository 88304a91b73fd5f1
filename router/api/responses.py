"""Fast JSON responses (orjson), bypassing FastAPI's response-model re-validation on hot paths."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


def json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def no_content(status: int = 204) -> Response:
    return Response(status_code=status)

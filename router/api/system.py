"""System endpoints: health (`/ok`, `/`), `/info`, and Prometheus `/metrics`."""

from __future__ import annotations

from importlib import metadata

from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from router import errors
from router.api import responses
from router.api.deps import ServicesDep

router = APIRouter(tags=["System"])


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


@router.get("/ok")
@router.get("/")
async def ok(services: ServicesDep, check_db: int = 0) -> Response:
    if check_db:
        try:
            await services.pool.fetchval("SELECT 1")
        except OSError as exc:
            raise errors.RouterError("database unreachable") from exc
    return responses.json({"ok": True, "services": {}})


@router.get("/info")
async def info() -> Response:
    return responses.json(
        {
            "version": _version("langopen"),
            "langgraph_py_version": _version("langgraph"),
            "flags": {"assistants": True, "crons": False, "langsmith": False},
            "host": {
                "kind": "self-hosted",
                "project_id": None,
                "host_revision_id": None,
                "revision_id": None,
                "tenant_id": None,
            },
        }
    )


@router.get("/metrics")
async def metrics(format: str = "prometheus") -> Response:
    if format not in ("prometheus", "json"):
        raise errors.UnprocessableError("format: must be 'prometheus' or 'json'")
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

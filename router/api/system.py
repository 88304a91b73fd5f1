"""System endpoints: health (`/ok`, `/`), `/info`, `/metrics` (Prometheus text or JSON) and `/docs`."""

from __future__ import annotations

from importlib import metadata

from fastapi import APIRouter
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
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
    """Any `format` other than `json` is Prometheus text, as on the official server (it falls back
    rather than refusing; its document lists only 200)."""
    if format == "json":
        # {sample name: [{"labels": {...}, "value": float}, ...]}, the samples of the text format
        samples: dict[str, list[dict[str, object]]] = {}
        for family in REGISTRY.collect():
            for sample in family.samples:
                samples.setdefault(sample.name, []).append({"labels": sample.labels, "value": sample.value})
        return responses.json(samples)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


@router.get("/docs")
async def docs() -> Response:
    """Swagger UI for `/openapi.json` (listed in the schema, as upstream lists it)."""
    return get_swagger_ui_html(openapi_url="/openapi.json", title="LangOpen Agent Server")


@router.get("/redoc", include_in_schema=False)
async def redoc() -> Response:
    """ReDoc for `/openapi.json`; unlike /docs not public (docs/auth.md)."""
    return get_redoc_html(openapi_url="/openapi.json", title="LangOpen Agent Server")

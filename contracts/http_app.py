"""`http` of `langgraph.json`, and how the router and the function service agree on custom routes.

The user's app (`http.app`) runs only in the function service (docs/decisions/0008). The router asks
for its route table once (`ROUTES_REQUESTED` → `ROUTES`) and forwards each request a custom route
takes to the function service with the `HTTP_APP_HEADER` header, which the function service answers
with the user's app instead of its own CloudEvent endpoints.

Keys of the official `http` section that LangOpen does not implement are refused when the file is
read, naming the key (never silently ignored).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

ROUTES_REQUESTED = "dev.langopen.http.routes.requested.v1"
ROUTES = "dev.langopen.http.routes.v1"
HTTP_APP_HEADER = "x-langopen-http-app"
"""Set by the router on a forwarded custom-route request; clients' copies are dropped."""

APP_SPEC = re.compile(r"^(?P<path>[^:]+):(?P<attr>[A-Za-z_][A-Za-z0-9_]*)$")

UNSUPPORTED_KEYS: dict[str, str] = {
    "configurable_headers": "request headers are not copied into the run's config",
    "logging_headers": "the access log does not take per-header rules",
    "middleware_order": "the user's middleware wraps only the custom routes (docs/decisions/0008)",
    "mount_prefix": "the API is served at the root path only",
}
"""Official keys LangOpen refuses whatever their value, with the reason."""


class CorsConfig(BaseModel):
    """`http.cors`: the arguments of Starlette's CORSMiddleware, applied to every route."""

    model_config = ConfigDict(extra="forbid")

    allow_origins: list[str] = Field(default_factory=list)
    allow_methods: list[str] = Field(default_factory=lambda: ["GET"])
    allow_headers: list[str] = Field(default_factory=list)
    allow_credentials: bool = False
    allow_origin_regex: str | None = None
    expose_headers: list[str] = Field(default_factory=list)
    max_age: int = Field(default=600, ge=0, description="seconds browsers may cache a preflight answer")


class HttpConfig(BaseModel):
    """`http` of `langgraph.json`: the custom app, the route groups turned off, CORS."""

    model_config = ConfigDict(extra="forbid")

    app: str | None = Field(
        default=None, description="`path/to/file.py:app` or `module:app`: a Starlette or FastAPI app"
    )
    disable_assistants: bool = False
    disable_threads: bool = False
    disable_runs: bool = Field(default=False, description="also removes crons (`/runs/crons`, thread crons)")
    disable_store: bool = False
    disable_mcp: bool = False
    disable_a2a: bool = False
    disable_meta: bool = Field(default=False, description="removes /openapi.json, /docs, /info, /metrics")
    disable_ui: bool = Field(default=False, description="LangOpen serves no /ui routes, so always true")
    disable_webhooks: bool = False
    enable_custom_route_auth: bool = Field(
        default=False, description="custom routes require what built-in routes do (an API key); off: open"
    )
    cors: CorsConfig | None = None

    @model_validator(mode="before")
    @classmethod
    def _refuse_unsupported(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key, reason in UNSUPPORTED_KEYS.items():
                if key in data:
                    raise ValueError(f"http.{key} is not supported by LangOpen: {reason}")
            known = set(cls.model_fields)
            for key in data:
                if key not in known:
                    raise ValueError(f"http.{key} is not a known key of the http section")
        return data

    @model_validator(mode="after")
    def _check(self) -> HttpConfig:
        if self.app is not None and not APP_SPEC.match(self.app):
            raise ValueError(f"http.app: expected 'path/to/file.py:app' or 'module:app', got {self.app!r}")
        if self.disable_webhooks:
            raise ValueError(
                "http.disable_webhooks is not supported by LangOpen: runs created with a webhook always call it"
            )
        return self


class RoutesRequest(BaseModel):
    """Ask the function service for the route table of the user's app."""

    model_config = ConfigDict(extra="forbid")


class HttpRoute(BaseModel):
    """One route of the user's app, as Starlette matches it."""

    path: str = Field(description="the route's path template, for logs")
    path_regex: str = Field(description="Starlette's compiled pattern, matched against the request path")
    methods: list[str] | None = Field(description="None: any method (a Mount)")


class HttpRoutes(BaseModel):
    """The user's app's routes, in its own order; `openapi` is its schema when it is a FastAPI app."""

    routes: list[HttpRoute]
    openapi: dict[str, Any] | None = None

"""`langgraph.json`, as the router and the function runtime both read it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from contracts.auth import AuthSection
from contracts.http_app import HttpConfig

GRAPH_SPEC = re.compile(r"^(?P<path>[^:]+):(?P<attr>[A-Za-z_][A-Za-z0-9_]*)$")
ENV_TEMPLATE = re.compile(r"\$\{\{\s*env\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class WebhookUrlPolicy(BaseModel):
    """`webhooks.url`: which webhook URLs runs and crons may name (checked at creation, and the
    resolved addresses again at delivery). LangOpen refuses private addresses by default too."""

    model_config = ConfigDict(extra="forbid")

    require_https: bool = Field(default=False, description="refuse http:// URLs")
    allowed_domains: list[str] = Field(
        default_factory=list, description="exact hosts or `*.domain` (subdomains only); empty: any host"
    )
    allowed_ports: list[int] | None = Field(default=None, description="None: any port")
    max_url_length: int = Field(default=4096, ge=1)
    disable_loopback: bool = Field(default=True, description="refuse localhost / 127.0.0.0/8 / ::1")
    disable_private_ips: bool = Field(
        default=True, description="refuse private, link-local, multicast and reserved addresses"
    )

    @field_validator("allowed_domains")
    @classmethod
    def _check_domains(cls, domains: list[str]) -> list[str]:
        for domain in domains:
            if not domain or ("*" in domain and not domain.startswith("*.")) or domain.count("*") > 1:
                raise ValueError(f"webhooks.url.allowed_domains: use 'host' or '*.domain', got {domain!r}")
        return [d.strip().lower() for d in domains]


class WebhooksConfig(BaseModel):
    """`webhooks` of `langgraph.json`: URL policy and static headers for outgoing webhook calls."""

    model_config = ConfigDict(extra="forbid")

    env_prefix: str = Field(
        default="LG_WEBHOOK_", description="header templates may read only env vars with this prefix"
    )
    url: WebhookUrlPolicy = Field(default_factory=WebhookUrlPolicy)
    headers: dict[str, str] = Field(
        default_factory=dict, description="static headers; values may use `${{ env.VAR }}` templates"
    )

    def resolved_headers(self, environ: Mapping[str, str]) -> dict[str, str]:
        """Headers with their `${{ env.VAR }}` templates filled from `environ` (read at startup)."""

        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            if not name.startswith(self.env_prefix):
                raise ValueError(f"webhooks.headers: {name} does not start with {self.env_prefix!r}")
            if name not in environ:
                raise ValueError(f"webhooks.headers: environment variable {name} is not set")
            return environ[name]

        return {key: ENV_TEMPLATE.sub(fill, value) for key, value in self.headers.items()}


class StoreIndexConfig(BaseModel):
    """`store.index`: semantic search over store items (needs pgvector in the database)."""

    model_config = ConfigDict(extra="forbid")

    dims: int = Field(gt=0, description="length of the vectors `embed` returns")
    embed: str = Field(
        min_length=1,
        description="`path/to/file.py:function` (or `module:function`) with the embedding function, or a "
        "LangChain `provider:model` name",
    )
    fields: list[str] | None = Field(
        default=None, description='JSON paths of the value to embed; None: the whole value (`["$"]`)'
    )


class StoreTtlConfig(BaseModel):
    """`store.ttl`: item expiry, in minutes."""

    model_config = ConfigDict(extra="forbid")

    refresh_on_read: bool = Field(default=True, description="reads (get, search) restart an item's TTL")
    default_ttl: float | None = Field(default=None, gt=0, description="TTL of items put without one")
    sweep_interval_minutes: float | None = Field(
        default=None, gt=0, description="how often expired items are deleted; None: never swept"
    )


class StoreConfig(BaseModel):
    """`store` of `langgraph.json`: the long-term memory store shared by graphs and the Store API."""

    model_config = ConfigDict(extra="forbid")

    index: StoreIndexConfig | None = None
    ttl: StoreTtlConfig | None = None


class AppConfig(BaseModel):
    """The subset of `langgraph.json` LangOpen acts on; unknown keys are kept and reported, not acted on."""

    model_config = ConfigDict(extra="allow")

    graphs: dict[str, str] = Field(
        min_length=1, description="graph id → `path.py:variable` or `module:variable`"
    )
    dependencies: list[str] = Field(default_factory=list)
    env: dict[str, str] | str = Field(default_factory=dict)
    python_version: str | None = None
    store: StoreConfig = Field(default_factory=StoreConfig)
    webhooks: WebhooksConfig = Field(default_factory=WebhooksConfig)
    http: HttpConfig = Field(default_factory=HttpConfig)
    auth: AuthSection = Field(default_factory=AuthSection)

    @field_validator("graphs")
    @classmethod
    def _check_specs(cls, graphs: dict[str, str]) -> dict[str, str]:
        for graph_id, spec in graphs.items():
            if not GRAPH_SPEC.match(spec):
                raise ValueError(f"graphs.{graph_id}: expected 'path/to/file.py:variable', got {spec!r}")
        return graphs


class AppSummary(BaseModel):
    """What a router needs of a deployment's app that runs on its own function service, which answers
    it (`runtime.APP_REQUESTED`; docs/decisions/0012). `env` is never sent."""

    model_config = ConfigDict(extra="forbid")

    graph_ids: list[str] = Field(min_length=1)
    http: HttpConfig = Field(default_factory=HttpConfig)
    auth: AuthSection = Field(default_factory=AuthSection)
    webhooks: WebhooksConfig = Field(default_factory=WebhooksConfig)


def summary(config: AppConfig) -> AppSummary:
    return AppSummary(
        graph_ids=list(config.graphs), http=config.http, auth=config.auth, webhooks=config.webhooks
    )


def load_app_config(path: Path) -> AppConfig:
    return AppConfig.model_validate_json(path.read_bytes())


def graph_ids(config: AppConfig) -> list[str]:
    return list(config.graphs)

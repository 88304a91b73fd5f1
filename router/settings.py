"""Router settings: built once in `main.py` (or by `langopen dev`) and passed down explicitly."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts import queue


class RouterSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LANGOPEN_", extra="ignore", populate_by_name=True)

    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        validation_alias=AliasChoices("DATABASE_URL", "LANGOPEN_DATABASE_URL"),
        description="Postgres DSN holding assistants, threads, runs, checkpoints and the store.",
    )
    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        validation_alias=AliasChoices("REDIS_URL", "LANGOPEN_REDIS_URL"),
        description="Redis URL: wake-up list, cancel keys, pub/sub and resumable streams (no run data).",
    )
    redis_prefix: str = Field(
        default=queue.DEFAULT_PREFIX, description="Prefix of every Redis key and channel."
    )
    config_path: Path = Field(
        default=Path("langgraph.json"),
        validation_alias=AliasChoices("LANGOPEN_CONFIG", "LANGOPEN_CONFIG_PATH"),
        description="The app's langgraph.json: its graphs get system assistants.",
    )
    function_url: str | None = Field(
        default=None,
        description="URL of the deployment's function service (a Knative Service in a cluster). "
        "`langopen dev` supplies a local process instead.",
    )
    function_target: Literal["url", "knative", "sandbox"] = Field(
        default="url",
        description="How `python -m router` reaches the function service: `url` (default) the fixed "
        "`function_url`; `knative` the Knative Service URL in AgentDeployment `agent_deployment`'s status; "
        "`sandbox` one Agent Sandbox per request, claimed from that deployment's warm pool.",
    )
    agent_deployment: str | None = Field(
        default=None, description="Name of the AgentDeployment served (targets `knative` and `sandbox`)."
    )
    kube_namespace: str | None = Field(
        default=None,
        description="Namespace of `agent_deployment`. Default: the router pod's own namespace.",
    )
    kubeconfig: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("KUBECONFIG", "LANGOPEN_KUBECONFIG"),
        description="Kubeconfig file for the cluster targets. None (default): the pod's service account.",
    )
    target_resolve_timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        description="Longest one request waits for a Ready Knative Service URL or a bound sandbox before "
        "the run is retried later (default 60 s).",
    )
    sandbox_port: int = Field(
        default=8080, ge=1, le=65535, description="Port of the function runtime in a sandbox (default 8080)."
    )
    sandbox_release: Literal["delete", "reuse"] = Field(
        default="delete",
        description="`delete` (default): a sandbox serves one request (one run) and its claim is deleted "
        "after it; `reuse`: a claim whose request succeeded serves later ones for `sandbox_idle_seconds`.",
    )
    sandbox_idle_seconds: float = Field(
        default=300.0,
        gt=0,
        description="How long policy `reuse` keeps an idle claimed sandbox (default 300 s).",
    )
    db_pool_min: int = Field(default=2, ge=1, description="Postgres pool minimum connections.")
    db_pool_max: int = Field(default=20, ge=1, description="Postgres pool maximum connections.")
    db_command_timeout_seconds: float = Field(default=30.0, gt=0, description="Per-statement timeout.")
    dispatch_concurrency: int = Field(
        default=64, ge=1, description="Runs one router process executes at once (in-flight CloudEvents)."
    )
    lease_seconds: float = Field(
        default=30.0,
        gt=0,
        description="A running run's lease; renewed every lease_seconds/3 while in flight.",
    )
    function_unreachable_give_up_seconds: float = Field(
        default=300.0,
        gt=0,
        description="A run whose function service cannot be connected to for this many seconds (retried "
        "with backoff meanwhile, its attempt given back each time) ends `error`. Default 300: longer "
        "than a cold start from zero.",
    )
    shutdown_drain_seconds: float = Field(
        default=10.0,
        ge=0,
        description="On shutdown, seconds the runs this router is executing get to finish before they are "
        "stopped and handed back to another replica. Default 10.",
    )
    max_attempts: int = Field(
        default=3, ge=1, description="Attempts per run before it ends `error` (a crash or lost lease counts)."
    )
    reaper_interval_seconds: float = Field(
        default=5.0, gt=0, description="How often the reaper looks for runs whose lease expired."
    )
    run_timeout_seconds: float | None = Field(
        default=None, gt=0, description="Whole-run deadline; the run ends `timeout`. None: no deadline."
    )
    resumable_stream_ttl_seconds: int = Field(
        default=120,
        ge=1,
        description="How long a resumable run's events stay replayable (official default 120 s).",
    )
    function_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Timeout of synchronous function requests (state, schemas, drawing)."
    )
    heartbeat_seconds: float = Field(default=5.0, gt=0, description="SSE heartbeat / wait keep-alive period.")
    direct_routes: bool = Field(
        default=True,
        description="Answer the busiest operations (creating threads and thread runs) without FastAPI's "
        "routing and dependency solving, calling the same dependencies and endpoints (router.api.direct). "
        "false: every request goes through FastAPI.",
    )
    scheduler_batch: int = Field(
        default=50, ge=1, description="Due cron ticks one scheduler transaction fires at most (default 50)."
    )
    scheduler_max_sleep_seconds: float = Field(
        default=60.0,
        gt=0,
        description="Longest the cron scheduler sleeps without looking at the table (default 60 s): it "
        "otherwise sleeps until the earliest next_run_date and is woken by this replica's cron writes; "
        "this bounds how late it notices crons another replica created or left behind.",
    )
    webhook_secret: str | None = Field(
        default=None,
        description="Key of the `X-LangOpen-Signature: sha256=<hex>` header (HMAC-SHA256 of the raw "
        "body) on every webhook call. None (default): calls are not signed.",
    )
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Timeout of one webhook call, connect to last byte (default 10 s)."
    )
    webhook_max_attempts: int = Field(
        default=6, ge=1, description="Attempts per webhook call before it is recorded `failed` (default 6)."
    )
    webhook_backoff_seconds: float = Field(
        default=1.0,
        gt=0,
        description="Wait after the first failed attempt; doubles per attempt (default 1 s).",
    )
    webhook_backoff_max_seconds: float = Field(
        default=300.0, gt=0, description="Longest wait between two attempts (default 300 s)."
    )
    webhook_concurrency: int = Field(
        default=16, ge=1, description="Webhook calls one router process makes at once (default 16)."
    )
    webhook_max_sleep_seconds: float = Field(
        default=60.0,
        gt=0,
        description="Longest the webhook deliverer sleeps without looking at the outbox (default 60 s); "
        "it is otherwise woken by this replica's outcomes and by the earliest retry due.",
    )
    deployment_base_domain: str | None = Field(
        default=None,
        description="Base domain of deployment hosts: a request to `{name}.{base domain}` acts for "
        "deployment `name` (default unset: hosts name no deployment).",
    )
    deployment_path_prefix: bool = Field(
        default=True,
        description="Whether `/d/{name}/…` names deployment `name` (default true). A request naming no "
        "deployment acts for `default_deployment`.",
    )
    default_deployment: str = Field(
        default="default", description="Deployment of requests that name none (default `default`)."
    )
    auth_failures_per_window: int = Field(
        default=20,
        ge=1,
        description="Failed authentications one client address, or one key prefix, may make per window "
        "before it gets 429 (default 20).",
    )
    auth_failure_window_seconds: int = Field(
        default=60, ge=1, description="Window of the failed-authentication limit (default 60 s)."
    )
    key_last_used_resolution_seconds: float = Field(
        default=60.0,
        gt=0,
        description="A key's last-used time is written at most this often (default 60 s), not per request.",
    )

    @model_validator(mode="after")
    def _check(self) -> RouterSettings:
        if self.db_pool_min > self.db_pool_max:
            raise ValueError("db_pool_min must not exceed db_pool_max")
        if self.function_target != "url" and not self.agent_deployment:
            raise ValueError(f"function_target {self.function_target!r} needs agent_deployment")
        if self.reaper_interval_seconds >= self.lease_seconds:
            raise ValueError("reaper_interval_seconds must be shorter than lease_seconds")
        return self

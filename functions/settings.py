"""Settings of the function runtime, read once in `functions.main` and passed down.

Connection URLs and the config path use the names every LangGraph deployment already sets
(`DATABASE_URL`, `REDIS_URL`, and Knative's `PORT`); everything else is `LANGOPEN_FUNCTION_*`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class FunctionSettings(BaseSettings):
    """Everything one function process needs; invalid combinations fail at startup."""

    model_config = SettingsConfigDict(env_prefix="LANGOPEN_FUNCTION_", populate_by_name=True, extra="ignore")

    database_url: str = Field(
        validation_alias=AliasChoices("database_url", "DATABASE_URL"),
        description="Postgres DSN holding LangGraph's checkpoint and store tables (env DATABASE_URL). Required.",
    )
    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        validation_alias=AliasChoices("redis_url", "REDIS_URL"),
        description="Redis URL for stream frames and cancel signals (env REDIS_URL); must be the router's Redis.",
    )
    config_path: Path = Field(
        default=Path("langgraph.json"),
        validation_alias=AliasChoices("config_path", "LANGOPEN_CONFIG"),
        description="Path of langgraph.json (env LANGOPEN_CONFIG); graph paths resolve against its folder.",
    )
    host: str = Field(
        default="127.0.0.1",
        description="Interface to listen on. Default loopback; a container sets 0.0.0.0.",
    )
    port: int = Field(
        default=8080,
        ge=1,
        le=65535,
        validation_alias=AliasChoices("port", "PORT", "LANGOPEN_FUNCTION_PORT"),
        description="TCP port (env PORT, which Knative sets). Default 8080, Knative's default.",
    )
    run_timeout_seconds: float | None = Field(
        default=None,
        gt=0,
        description="Upper bound in seconds on one run attempt, applied on top of a run's own timeout. "
        "Default none: only the run's timeout_seconds applies.",
    )
    stream_linger_seconds: float = Field(
        default=0.005,
        ge=0,
        description="Longest a stream frame waits to share a Redis round trip with the frames after it, "
        "in seconds. Default 5 ms: one command per burst instead of per frame, a delay no reader notices; "
        "0 sends every frame as soon as the previous send returns. The last frames never wait.",
    )
    checkpoint_linger_seconds: float = Field(
        default=0.005,
        ge=0,
        description="Longest a run's checkpoint write (durability async or exit) waits to share a "
        "statement with the writes after it, in seconds, when no statement is in flight. Default 5 ms: "
        "a short run's writes go in one statement; a run ending, or a write somebody waits for, sends "
        "at once. 0 sends as soon as the previous statement is done.",
    )
    pg_pool_max_size: int = Field(
        default=20,
        ge=1,
        description="Most Postgres connections each of the three pools opens (runs' checkpoint writes and "
        "reads, over asyncpg, the writes one batch at a time; the runs' saver's other statements; state "
        "updates, reads and the store). Bounds concurrent DB work.",
    )
    redis_max_connections: int = Field(
        default=100,
        ge=2,
        description="Most Redis connections; one is held by the shared cancel-signal subscription.",
    )
    redis_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        description="Seconds to connect to Redis, and the most one publishing command may take.",
    )
    keep_alive_seconds: float = Field(
        default=75.0,
        gt=0,
        description="Seconds an idle HTTP keep-alive connection from a dispatcher stays open. Default 75: longer "
        "than the router's own idle limit (15 s), so the router, not this server, ends idle connections and "
        "never sends a request on one being closed.",
    )
    shutdown_grace_seconds: float = Field(
        default=30.0,
        gt=0,
        description="On SIGTERM, seconds runs in flight get to finish (new requests are refused meanwhile); "
        "runs still going are then stopped and their dispatcher requeues them at once. Keep it below the "
        "pod's terminationGracePeriodSeconds. Default 30.",
    )
    migrate: bool = Field(
        default=False,
        description="Create/upgrade LangGraph's tables at startup. Off by default: `langopen migrate` owns "
        "migrations, so a scaled-out function never runs DDL on its own.",
    )

    @model_validator(mode="after")
    def _check_database_url(self) -> FunctionSettings:
        if not self.database_url.startswith(("postgresql://", "postgres://")):
            raise ValueError("DATABASE_URL must be a postgresql:// URL")
        return self

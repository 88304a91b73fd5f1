"""Operator settings: cluster-wide facts the builders need that a deployment's owner must not choose
(where Postgres and Redis are, the pods' user id, where the app sits in the image)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts import k8s

PRIVATE_NETWORKS = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]


class OperatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LANGOPEN_OPERATOR_", extra="ignore")

    postgres_cidrs: list[str] = Field(
        default_factory=lambda: list(PRIVATE_NETWORKS),
        description="Networks where Postgres runs; function pods may reach them on `postgres_port` only. "
        "Default: the private IPv4 ranges (narrow it to the database's address).",
    )
    postgres_port: int = Field(default=5432, ge=1, le=65535, description="Postgres TCP port (default 5432).")
    redis_cidrs: list[str] = Field(
        default_factory=lambda: list(PRIVATE_NETWORKS),
        description="Networks where Redis runs, reachable on `redis_port` only. Default: private IPv4 ranges.",
    )
    redis_port: int = Field(default=6379, ge=1, le=65535, description="Redis TCP port (default 6379).")
    dns_pod_labels: dict[str, str] = Field(
        default_factory=lambda: {"k8s-app": "kube-dns"},
        description="Labels of the cluster DNS pods (any namespace) reachable on port 53 UDP/TCP.",
    )
    container_port: int = Field(
        default=k8s.IMAGE_PORT,
        ge=1,
        le=65535,
        description="Port the function runtime listens on (Knative's PORT; the image's default 8080).",
    )
    app_config_path: str = Field(
        default=k8s.IMAGE_APP_CONFIG_PATH,
        description="Path of the app's langgraph.json inside the image (default /app/langgraph.json, "
        "where knative/image/Containerfile puts it).",
    )
    run_as_user: int = Field(
        default=k8s.IMAGE_USER_ID,
        ge=1,
        description="Non-root uid the pods run as (default 65532, the image's `app` user).",
    )
    tmp_size_limit: str = Field(
        default="256Mi", description="Size cap of the writable /tmp (an emptyDir; the root fs is read-only)."
    )
    cluster_local: bool = Field(
        default=True,
        description="Mark Knative Services cluster-local: only the router reaches them (default true).",
    )

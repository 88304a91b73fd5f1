"""The AgentDeployment resource as the builders read it: a typed view of what the CRD
(crds/agentdeployment.yaml) admits, with the same defaults, so builders work on objects a test
writes by hand as well as on ones the API server defaulted."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts import k8s
from knative import errors

IMAGE_DIGEST_PATTERN = r"^[^@\s]+@sha256:[a-f0-9]{64}$"
RUNTIME_CLASS_PATTERN = r"^(gvisor|kata(-[a-z0-9]+)+)$"
NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class Scale(_Model):
    min_scale: int = Field(default=0, ge=0, le=100, alias="minScale")
    max_scale: int = Field(default=10, ge=1, le=1000, alias="maxScale")
    target: int = Field(default=10, ge=1, le=1000)
    container_concurrency: int = Field(default=0, ge=0, le=1000, alias="containerConcurrency")
    retention_seconds: int = Field(default=0, ge=0, le=3600, alias="retentionSeconds")
    warm_pool: int = Field(default=1, ge=0, le=100, alias="warmPool")


class Resources(_Model):
    cpu_request: str = Field(default="250m", alias="cpuRequest")
    cpu_limit: str = Field(default="2", alias="cpuLimit")
    memory_request: str = Field(default="512Mi", alias="memoryRequest")
    memory_limit: str = Field(default="2Gi", alias="memoryLimit")


class Port(_Model):
    port: int = Field(ge=1, le=65535)
    protocol: Literal["TCP", "UDP"] = "TCP"


class EgressRule(_Model):
    cidr: str
    except_: list[str] = Field(default_factory=list, alias="except")
    ports: list[Port] = Field(default_factory=list)


class SecretEnv(_Model):
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    secret_name: str = Field(alias="secretName")
    key: str


class Spec(_Model):
    image: str = Field(pattern=IMAGE_DIGEST_PATTERN)
    graphs: list[str] = Field(min_length=1)
    runtime_class: str = Field(
        default=k8s.RUNTIME_GVISOR, pattern=RUNTIME_CLASS_PATTERN, alias="runtimeClass"
    )
    mode: Literal["function", "sandbox"] = "function"
    scale: Scale = Field(default_factory=Scale)
    resources: Resources = Field(default_factory=Resources)
    egress: list[EgressRule] = Field(default_factory=list)
    secret_env: list[SecretEnv] = Field(default_factory=list, alias="secretEnv")
    run_timeout_seconds: int = Field(default=600, ge=1, le=3600, alias="runTimeoutSeconds")


class AgentDeployment(_Model):
    """Name, namespace, correlation labels and spec of one AgentDeployment."""

    name: str = Field(max_length=k8s.MAX_NAME_LENGTH, pattern=NAME_PATTERN)
    namespace: str
    labels: dict[str, str] = Field(default_factory=dict)
    spec: Spec

    @property
    def correlation_labels(self) -> dict[str, str]:
        """The deployment's name plus the org/project/deployment ids it carries, for every child."""
        ids = {key: self.labels[key] for key in k8s.CORRELATION_LABELS if key in self.labels}
        return {k8s.LABEL_DEPLOYMENT: self.name, **ids}


def parse(body: Mapping[str, Any]) -> AgentDeployment:
    """Read an AgentDeployment object (as the API server returns it) into the builders' model."""
    meta = body.get("metadata", {})
    try:
        return AgentDeployment.model_validate(
            {
                "name": meta.get("name"),
                "namespace": meta.get("namespace"),
                "labels": dict(meta.get("labels") or {}),
                "spec": body.get("spec") or {},
            }
        )
    except ValueError as exc:
        raise errors.InvalidDeploymentError(str(exc)) from exc

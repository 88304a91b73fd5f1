"""The pod every deployment runs, shared by its Knative Service and its SandboxTemplate: the function
runtime container under the deployment's RuntimeClass, non-root, without capabilities or a service
account token, on a read-only root filesystem with a size-capped emptyDir at /tmp, environment from
Secret references only."""

from __future__ import annotations

from typing import Any

from contracts import k8s
from knative import specs
from knative.settings import OperatorSettings

CONTAINER_NAME = "function"
TMP_VOLUME = "tmp"
HEALTH_PATH = "/healthz"


def labels(deployment: specs.AgentDeployment, component: str) -> dict[str, str]:
    """Labels of every object made for `deployment`: correlation ids, component, owner."""
    return {
        **deployment.correlation_labels,
        k8s.LABEL_COMPONENT: component,
        k8s.LABEL_MANAGED_BY: k8s.MANAGED_BY_OPERATOR,
        k8s.LABEL_PART_OF: k8s.PART_OF,
    }


def pod_labels(deployment: specs.AgentDeployment, component: str) -> dict[str, str]:
    """Labels on the pods: correlation ids and component (the NetworkPolicy selects on the first)."""
    return {**deployment.correlation_labels, k8s.LABEL_COMPONENT: component}


def pod_annotations(deployment: specs.AgentDeployment) -> dict[str, str]:
    return {k8s.ANNOTATION_IMAGE: deployment.spec.image}


def _env(deployment: specs.AgentDeployment, settings: OperatorSettings) -> list[dict[str, Any]]:
    fixed = [
        {"name": "LANGOPEN_FUNCTION_HOST", "value": "0.0.0.0"},  # inside the pod; Knative fronts it
        {"name": "LANGOPEN_CONFIG", "value": settings.app_config_path},
        {"name": "LANGOPEN_FUNCTION_RUN_TIMEOUT_SECONDS", "value": str(deployment.spec.run_timeout_seconds)},
    ]
    from_secrets = [
        {"name": ref.name, "valueFrom": {"secretKeyRef": {"name": ref.secret_name, "key": ref.key}}}
        for ref in deployment.spec.secret_env
    ]
    return fixed + from_secrets


def container(
    deployment: specs.AgentDeployment, settings: OperatorSettings, *, probe_port: bool
) -> dict[str, Any]:
    """The function runtime container. Knative fills in probe ports itself (`probe_port=False`)."""
    res = deployment.spec.resources
    probe: dict[str, Any] = {"httpGet": {"path": HEALTH_PATH}, "periodSeconds": 2, "failureThreshold": 3}
    if probe_port:
        probe["httpGet"]["port"] = settings.container_port
    return {
        "name": CONTAINER_NAME,
        "image": deployment.spec.image,
        "ports": [{"name": "http1", "containerPort": settings.container_port, "protocol": "TCP"}],
        "env": _env(deployment, settings),
        "resources": {
            "requests": {"cpu": res.cpu_request, "memory": res.memory_request},
            "limits": {"cpu": res.cpu_limit, "memory": res.memory_limit},
        },
        "readinessProbe": probe,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": settings.run_as_user,
            "runAsGroup": settings.run_as_user,
            "allowPrivilegeEscalation": False,
            "privileged": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [{"name": TMP_VOLUME, "mountPath": "/tmp"}],
    }


def pod_spec(
    deployment: specs.AgentDeployment, settings: OperatorSettings, *, probe_port: bool
) -> dict[str, Any]:
    """Pod-level fields shared by the Knative revision template and the sandbox pod template."""
    return {
        "runtimeClassName": deployment.spec.runtime_class,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": settings.run_as_user,
            "runAsGroup": settings.run_as_user,
            "fsGroup": settings.run_as_user,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container(deployment, settings, probe_port=probe_port)],
        "volumes": [{"name": TMP_VOLUME, "emptyDir": {"sizeLimit": settings.tmp_size_limit}}],
    }

"""Builders of `knative/` are pure: these tests need no cluster, no Postgres and no Redis."""

from __future__ import annotations

from typing import Any

DIGEST = "sha256:" + "a" * 64
IMAGE = f"registry.example/apps/chat@{DIGEST}"


def agent_deployment(**spec: Any) -> dict[str, Any]:
    """An AgentDeployment object as a user writes it (only required fields unless given)."""
    return {
        "apiVersion": "langopen.dev/v1alpha1",
        "kind": "AgentDeployment",
        "metadata": {
            "name": "chat",
            "namespace": "agents",
            "labels": {"langopen.dev/org-id": "org-1", "langopen.dev/project-id": "prj-1", "team": "x"},
        },
        "spec": {"image": IMAGE, "graphs": ["agent"], **spec},
    }

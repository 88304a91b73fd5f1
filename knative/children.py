"""Which objects a deployment needs: the desired set for its mode, and the kinds the other mode
leaves behind (deleted when a deployment switches mode)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from contracts import k8s
from knative import policies, sandboxes, services, specs
from knative.settings import OperatorSettings


@dataclass(frozen=True)
class Kind:
    """How the operator reaches one kind of child: core NetworkPolicy or a custom resource."""

    group: str
    version: str
    plural: str
    kind: str


NETWORK_POLICY = Kind("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy")
KNATIVE_SERVICE = Kind(
    k8s.KNATIVE_GROUP, k8s.KNATIVE_VERSION, k8s.KNATIVE_SERVICE_PLURAL, k8s.KNATIVE_SERVICE_KIND
)
SANDBOX_TEMPLATE = Kind(
    k8s.SANDBOX_EXTENSIONS_GROUP, k8s.SANDBOX_VERSION, k8s.SANDBOX_TEMPLATE_PLURAL, k8s.SANDBOX_TEMPLATE_KIND
)
SANDBOX_WARM_POOL = Kind(
    k8s.SANDBOX_EXTENSIONS_GROUP,
    k8s.SANDBOX_VERSION,
    k8s.SANDBOX_WARM_POOL_PLURAL,
    k8s.SANDBOX_WARM_POOL_KIND,
)
BY_KIND = {kind.kind: kind for kind in (NETWORK_POLICY, KNATIVE_SERVICE, SANDBOX_TEMPLATE, SANDBOX_WARM_POOL)}


def desired(deployment: specs.AgentDeployment, settings: OperatorSettings) -> list[dict[str, Any]]:
    """Every object `deployment` needs, in apply order (template before the pool that names it)."""
    policy = policies.build_network_policy(deployment, settings)
    if deployment.spec.mode == k8s.MODE_SANDBOX:
        return [
            policy,
            sandboxes.build_template(deployment, settings),
            sandboxes.build_warm_pool(deployment),
        ]
    return [policy, services.build_service(deployment, settings)]


def unwanted(deployment: specs.AgentDeployment) -> list[Kind]:
    """Kinds of children the other execution mode made, deleted by name if present (pool first)."""
    if deployment.spec.mode == k8s.MODE_SANDBOX:
        return [KNATIVE_SERVICE]
    return [SANDBOX_WARM_POOL, SANDBOX_TEMPLATE]

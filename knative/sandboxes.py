"""Agent Sandbox objects of a deployment in mode `sandbox` (extensions.agents.x-k8s.io/v1beta1): a
SandboxTemplate holding the same hardened pod as the Knative Service, and a SandboxWarmPool keeping
`scale.warmPool` sandboxes of it ready for the router to claim one per run.

The template asks for a headless Service per sandbox (`service: true`) so the router reaches a
claimed sandbox by its `status.serviceFQDN`. Its network policy is left to the deployment's own
NetworkPolicy (`networkPolicyManagement: Unmanaged`), which selects sandbox pods by the deployment
label like function pods. Claims may not inject environment (`envVarsInjectionPolicy: Disallowed`):
configuration comes from the template's Secret references only. The pool replaces warm sandboxes
when the template changes (`Recreate`), so a rollout or rollback never hands out the old image.
"""

from __future__ import annotations

from typing import Any

from contracts import k8s
from knative import pods, specs
from knative.settings import OperatorSettings


def build_template(deployment: specs.AgentDeployment, settings: OperatorSettings) -> dict[str, Any]:
    return {
        "apiVersion": k8s.SANDBOX_EXTENSIONS_API_VERSION,
        "kind": k8s.SANDBOX_TEMPLATE_KIND,
        "metadata": {
            "name": deployment.name,
            "namespace": deployment.namespace,
            "labels": pods.labels(deployment, k8s.COMPONENT_SANDBOX),
            "annotations": {k8s.ANNOTATION_IMAGE: deployment.spec.image},
        },
        "spec": {
            "podTemplate": {
                "metadata": {
                    "labels": pods.pod_labels(deployment, k8s.COMPONENT_SANDBOX),
                    "annotations": pods.pod_annotations(deployment),
                },
                "spec": pods.pod_spec(deployment, settings, probe_port=True),
            },
            "service": True,
            "networkPolicyManagement": "Unmanaged",
            "envVarsInjectionPolicy": "Disallowed",
        },
    }


def build_warm_pool(deployment: specs.AgentDeployment) -> dict[str, Any]:
    return {
        "apiVersion": k8s.SANDBOX_EXTENSIONS_API_VERSION,
        "kind": k8s.SANDBOX_WARM_POOL_KIND,
        "metadata": {
            "name": deployment.name,
            "namespace": deployment.namespace,
            "labels": pods.labels(deployment, k8s.COMPONENT_SANDBOX),
        },
        "spec": {
            "replicas": deployment.spec.scale.warm_pool,
            "sandboxTemplateRef": {"name": deployment.name},
            "updateStrategy": {"type": "Recreate"},
        },
    }

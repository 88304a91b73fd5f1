"""The Knative Service of a deployment in mode `function`: scale-to-zero by default.

Knative admits `runtimeClassName` only when its `config-features` ConfigMap (namespace
knative-serving) sets `kubernetes.podspec-runtimeclassname: "enabled"` (default disabled; it cannot
safely be disabled again once services use it). The Helm chart documents this; without it Knative's
webhook refuses every Service this module builds. `emptyDir` volumes (for /tmp) are enabled by
default (`kubernetes.podspec-volumes-emptydir`); the pod `securityContext` fields beyond the defaults
need `kubernetes.podspec-securitycontext: "enabled"` as well.
"""

from __future__ import annotations

from typing import Any

from contracts import k8s
from knative import pods, specs
from knative.settings import OperatorSettings

SCALE_METRIC = "concurrency"


def autoscaling_annotations(scale: specs.Scale) -> dict[str, str]:
    """Knative revision-template annotations for `scale` (values are strings, as Knative wants)."""
    return {
        k8s.AUTOSCALING_METRIC: SCALE_METRIC,
        k8s.AUTOSCALING_MIN_SCALE: str(scale.min_scale),
        k8s.AUTOSCALING_MAX_SCALE: str(scale.max_scale),
        k8s.AUTOSCALING_TARGET: str(scale.target),
        k8s.AUTOSCALING_RETENTION: f"{scale.retention_seconds}s",
    }


def build_service(deployment: specs.AgentDeployment, settings: OperatorSettings) -> dict[str, Any]:
    """The `serving.knative.dev/v1` Service running `deployment`'s image."""
    spec = deployment.spec
    labels = pods.labels(deployment, k8s.COMPONENT_FUNCTION)
    if settings.cluster_local:
        labels[k8s.KNATIVE_VISIBILITY_LABEL] = k8s.KNATIVE_VISIBILITY_CLUSTER_LOCAL
    template_spec = {
        **pods.pod_spec(deployment, settings, probe_port=False),
        "containerConcurrency": spec.scale.container_concurrency,
        "timeoutSeconds": spec.run_timeout_seconds,
    }
    return {
        "apiVersion": k8s.KNATIVE_API_VERSION,
        "kind": k8s.KNATIVE_SERVICE_KIND,
        "metadata": {
            "name": deployment.name,
            "namespace": deployment.namespace,
            "labels": labels,
            "annotations": {k8s.ANNOTATION_IMAGE: spec.image},
        },
        "spec": {
            "template": {
                "metadata": {
                    "labels": pods.pod_labels(deployment, k8s.COMPONENT_FUNCTION),
                    "annotations": {
                        **autoscaling_annotations(spec.scale),
                        **pods.pod_annotations(deployment),
                    },
                },
                "spec": template_spec,
            },
        },
    }

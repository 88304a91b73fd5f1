"""The NetworkPolicy of a deployment: its pods (Knative revision pods and sandbox pods alike, selected
by the deployment label) may open connections only to the cluster DNS, Postgres, Redis and the
deployment's own allowlist. Ingress is not restricted here: Knative's activator and queue-proxy and
the router must reach the pods, and the chart's own policies govern the namespace's ingress."""

from __future__ import annotations

from typing import Any

from contracts import k8s
from knative import pods, specs
from knative.settings import OperatorSettings

DNS_PORT = 53


def _ip_rule(cidrs: list[str], port: int) -> dict[str, Any]:
    return {
        "to": [{"ipBlock": {"cidr": cidr}} for cidr in cidrs],
        "ports": [{"protocol": "TCP", "port": port}],
    }


def _allow_rule(rule: specs.EgressRule) -> dict[str, Any]:
    block: dict[str, Any] = {"cidr": rule.cidr}
    if rule.except_:
        block["except"] = list(rule.except_)
    out: dict[str, Any] = {"to": [{"ipBlock": block}]}
    if rule.ports:
        out["ports"] = [{"protocol": p.protocol, "port": p.port} for p in rule.ports]
    return out


def egress_rules(deployment: specs.AgentDeployment, settings: OperatorSettings) -> list[dict[str, Any]]:
    """DNS, Postgres, Redis, then the allowlist, in that order; nothing else leaves the pods."""
    dns = {
        "to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": dict(settings.dns_pod_labels)}}],
        "ports": [{"protocol": "UDP", "port": DNS_PORT}, {"protocol": "TCP", "port": DNS_PORT}],
    }
    return [
        dns,
        _ip_rule(settings.postgres_cidrs, settings.postgres_port),
        _ip_rule(settings.redis_cidrs, settings.redis_port),
        *(_allow_rule(rule) for rule in deployment.spec.egress),
    ]


def build_network_policy(deployment: specs.AgentDeployment, settings: OperatorSettings) -> dict[str, Any]:
    """The `networking.k8s.io/v1` NetworkPolicy that denies `deployment`'s pods all other egress."""
    component = k8s.COMPONENT_SANDBOX if deployment.spec.mode == k8s.MODE_SANDBOX else k8s.COMPONENT_FUNCTION
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": deployment.name,
            "namespace": deployment.namespace,
            "labels": pods.labels(deployment, component),
        },
        "spec": {
            "podSelector": {"matchLabels": {k8s.LABEL_DEPLOYMENT: deployment.name}},
            "policyTypes": ["Egress"],
            "egress": egress_rules(deployment, settings),
        },
    }

from __future__ import annotations

from typing import Any

import pytest

from contracts import k8s
from knative import policies, specs
from knative.settings import OperatorSettings
from tests.k8s import schemas
from tests.knative.conftest import agent_deployment

SETTINGS = OperatorSettings(postgres_cidrs=["10.1.0.5/32"], redis_cidrs=["10.2.0.0/24"], redis_port=6380)


def build(**spec: Any) -> dict[str, Any]:
    return policies.build_network_policy(specs.parse(agent_deployment(**spec)), SETTINGS)


def test_selects_the_deployments_pods_and_restricts_egress_only() -> None:
    policy = build()
    assert policy["spec"]["podSelector"] == {"matchLabels": {k8s.LABEL_DEPLOYMENT: "chat"}}
    assert policy["spec"]["policyTypes"] == ["Egress"]


def test_default_allows_only_dns_postgres_and_redis() -> None:
    dns, postgres, redis = build()["spec"]["egress"]
    assert dns["to"] == [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}]
    assert {(p["protocol"], p["port"]) for p in dns["ports"]} == {("UDP", 53), ("TCP", 53)}
    assert postgres == {
        "to": [{"ipBlock": {"cidr": "10.1.0.5/32"}}],
        "ports": [{"protocol": "TCP", "port": 5432}],
    }
    assert redis == {
        "to": [{"ipBlock": {"cidr": "10.2.0.0/24"}}],
        "ports": [{"protocol": "TCP", "port": 6380}],
    }


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"cidr": "1.2.3.0/24"}, {"to": [{"ipBlock": {"cidr": "1.2.3.0/24"}}]}),
        (
            {
                "cidr": "0.0.0.0/0",
                "except": ["10.0.0.0/8"],
                "ports": [{"port": 443}, {"port": 53, "protocol": "UDP"}],
            },
            {
                "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}],
                "ports": [{"protocol": "TCP", "port": 443}, {"protocol": "UDP", "port": 53}],
            },
        ),
    ],
)
def test_allowlist_rules_follow_the_fixed_ones(rule: dict[str, Any], expected: dict[str, Any]) -> None:
    egress = build(egress=[rule])["spec"]["egress"]
    assert len(egress) == 4
    assert egress[3] == expected


@pytest.mark.parametrize(
    "spec",
    [
        {},
        {"egress": [{"cidr": "0.0.0.0/0", "except": ["169.254.0.0/16"], "ports": [{"port": 443}]}]},
        {"mode": "sandbox"},
    ],
)
def test_policy_validates_with_kubernetes_validate_strict(spec: dict[str, Any]) -> None:
    schemas.validate_core(build(**spec))

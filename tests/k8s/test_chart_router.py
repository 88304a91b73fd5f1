"""The chart's router for each function target (url, knative, sandbox): what it renders, what its values
schema refuses, and its RBAC checked by impersonating its ServiceAccount — exactly what the target's
code (router/dispatch/knative.py, sandbox.py) calls and nothing more. The lint, validation and install
tests of tests/k8s/test_chart.py cover ci/knative-values.yaml and ci/sandbox-values.yaml too."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import kubernetes
import pytest

from contracts import k8s
from router.dispatch import knative
from tests.k8s import schemas, test_chart
from tests.k8s.cluster import Cluster
from tests.k8s.test_chart import CHART, RELEASE, Helm, by_kind, can_i, install_secrets, plain, render

helm = test_chart.helm  # the module's helm fixture, shared

TARGET_VALUES = {
    "url": "default-values.yaml",
    "knative": "knative-values.yaml",
    "sandbox": "sandbox-values.yaml",
}
AD = f"{k8s.PLURAL}.{k8s.GROUP}"
CLAIMS = f"{k8s.SANDBOX_CLAIM_PLURAL}.{k8s.SANDBOX_EXTENSIONS_GROUP}"
SANDBOXES = f"{k8s.SANDBOX_PLURAL}.{k8s.SANDBOX_GROUP}"
# What each target's code calls: reads are a get, waits a get then a watch (never a plain list).
ROUTER_NEEDS: dict[str, set[tuple[str, str]]] = {
    "url": set(),
    "knative": {("get", AD), ("watch", AD)},
    "sandbox": {
        ("get", AD),
        *[(verb, CLAIMS) for verb in ("create", "get", "watch", "delete")],
        ("get", SANDBOXES),
        ("watch", SANDBOXES),
    },
}
# Everything checked: every verb on every resource the router could plausibly touch.
VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
RESOURCES = (
    AD, f"{AD}/status", CLAIMS, SANDBOXES, f"{SANDBOXES}/status",
    f"{k8s.SANDBOX_WARM_POOL_PLURAL}.{k8s.SANDBOX_EXTENSIONS_GROUP}",
    f"{k8s.SANDBOX_TEMPLATE_PLURAL}.{k8s.SANDBOX_EXTENSIONS_GROUP}",
    f"{k8s.KNATIVE_SERVICE_PLURAL}.{k8s.KNATIVE_GROUP}", "secrets", "pods", "configmaps", "serviceaccounts",
)  # fmt: skip


def router_of(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next(d for d in by_kind(docs, kind) if d["metadata"]["name"] == f"{RELEASE}-langopen-router")


@pytest.mark.parametrize("target", sorted(TARGET_VALUES))
def test_each_target_renders_its_settings_token_and_role(helm: Helm, target: str) -> None:
    docs = render(helm, TARGET_VALUES[target], "1.33.0")

    for doc in docs:
        schemas.validate_core(doc)
    data = router_of(docs, "ConfigMap")["data"]
    assert data["LANGOPEN_FUNCTION_TARGET"] == target
    cluster_target = target != "url"
    assert ("LANGOPEN_FUNCTION_URL" in data) is not cluster_target
    assert data.get("LANGOPEN_AGENT_DEPLOYMENT") == ("chat" if cluster_target else None)
    expected_namespace = {"url": None, "knative": "langopen", "sandbox": "agents"}[target]
    assert data.get("LANGOPEN_KUBE_NAMESPACE") == expected_namespace
    assert router_of(docs, "ServiceAccount")["automountServiceAccountToken"] is cluster_target
    pod = router_of(docs, "Deployment")["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is cluster_target
    roles = [r for r in by_kind(docs, "Role") if r["metadata"]["name"] == f"{RELEASE}-langopen-router"]
    bindings = [
        b for b in by_kind(docs, "RoleBinding") if b["metadata"]["name"] == f"{RELEASE}-langopen-router"
    ]
    if not cluster_target:
        assert roles == bindings == []
        return
    [role], [binding] = roles, bindings
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == expected_namespace
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": f"{RELEASE}-langopen-router", "namespace": "langopen"}
    ]
    granted = {
        (verb, f"{res}.{group}" if group else res)
        for rule in role["rules"]
        for group, res, verb in itertools.product(rule["apiGroups"], rule["resources"], rule["verbs"])
    }
    assert granted == ROUTER_NEEDS[target]
    policy = next(p for p in by_kind(docs, "NetworkPolicy") if p["metadata"]["name"].endswith("-router"))
    assert {"cidr": "0.0.0.0/0"} in [
        peer.get("ipBlock") for rule in policy["spec"]["egress"] for peer in rule["to"]
    ]


def test_router_egress_to_the_api_server_only_with_a_cluster_target(helm: Helm) -> None:
    policy = next(
        p for p in by_kind(render(helm, "default-values.yaml", "1.33.0"), "NetworkPolicy")
        if p["metadata"]["name"].endswith("-router")
    )  # fmt: skip

    assert {"cidr": "0.0.0.0/0"} not in [
        peer.get("ipBlock") for rule in policy["spec"]["egress"] for peer in rule["to"]
    ]


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        ([], "router.functionUrl: String length must be greater than or equal to 1"),
        (["router.functionTarget=knative"], "router.agentDeployment: String length must be greater than or equal to 1"),
        (["router.functionTarget=sandbox", "router.functionUrl=http://a"], "router.agentDeployment: String length"),
        (["router.functionTarget=lambda"], "router.functionTarget must be one of the following"),
        (["router.functionTarget=knative", "router.agentDeployment=Chat_1"], "router.agentDeployment: Does not match"),
        (["router.functionUrl=http://a", "router.env.LANGOPEN_KUBE_NAMESPACE=x"], "Must not validate the schema (not)"),
    ],
)  # fmt: skip
def test_values_schema_requires_what_the_target_needs(
    helm: Helm, overrides: list[str], complaint: str
) -> None:
    result = helm("lint", "--strict", str(CHART), *[f"--set={o}" for o in overrides], check=False)

    assert result.returncode != 0
    assert complaint in result.stdout + result.stderr


def install_router(helm: Helm, cluster: Cluster, namespace: str, target: str, agents: str) -> None:
    install_secrets(cluster, namespace)
    helm(
        "install", RELEASE, str(CHART), "-n", namespace, "-f", str(CHART / "ci" / TARGET_VALUES[target]),
        "--set", "operator.enabled=false", "--set", f"router.agentNamespace={agents}", cluster=cluster,
    )  # fmt: skip


@pytest.mark.parametrize("target", sorted(TARGET_VALUES))
def test_router_can_do_what_its_target_needs_and_nothing_more(
    helm: Helm, cluster: Cluster, namespace: str, target: str
) -> None:
    agents, elsewhere = cluster.namespace_factory(), cluster.namespace_factory()
    install_router(helm, cluster, namespace, target, agents)
    router = f"system:serviceaccount:{namespace}:{RELEASE}-langopen-router"
    try:
        for where, needs in ((agents, ROUTER_NEEDS[target]), (namespace, set()), (elsewhere, set())):
            allowed = {
                (verb, res)
                for verb, res in itertools.product(VERBS, RESOURCES)
                if can_i(cluster, router, verb, res, where)
            }
            assert allowed == needs, where
        assert not can_i(cluster, router, "list", "namespaces", "")
        with cluster.api_client() as api:
            account = plain(
                api,
                kubernetes.client.CoreV1Api(api).read_namespaced_service_account(
                    f"{RELEASE}-langopen-router", namespace
                ),
            )
        assert account["automountServiceAccountToken"] is (target != "url")
    finally:
        helm("uninstall", RELEASE, "-n", namespace, cluster=cluster)


async def test_knative_target_resolves_with_exactly_the_charts_permissions(
    helm: Helm, cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    """router/dispatch/knative.py authenticated as the chart's router ServiceAccount: it reads the
    AgentDeployment, watches it until Ready, and returns its URL without one 403."""
    agents = cluster.namespace_factory()
    install_router(helm, cluster, namespace, "knative", agents)
    kubeconfig = test_chart.service_account_kubeconfig(
        cluster, namespace, f"{RELEASE}-langopen-router", tmp_path / "kubeconfig"
    )
    body = {
        "apiVersion": k8s.API_VERSION,
        "kind": k8s.KIND,
        "metadata": {"name": "chat"},
        "spec": {"image": f"registry.example/apps/chat@sha256:{'a' * 64}", "graphs": ["agent"]},
    }
    status = {
        "status": {
            k8s.STATUS_URL: "http://chat.agents.svc.cluster.local",
            k8s.STATUS_CONDITIONS: [{"type": k8s.CONDITION_READY, "status": "True"}],
        }
    }
    target = knative.KnativeTarget(
        knative.KubeConnection(kubeconfig), namespace=agents, name="chat", resolve_timeout_seconds=20
    )
    try:
        with cluster.api_client() as api:
            objects = kubernetes.client.CustomObjectsApi(api)
            objects.create_namespaced_custom_object(k8s.GROUP, k8s.VERSION, agents, k8s.PLURAL, body)
            resolving = asyncio.create_task(target.resolve())  # not Ready yet: it reads, then watches
            await asyncio.sleep(1)
            assert not resolving.done()
            objects.patch_namespaced_custom_object_status(
                k8s.GROUP, k8s.VERSION, agents, k8s.PLURAL, "chat", status
            )
            url = await resolving
    finally:
        await target.aclose()
        helm("uninstall", RELEASE, "-n", namespace, cluster=cluster)

    assert url == "http://chat.agents.svc.cluster.local"

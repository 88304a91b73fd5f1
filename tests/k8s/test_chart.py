"""The Helm chart (knative/chart): lint, render, validate every object, install into the 1.20 test
cluster, upgrade, uninstall, and check its RBAC by impersonating its ServiceAccounts."""

from __future__ import annotations

import base64
import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import kopf.testing
import kubernetes
import pytest
import yaml

from tests.k8s import schemas
from tests.k8s.cluster import REPO_ROOT, Cluster

CHART = REPO_ROOT / "knative" / "chart"
VALUE_SETS = sorted(p.name for p in (CHART / "ci").glob("*-values.yaml"))
# Oldest supported (the test cluster's) and a current Kubernetes: the chart picks API versions by them.
KUBE_VERSIONS = ("1.20.0", "1.33.0")
RELEASE = "lo"

Helm = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def helm(k8s_tools: Path, tmp_path_factory: pytest.TempPathFactory) -> Helm:
    home = tmp_path_factory.mktemp("helm-home")
    env = {
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
        "HOME": str(home),  # client-go's discovery cache goes to $HOME/.kube, never into the repository
        "PATH": "/usr/bin:/bin",
    }

    def run(
        *args: str, cluster: Cluster | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        full_env = {**env, "KUBECONFIG": str(cluster.kubeconfig) if cluster else "/dev/null"}
        result = subprocess.run(
            [str(k8s_tools / "helm"), *args], capture_output=True, text=True, env=full_env, timeout=120
        )
        if check:
            assert result.returncode == 0, f"helm {' '.join(args)}\n{result.stdout}\n{result.stderr}"
        return result

    return run


def render(helm: Helm, values: str, kube_version: str, *extra: str) -> list[dict[str, Any]]:
    out = helm(
        "template", RELEASE, str(CHART), "-n", "langopen", "-f", str(CHART / "ci" / values),
        "--kube-version", kube_version, *extra,
    ).stdout  # fmt: skip
    return [doc for doc in yaml.safe_load_all(out) if doc]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def kubectl(
    tools: Path, cluster: Cluster, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(tools / "kubectl"), *args], capture_output=True, text=True, env=cluster.kubectl_env(), timeout=60
    )
    if check:
        assert result.returncode == 0, f"kubectl {' '.join(args)}\n{result.stdout}\n{result.stderr}"
    return result


# --- static: lint and render ------------------------------------------------------------------


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("values", VALUE_SETS)
def test_chart_lints_strictly(helm: Helm, values: str, kube_version: str) -> None:
    result = helm(
        "lint", "--strict", str(CHART), "-f", str(CHART / "ci" / values), "--kube-version", kube_version
    )

    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize(
    ("override", "complaint"),
    [
        ("router.port=0", "router.port: Must be greater than or equal to 1"),
        ("image.digest=latest", "image.digest: Does not match pattern"),
        ("router.autoscalling.enabled=false", "Additional property autoscalling is not allowed"),
        ("runtimeClasses.gvisor.handler=Run SC", "runtimeClasses.gvisor.handler: Does not match pattern"),
    ],
)
def test_values_schema_rejects_bad_values(helm: Helm, override: str, complaint: str) -> None:
    result = helm(
        "lint", "--strict", str(CHART), "-f", str(CHART / "ci" / "default-values.yaml"), "--set", override,
        check=False,
    )  # fmt: skip

    assert result.returncode != 0
    assert complaint in result.stdout + result.stderr


def test_function_url_is_required_by_default(helm: Helm) -> None:
    result = helm("template", RELEASE, str(CHART), check=False)

    assert result.returncode != 0
    assert "router.functionUrl: String length must be greater than or equal to 1" in result.stderr


@pytest.mark.parametrize("values", VALUE_SETS)
def test_current_cluster_rendering_is_valid_for_kubernetes_validate_strict(helm: Helm, values: str) -> None:
    docs = render(helm, values, "1.33.0")

    assert docs
    for doc in docs:
        schemas.validate_core(doc)


@pytest.mark.parametrize("values", VALUE_SETS)
def test_old_apis_are_used_only_on_clusters_without_the_new_ones(helm: Helm, values: str) -> None:
    old = {d["kind"]: d["apiVersion"] for d in render(helm, values, "1.20.0")}
    new = {d["kind"]: d["apiVersion"] for d in render(helm, values, "1.33.0")}

    if "PodDisruptionBudget" in new:
        assert (old["PodDisruptionBudget"], new["PodDisruptionBudget"]) == ("policy/v1beta1", "policy/v1")
    if "HorizontalPodAutoscaler" in new:
        assert old["HorizontalPodAutoscaler"] == "autoscaling/v2beta2"
        assert new["HorizontalPodAutoscaler"] == "autoscaling/v2"
    if "RuntimeClass" in new:
        assert old["RuntimeClass"] == new["RuntimeClass"] == "node.k8s.io/v1"


def test_default_rendering_has_every_component(helm: Helm) -> None:
    kinds = sorted(d["kind"] for d in render(helm, "default-values.yaml", "1.33.0"))

    assert kinds == sorted(
        ["ConfigMap", "ConfigMap", "Deployment", "Deployment", "Service", "ServiceAccount", "ServiceAccount",
         "PodDisruptionBudget", "HorizontalPodAutoscaler", "ClusterRole", "ClusterRoleBinding",
         "NetworkPolicy", "NetworkPolicy", "ClusterRole", "ClusterRoleBinding"]
    )  # fmt: skip


def test_no_secret_is_rendered_and_store_urls_come_from_existing_secrets(helm: Helm) -> None:
    docs = render(helm, "namespaced-values.yaml", "1.33.0", "--set", "postgres.existingSecret=pg")

    assert not by_kind(docs, "Secret")
    router = next(d for d in by_kind(docs, "Deployment") if d["metadata"]["name"].endswith("-router"))
    env = {e["name"]: e for e in router["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["DATABASE_URL"] == {
        "name": "DATABASE_URL",
        "valueFrom": {"secretKeyRef": {"name": "pg", "key": "url"}},
    }
    assert env["REDIS_URL"]["valueFrom"]["secretKeyRef"] == {"name": "langopen-redis", "key": "url"}
    for cm in by_kind(docs, "ConfigMap"):
        assert not any("postgresql://" in str(v) or "redis://" in str(v) for v in cm["data"].values())


def test_pods_run_non_root_read_only_and_the_router_has_no_token(helm: Helm) -> None:
    docs = render(helm, "default-values.yaml", "1.33.0")

    for deployment in by_kind(docs, "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        container = pod["containers"][0]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert container["image"] == "ghcr.io/langopen/langopen:0.1.0"
    router = next(d for d in by_kind(docs, "Deployment") if d["metadata"]["name"].endswith("-router"))
    assert router["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
    assert "replicas" not in router["spec"]  # the HPA owns the count


def test_digest_pins_the_image_and_namespaces_limit_the_operator(helm: Helm) -> None:
    docs = render(helm, "namespaced-values.yaml", "1.33.0")

    operator = next(d for d in by_kind(docs, "Deployment") if d["metadata"]["name"].endswith("-operator"))
    container = operator["spec"]["template"]["spec"]["containers"][0]
    assert container["image"].startswith("ghcr.io/langopen/langopen@sha256:0123")
    assert container["command"][:3] == ["python", "-m", "knative.operator"]
    assert "--namespace=agents" in container["command"]
    assert "--namespace=agents-staging" in container["command"]
    assert "--all-namespaces" not in container["command"]
    assert sorted(r["metadata"]["namespace"] for r in by_kind(docs, "Role")) == ["agents", "agents-staging"]
    [kopf_role] = by_kind(docs, "ClusterRole")  # kopf's observation of CRDs and namespaces, read-only
    assert {v for rule in kopf_role["rules"] for v in rule["verbs"]} == {"list", "watch"}
    assert sorted(rc["handler"] for rc in by_kind(docs, "RuntimeClass")) == ["kata-qemu", "runsc"]


# --- against the test cluster --------------------------------------------------------------


def test_the_1_20_rendering_is_accepted_by_a_1_20_api_server(
    helm: Helm, cluster: Cluster, namespace: str, k8s_tools: Path
) -> None:
    """kubernetes-validate has no schemas for 1.20 (nor for policy/v1beta1): the real 1.20 server judges."""
    out = helm(
        "template", RELEASE, str(CHART), "-n", namespace, "-f", str(CHART / "ci" / "namespaced-values.yaml"),
        "--kube-version", "1.20.0", "--set", f"operator.watchNamespaces={{{namespace}}}",
    ).stdout  # fmt: skip
    manifest = Path(cluster.workdir) / f"render-{namespace}.yaml"
    manifest.write_text(out)

    result = kubectl(k8s_tools, cluster, "create", "--dry-run=server", "-n", namespace, "-f", str(manifest))

    assert "PodDisruptionBudget" not in result.stderr
    assert result.stdout.count("created (server dry run)") == len([d for d in yaml.safe_load_all(out) if d])


def plain(api: kubernetes.client.ApiClient, obj: object) -> Any:
    """A client model (or dict) as the JSON-like value the API server sent."""
    return api.sanitize_for_serialization(obj)  # type: ignore[no-untyped-call]  # untyped in kubernetes


def install_secrets(cluster: Cluster, namespace: str) -> None:
    with cluster.api_client() as api:
        core = kubernetes.client.CoreV1Api(api)
        for name, url in (
            ("langopen-postgres", "postgresql://pg:5432/lo"),
            ("langopen-redis", "redis://redis:6379/0"),
        ):
            secret = kubernetes.client.V1Secret(
                metadata=kubernetes.client.V1ObjectMeta(name=name), string_data={"url": url}
            )
            core.create_namespaced_secret(namespace, secret)


def test_install_upgrade_uninstall(helm: Helm, cluster: Cluster, namespace: str) -> None:
    install_secrets(cluster, namespace)
    values = str(CHART / "ci" / "default-values.yaml")
    helm("install", RELEASE, str(CHART), "-n", namespace, "-f", values, cluster=cluster)

    with cluster.api_client() as api:
        deployments = plain(api, kubernetes.client.AppsV1Api(api).list_namespaced_deployment(namespace))
        names = sorted(d["metadata"]["name"] for d in deployments["items"])
        assert names == [f"{RELEASE}-langopen-operator", f"{RELEASE}-langopen-router"]

    # The 1.20 server's discovery chose the API versions.
    manifest = helm("get", "manifest", RELEASE, "-n", namespace, cluster=cluster).stdout
    kinds = {d["kind"]: d["apiVersion"] for d in yaml.safe_load_all(manifest) if d}
    assert kinds["PodDisruptionBudget"] == "policy/v1beta1"
    assert kinds["HorizontalPodAutoscaler"] == "autoscaling/v2beta2"

    helm(
        "upgrade", RELEASE, str(CHART), "-n", namespace, "-f", values,
        "--set", "router.autoscaling.enabled=false", "--set", "router.replicaCount=3", cluster=cluster,
    )  # fmt: skip
    with cluster.api_client() as api:
        router = plain(
            api,
            kubernetes.client.AppsV1Api(api).read_namespaced_deployment(
                f"{RELEASE}-langopen-router", namespace
            ),
        )
        assert router["spec"]["replicas"] == 3
        listed = plain(api, kubernetes.client.CoreV1Api(api).list_namespaced_secret(namespace))["items"]
        assert sorted(s["metadata"]["name"] for s in listed if s["type"] == "helm.sh/release.v1") == [
            f"sh.helm.release.v1.{RELEASE}.v1",
            f"sh.helm.release.v1.{RELEASE}.v2",
        ]

    helm("uninstall", RELEASE, "-n", namespace, cluster=cluster)
    with cluster.api_client() as api:
        assert not plain(api, kubernetes.client.AppsV1Api(api).list_namespaced_deployment(namespace))["items"]
        roles = plain(
            api,
            kubernetes.client.RbacAuthorizationV1Api(api).list_cluster_role(
                label_selector=f"app.kubernetes.io/instance={RELEASE}"
            ),
        )
        assert not [r for r in roles["items"] if namespace in r["metadata"]["name"]]


# --- RBAC by impersonation -------------------------------------------------------------------

# (verb, resource, subresource-or-empty) the operator must be able to do in any watched namespace.
OPERATOR_CAN = [
    *[(v, "agentdeployments.langopen.dev") for v in ("get", "list", "watch", "patch")],
    *[(v, "agentdeployments.langopen.dev/status") for v in ("get", "patch")],
    *[(v, "services.serving.knative.dev") for v in ("get", "list", "watch", "create", "update", "delete")],
    *[
        (v, "sandboxwarmpools.extensions.agents.x-k8s.io")
        for v in ("get", "list", "watch", "create", "update", "delete")
    ],
    *[(v, "sandboxtemplates.extensions.agents.x-k8s.io") for v in ("get", "create", "update", "delete")],
    *[(v, "networkpolicies.networking.k8s.io") for v in ("get", "create", "update", "delete")],
    ("create", "events"),
]
# kopf's own, cluster-wide and read-only (namespaces only when limited to namespaces).
KOPF_CAN = [
    ("list", "customresourcedefinitions.apiextensions.k8s.io"),
    ("watch", "customresourcedefinitions.apiextensions.k8s.io"),
]
OPERATOR_CANNOT = [
    ("create", "agentdeployments.langopen.dev"),
    ("delete", "agentdeployments.langopen.dev"),
    ("update", "agentdeployments.langopen.dev"),
    ("get", "secrets"),
    ("list", "secrets"),
    ("create", "pods"),
    ("get", "configmaps"),
    ("create", "deployments.apps"),
    ("create", "sandboxclaims.extensions.agents.x-k8s.io"),
    ("create", "sandboxes.agents.x-k8s.io"),
    ("patch", "services.serving.knative.dev"),
    ("list", "networkpolicies.networking.k8s.io"),
    ("delete", "events"),
    ("create", "roles.rbac.authorization.k8s.io"),
    ("impersonate", "serviceaccounts"),
    ("*", "*"),
    ("create", "customresourcedefinitions.apiextensions.k8s.io"),
    ("get", "customresourcedefinitions.apiextensions.k8s.io"),
    ("list", "namespaces"),
]


def can_i(cluster: Cluster, sa: str, verb: str, resource: str, namespace: str) -> bool:
    """`kubectl auth can-i VERB RESOURCE --as=SA`: a SelfSubjectAccessReview sent while impersonating SA."""
    resource, _, subresource = resource.partition("/")
    plural, _, group = resource.partition(".")
    with cluster.api_client() as api:
        api.set_default_header("Impersonate-User", sa)
        attributes = kubernetes.client.V1ResourceAttributes(
            namespace=namespace, verb=verb, group=group, resource=plural, subresource=subresource
        )
        spec = kubernetes.client.V1SelfSubjectAccessReviewSpec(resource_attributes=attributes)
        review = kubernetes.client.AuthorizationV1Api(api).create_self_subject_access_review(
            kubernetes.client.V1SelfSubjectAccessReview(spec=spec)
        )
        return bool(plain(api, review)["status"]["allowed"])


def test_operator_can_do_what_it_needs_and_nothing_more(
    helm: Helm, cluster: Cluster, namespace: str, k8s_tools: Path
) -> None:
    install_secrets(cluster, namespace)
    helm(
        "install",
        RELEASE,
        str(CHART),
        "-n",
        namespace,
        "-f",
        str(CHART / "ci" / "default-values.yaml"),
        cluster=cluster,
    )
    operator = f"system:serviceaccount:{namespace}:{RELEASE}-langopen-operator"
    elsewhere = cluster.namespace_factory()
    try:
        for where in (namespace, elsewhere):  # cluster-wide by default
            allowed = {
                (verb, res) for verb, res in OPERATOR_CAN if can_i(cluster, operator, verb, res, where)
            }
            assert allowed == set(OPERATOR_CAN)
            assert all(can_i(cluster, operator, verb, res, where) for verb, res in KOPF_CAN)
            denied = [
                (verb, res) for verb, res in OPERATOR_CANNOT if can_i(cluster, operator, verb, res, where)
            ]
            assert denied == []
        rules = json.loads(
            kubectl(
                k8s_tools,
                cluster,
                "get",
                "clusterrole",
                f"{RELEASE}-langopen-operator-{namespace}",
                "-o",
                "json",
            ).stdout
        )["rules"]
        granted = {
            (g, r, v)
            for rule in rules
            for g in rule["apiGroups"]
            for r in rule["resources"]
            for v in rule["verbs"]
        }
        assert not any("*" in item for item in granted)
    finally:
        helm("uninstall", RELEASE, "-n", namespace, cluster=cluster)


def test_router_account_has_no_api_access(
    helm: Helm, cluster: Cluster, namespace: str, k8s_tools: Path
) -> None:
    install_secrets(cluster, namespace)
    helm(
        "install",
        RELEASE,
        str(CHART),
        "-n",
        namespace,
        "-f",
        str(CHART / "ci" / "router-only-values.yaml"),
        cluster=cluster,
    )
    router = f"system:serviceaccount:{namespace}:{RELEASE}-langopen-router"
    try:
        for verb, res in [("get", "secrets"), ("list", "pods"), ("get", "agentdeployments.langopen.dev"),
                          ("create", "sandboxclaims.extensions.agents.x-k8s.io"), ("get", "configmaps")]:  # fmt: skip
            assert not can_i(cluster, router, verb, res, namespace)
    finally:
        helm("uninstall", RELEASE, "-n", namespace, cluster=cluster)


def test_namespaced_operator_is_confined_to_its_namespaces(
    helm: Helm, cluster: Cluster, namespace: str, k8s_tools: Path
) -> None:
    install_secrets(cluster, namespace)
    watched, other = cluster.namespace_factory(), cluster.namespace_factory()
    helm(
        "install", RELEASE, str(CHART), "-n", namespace, "-f", str(CHART / "ci" / "default-values.yaml"),
        "--set", f"operator.watchNamespaces={{{watched}}}", cluster=cluster,
    )  # fmt: skip
    operator = f"system:serviceaccount:{namespace}:{RELEASE}-langopen-operator"
    try:
        assert can_i(cluster, operator, "create", "services.serving.knative.dev", watched)
        assert can_i(cluster, operator, "watch", "agentdeployments.langopen.dev", watched)
        assert not can_i(cluster, operator, "create", "services.serving.knative.dev", other)
        assert not can_i(cluster, operator, "list", "agentdeployments.langopen.dev", other)
        assert can_i(cluster, operator, "watch", "namespaces", "")  # kopf learns which namespaces exist
    finally:
        helm("uninstall", RELEASE, "-n", namespace, cluster=cluster)


def service_account_kubeconfig(cluster: Cluster, namespace: str, name: str, path: Path) -> Path:
    """A kubeconfig authenticating as the ServiceAccount with its own token (1.20's token controller
    mints one Secret per ServiceAccount)."""
    with cluster.api_client() as api:
        core = kubernetes.client.CoreV1Api(api)
        deadline = time.monotonic() + 30
        while not (
            secrets := plain(api, core.read_namespaced_service_account(name, namespace)).get("secrets")
        ):
            assert time.monotonic() < deadline, "no token Secret for the ServiceAccount"
            time.sleep(0.1)
        secret = plain(api, core.read_namespaced_secret(secrets[0]["name"], namespace))
        token = base64.b64decode(secret["data"]["token"]).decode()
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    config["users"] = [{"name": "admin", "user": {"token": token}}]
    path.write_text(yaml.safe_dump(config))
    return path


def test_the_operator_works_with_exactly_the_charts_permissions(
    helm: Helm, cluster: Cluster, namespace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """knative/operator.py under KopfRunner, authenticated as the chart's operator ServiceAccount: it
    reconciles and rolls back an AgentDeployment without one 403."""
    install_secrets(cluster, namespace)
    helm(
        "install",
        RELEASE,
        str(CHART),
        "-n",
        namespace,
        "-f",
        str(CHART / "ci" / "default-values.yaml"),
        cluster=cluster,
    )
    sa = f"{RELEASE}-langopen-operator"
    monkeypatch.setenv(
        "KUBECONFIG", str(service_account_kubeconfig(cluster, namespace, sa, tmp_path / "kubeconfig"))
    )
    image_a, image_b = (f"registry.example/apps/chat@sha256:{c * 64}" for c in "ab")
    body = {
        "apiVersion": "langopen.dev/v1alpha1",
        "kind": "AgentDeployment",
        "metadata": {"name": "chat"},
        "spec": {"image": image_a, "graphs": ["agent"]},
    }
    argv = ["run", "--standalone", "--all-namespaces", "-m", "knative.operator"]  # as the chart runs it
    try:
        with cluster.api_client() as api, kopf.testing.KopfRunner(argv, timeout=60) as runner:
            custom = kubernetes.client.CustomObjectsApi(api)
            ad = ("langopen.dev", "v1alpha1", namespace, "agentdeployments", "chat")
            custom.create_namespaced_custom_object(*ad[:4], body)

            def read() -> dict[str, Any]:
                return cast(dict[str, Any], custom.get_namespaced_custom_object(*ad))

            wait_for(lambda: (read().get("status") or {}).get("currentImage") == image_a)
            custom.patch_namespaced_custom_object(*ad, {"spec": {"image": image_b}})
            wait_for(lambda: (read().get("status") or {}).get("previousImage") == image_a)
            custom.patch_namespaced_custom_object(
                *ad, {"metadata": {"annotations": {"langopen.dev/rollback": "now"}}}
            )
            wait_for(lambda: read()["spec"]["image"] == image_a)
            ksvc = plain(
                api,
                custom.get_namespaced_custom_object(
                    "serving.knative.dev", "v1", namespace, "services", "chat"
                ),
            )
            policies = plain(
                api, kubernetes.client.NetworkingV1Api(api).list_namespaced_network_policy(namespace)
            )["items"]
        assert runner.exception is None, runner.output
        assert "403" not in runner.output, runner.output
        assert "Forbidden" not in runner.output, runner.output
        assert ksvc["metadata"]["ownerReferences"][0]["kind"] == "AgentDeployment"
        assert any(p["metadata"]["name"].startswith("chat") for p in policies)
    finally:
        helm("uninstall", RELEASE, "-n", namespace, cluster=cluster)


def wait_for(predicate: Callable[[], bool], *, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)

"""The test cluster itself: a real 1.20 API server with the upstream CRDs (through the compat transform)
and the project's CRDs, namespaces per test, RBAC on; and the offline validators agree with it."""

from __future__ import annotations

from typing import Any, cast

import kubernetes
import pytest
from kubernetes.client.exceptions import ApiException

from tests.k8s import crd_compat, crds, schemas
from tests.k8s.cluster import Cluster

SANDBOX_GROUP = "extensions.agents.x-k8s.io"


def warm_pool(name: str, **spec: object) -> dict[str, object]:
    return {
        "apiVersion": f"{SANDBOX_GROUP}/v1beta1",
        "kind": "SandboxWarmPool",
        "metadata": {"name": name},
        "spec": {"sandboxTemplateRef": {"name": "tmpl"}, **spec},
    }


def test_server_is_kubernetes_1_20_on_loopback(cluster: Cluster) -> None:
    with cluster.api_client() as api:
        version = kubernetes.client.VersionApi(api).get_code()

    assert version.git_version == "v1.20.2"
    assert cluster.server.startswith("https://127.0.0.1:")
    assert cluster.kubeconfig.is_file()


def test_every_upstream_and_project_crd_is_established(cluster: Cluster) -> None:
    expected = {
        c["metadata"]["name"] for c in crds.load_crds(crds.upstream_crd_paths() + crds.project_crd_paths())
    }
    with cluster.api_client() as api:
        served = api.sanitize_for_serialization(
            kubernetes.client.ApiextensionsV1Api(api).list_custom_resource_definition()
        )["items"]

    assert {"services.serving.knative.dev", "sandboxwarmpools.extensions.agents.x-k8s.io"} <= expected
    assert expected <= {c["metadata"]["name"] for c in served}
    assert all(
        any(cond["type"] == "Established" and cond["status"] == "True" for cond in c["status"]["conditions"])
        for c in served
    )


def test_namespace_factory_gives_fresh_namespaces(cluster: Cluster) -> None:
    first, second = cluster.namespace_factory(), cluster.namespace_factory()

    assert first != second
    with cluster.api_client() as api:
        listed = api.sanitize_for_serialization(kubernetes.client.CoreV1Api(api).list_namespace())
    names = {n["metadata"]["name"] for n in listed["items"]}
    assert {first, second} <= names


def test_upstream_schema_defaults_apply_and_invalid_objects_are_refused(
    cluster: Cluster, namespace: str
) -> None:
    with cluster.api_client() as api:
        custom = kubernetes.client.CustomObjectsApi(api)
        created = cast(
            dict[str, Any],
            custom.create_namespaced_custom_object(
                SANDBOX_GROUP, "v1beta1", namespace, "sandboxwarmpools", warm_pool("pool")
            ),
        )
        with pytest.raises(ApiException) as refused:
            custom.create_namespaced_custom_object(
                SANDBOX_GROUP, "v1beta1", namespace, "sandboxwarmpools", warm_pool("bad", replicas=-1)
            )

    assert created["spec"]["replicas"] == 1  # the CRD's default
    assert refused.value.status == 422
    assert "spec.replicas" in (refused.value.body or "")


def test_offline_validator_agrees_with_the_server_and_is_stricter(cluster: Cluster) -> None:
    schemas.validate_custom_resource(warm_pool("pool", replicas=2))
    with pytest.raises(schemas.ObjectInvalidError) as negative:
        schemas.validate_custom_resource(warm_pool("pool", replicas=-1))
    with pytest.raises(schemas.ObjectInvalidError) as unknown:  # the 1.20 server would prune it silently
        schemas.validate_custom_resource(warm_pool("pool", replicaz=2))

    assert negative.value.path == "spec.replicas"
    assert "'replicaz' was unexpected" in str(unknown.value)


def test_validator_knows_no_unserved_kind() -> None:
    with pytest.raises(schemas.ObjectInvalidError, match="no CRD serves"):
        schemas.validate_custom_resource(
            {"apiVersion": "example.com/v1", "kind": "Nope", "metadata": {"name": "x"}}
        )


@pytest.mark.parametrize(
    ("obj", "path"),
    [
        ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": 1}}, "data.a"),
        ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labelz": {}}}, "metadata"),
        (
            {"apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget", "metadata": {"name": "p"}},
            "apiVersion",
        ),
    ],
)
def test_core_validator_is_strict(obj: dict[str, Any], path: str) -> None:
    with pytest.raises(schemas.ObjectInvalidError) as error:
        schemas.validate_core(obj)

    assert error.value.path == path


def test_compat_transform_only_drops_what_1_20_rejects() -> None:
    by_name = {c["metadata"]["name"]: c for c in crds.load_crds(crds.upstream_crd_paths())}

    sandbox, stats = crd_compat.to_v1_20(by_name["sandboxes.agents.x-k8s.io"])
    _ksvc, ksvc_stats = crd_compat.to_v1_20(by_name["services.serving.knative.dev"])

    assert stats.conversion
    assert stats.cel_rules >= 1
    assert stats.empty_defaults > 0
    assert sandbox["spec"]["conversion"] == {"strategy": "None"}
    assert "x-kubernetes-validations" not in str(sandbox)
    assert ksvc_stats.empty_defaults > 0
    assert not ksvc_stats.conversion
    assert (
        by_name["sandboxes.agents.x-k8s.io"]["spec"]["conversion"]["strategy"] == "Webhook"
    )  # input untouched
    with pytest.raises(ValueError, match="not a CustomResourceDefinition"):
        crd_compat.to_v1_20({"kind": "ConfigMap"})

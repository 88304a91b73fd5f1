from __future__ import annotations

from typing import Any

import pytest

from contracts import k8s
from knative import services, specs
from knative.settings import OperatorSettings
from tests.k8s import schemas
from tests.knative.conftest import IMAGE, agent_deployment


def build(**spec: Any) -> dict[str, Any]:
    return services.build_service(specs.parse(agent_deployment(**spec)), OperatorSettings())


def container(ksvc: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = ksvc["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


@pytest.mark.parametrize(
    ("spec", "annotations"),
    [
        (
            {},
            {"min-scale": "0", "max-scale": "10", "target": "10", "scale-to-zero-pod-retention-period": "0s"},
        ),
        (
            {"scale": {"minScale": 2, "maxScale": 50, "target": 4, "retentionSeconds": 90}},
            {"min-scale": "2", "max-scale": "50", "target": "4", "scale-to-zero-pod-retention-period": "90s"},
        ),
    ],
)
def test_autoscaling_annotations_scale_to_zero_by_default(
    spec: dict[str, Any], annotations: dict[str, str]
) -> None:
    got = build(**spec)["spec"]["template"]["metadata"]["annotations"]
    for key, value in annotations.items():
        assert got[k8s.AUTOSCALING_PREFIX + key] == value
    assert got[k8s.AUTOSCALING_METRIC] == "concurrency"


@pytest.mark.parametrize(
    ("spec", "concurrency", "timeout"),
    [({}, 0, 600), ({"scale": {"containerConcurrency": 8}, "runTimeoutSeconds": 1800}, 8, 1800)],
)
def test_concurrency_and_timeout_come_from_the_spec(
    spec: dict[str, Any], concurrency: int, timeout: int
) -> None:
    template = build(**spec)["spec"]["template"]["spec"]
    assert template["containerConcurrency"] == concurrency
    assert template["timeoutSeconds"] == timeout
    env = {e["name"]: e.get("value") for e in container(build(**spec))["env"]}
    assert env["LANGOPEN_FUNCTION_RUN_TIMEOUT_SECONDS"] == str(timeout)


@pytest.mark.parametrize(("runtime_class", "expected"), [(None, "gvisor"), ("kata-qemu", "kata-qemu")])
def test_runtime_class_is_gvisor_unless_policy_says_kata(runtime_class: str | None, expected: str) -> None:
    spec = {"runtimeClass": runtime_class} if runtime_class else {}
    assert build(**spec)["spec"]["template"]["spec"]["runtimeClassName"] == expected


def test_pod_is_hardened() -> None:
    ksvc = build()
    pod = ksvc["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    ctx = container(ksvc)["securityContext"]
    assert ctx["runAsNonRoot"] is True
    assert ctx["runAsUser"] != 0
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"] == {"drop": ["ALL"]}
    mounts = {m["mountPath"]: m["name"] for m in container(ksvc)["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]


def test_resources_have_requests_and_limits() -> None:
    res = container(build(resources={"cpuLimit": "500m", "memoryRequest": "1Gi"}))["resources"]
    assert res == {"requests": {"cpu": "250m", "memory": "1Gi"}, "limits": {"cpu": "500m", "memory": "2Gi"}}


def test_secrets_are_referenced_never_inlined() -> None:
    refs = [
        {"name": "DATABASE_URL", "secretName": "db", "key": "url"},
        {"name": "OPENAI_API_KEY", "secretName": "llm", "key": "k"},
    ]
    env = {e["name"]: e for e in container(build(secretEnv=refs))["env"]}
    assert env["DATABASE_URL"] == {
        "name": "DATABASE_URL",
        "valueFrom": {"secretKeyRef": {"name": "db", "key": "url"}},
    }
    assert env["OPENAI_API_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "llm", "key": "k"}
    assert all("value" not in env[name] for name in ("DATABASE_URL", "OPENAI_API_KEY"))


def test_correlation_labels_on_service_and_pods_but_not_other_labels() -> None:
    ksvc = build()
    for labels in (ksvc["metadata"]["labels"], ksvc["spec"]["template"]["metadata"]["labels"]):
        assert labels[k8s.LABEL_DEPLOYMENT] == "chat"
        assert labels[k8s.LABEL_ORG_ID] == "org-1"
        assert labels[k8s.LABEL_PROJECT_ID] == "prj-1"
        assert "team" not in labels
    assert ksvc["metadata"]["labels"][k8s.KNATIVE_VISIBILITY_LABEL] == "cluster-local"
    assert ksvc["spec"]["template"]["metadata"]["annotations"][k8s.ANNOTATION_IMAGE] == IMAGE


def test_public_service_when_not_cluster_local() -> None:
    deployment = specs.parse(agent_deployment())
    ksvc = services.build_service(deployment, OperatorSettings(cluster_local=False))
    assert k8s.KNATIVE_VISIBILITY_LABEL not in ksvc["metadata"]["labels"]


@pytest.mark.parametrize(
    "spec",
    [
        {},
        {"runtimeClass": "kata-fc", "scale": {"minScale": 1, "maxScale": 3, "containerConcurrency": 2}},
        {"secretEnv": [{"name": "REDIS_URL", "secretName": "redis", "key": "url"}], "runTimeoutSeconds": 30},
    ],
)
def test_service_validates_strictly_against_the_knative_crd(spec: dict[str, Any]) -> None:
    schemas.validate_custom_resource(build(**spec))


def test_validation_catches_a_misspelt_field() -> None:
    ksvc = build()
    ksvc["spec"]["template"]["spec"]["runtimeClassname"] = "gvisor"
    with pytest.raises(schemas.ObjectInvalidError, match="runtimeClassname"):
        schemas.validate_custom_resource(ksvc)

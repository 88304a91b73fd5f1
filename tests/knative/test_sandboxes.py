from __future__ import annotations

from typing import Any

import pytest

from contracts import k8s
from knative import children, sandboxes, specs
from knative.settings import OperatorSettings
from tests.k8s import schemas
from tests.knative.conftest import IMAGE, agent_deployment


def deployment(**spec: Any) -> specs.AgentDeployment:
    return specs.parse(agent_deployment(mode="sandbox", **spec))


def test_template_holds_the_hardened_pod_under_the_runtime_class() -> None:
    template = sandboxes.build_template(deployment(runtimeClass="kata-qemu"), OperatorSettings())
    pod = template["spec"]["podTemplate"]["spec"]
    assert template["apiVersion"] == "extensions.agents.x-k8s.io/v1beta1"
    assert pod["runtimeClassName"] == "kata-qemu"
    assert pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    assert container["image"] == IMAGE
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": 8080}
    assert template["spec"]["service"] is True
    assert template["spec"]["envVarsInjectionPolicy"] == "Disallowed"
    assert template["spec"]["podTemplate"]["metadata"]["labels"][k8s.LABEL_DEPLOYMENT] == "chat"


@pytest.mark.parametrize(
    ("spec", "replicas"), [({}, 1), ({"scale": {"warmPool": 5}}, 5), ({"scale": {"warmPool": 0}}, 0)]
)
def test_warm_pool_sizes_from_the_spec_and_names_the_template(spec: dict[str, Any], replicas: int) -> None:
    pool = sandboxes.build_warm_pool(deployment(**spec))
    assert pool["spec"] == {
        "replicas": replicas,
        "sandboxTemplateRef": {"name": "chat"},
        "updateStrategy": {"type": "Recreate"},
    }


@pytest.mark.parametrize(
    "spec", [{}, {"runtimeClass": "kata-fc", "secretEnv": [{"name": "A", "secretName": "s", "key": "k"}]}]
)
def test_sandbox_objects_validate_strictly_against_the_agent_sandbox_crds(spec: dict[str, Any]) -> None:
    for obj in children.desired(deployment(**spec), OperatorSettings()):
        if obj["kind"] == "NetworkPolicy":
            schemas.validate_core(obj)
        else:
            schemas.validate_custom_resource(obj)


@pytest.mark.parametrize(
    ("mode", "kinds", "unwanted"),
    [
        ("function", ["NetworkPolicy", "Service"], ["SandboxWarmPool", "SandboxTemplate"]),
        ("sandbox", ["NetworkPolicy", "SandboxTemplate", "SandboxWarmPool"], ["Service"]),
    ],
)
def test_children_per_mode(mode: str, kinds: list[str], unwanted: list[str]) -> None:
    dep = specs.parse(agent_deployment(mode=mode))
    assert [o["kind"] for o in children.desired(dep, OperatorSettings())] == kinds
    assert [k.kind for k in children.unwanted(dep)] == unwanted

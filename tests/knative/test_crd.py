"""The AgentDeployment CRD: structural, 1.20-compatible, refusing invalid specs; its defaults are the
builders' defaults (knative/specs.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from knative import errors, specs
from tests.k8s import schemas
from tests.knative.conftest import agent_deployment

CRD_PATH = Path(__file__).resolve().parents[2] / "knative" / "crds" / "agentdeployment.yaml"


def crd_spec_schema() -> dict[str, Any]:
    crd = yaml.safe_load(CRD_PATH.read_text())
    (version,) = crd["spec"]["versions"]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return schema


def walk_defaults(schema: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, sub in (schema.get("properties") or {}).items():
        path = f"{prefix}{name}"
        if "default" in sub and sub["default"] != {}:
            out[path] = sub["default"]
        out.update(walk_defaults(sub, path + "."))
    return out


def test_crd_defaults_are_the_builders_defaults() -> None:
    parsed = specs.parse(agent_deployment()).spec.model_dump(by_alias=True)
    defaults = walk_defaults(crd_spec_schema())
    assert defaults  # the CRD has defaults to compare
    for path, value in defaults.items():
        if path.startswith(("egress.", "secretEnv.")):
            continue  # defaults inside list items
        node: Any = parsed
        for part in path.split("."):
            node = node[part]
        assert node == value, path


def test_crd_has_no_construct_a_1_20_apiserver_refuses() -> None:
    text = CRD_PATH.read_text()
    assert "x-kubernetes-validations" not in text  # CEL: 1.25+
    assert "default: ''" not in text
    assert 'default: ""' not in text


def test_valid_deployments_validate() -> None:
    schemas.validate_custom_resource(agent_deployment())
    schemas.validate_custom_resource(
        agent_deployment(
            mode="sandbox",
            runtimeClass="kata-qemu",
            scale={"minScale": 1, "maxScale": 5, "target": 2, "warmPool": 3},
            egress=[{"cidr": "203.0.113.0/24", "ports": [{"port": 443}]}],
            secretEnv=[{"name": "DATABASE_URL", "secretName": "db", "key": "url"}],
            runTimeoutSeconds=120,
        )
    )


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"image": "registry.example/app:latest"}, "spec.image"),
        ({"image": "registry.example/app@sha256:abc"}, "spec.image"),
        ({"graphs": []}, "spec.graphs"),
        ({"runtimeClass": "runc"}, "spec.runtimeClass"),
        ({"runtimeClass": "kata"}, "spec.runtimeClass"),
        ({"mode": "vm"}, "spec.mode"),
        ({"scale": {"minScale": -1}}, "spec.scale.minScale"),
        ({"scale": {"maxScale": 0}}, "spec.scale.maxScale"),
        ({"scale": {"warmPool": 101}}, "spec.scale.warmPool"),
        ({"runTimeoutSeconds": 0}, "spec.runTimeoutSeconds"),
        ({"egress": [{"cidr": "example.com"}]}, "spec.egress.0.cidr"),
        ({"egress": [{"cidr": "1.2.3.4/32", "ports": [{"port": 70000}]}]}, "spec.egress.0.ports.0.port"),
        ({"secretEnv": [{"name": "X", "secretName": "s"}]}, "spec.secretEnv.0"),
        (
            {"secretEnv": [{"name": "X", "value": "inline", "secretName": "s", "key": "k"}]},
            "spec.secretEnv.0",
        ),
        ({"resources": {"memoryLimit": "lots"}}, "spec.resources.memoryLimit"),
    ],
)
def test_invalid_specs_are_refused_with_the_field_named(change: dict[str, Any], path: str) -> None:
    with pytest.raises(schemas.ObjectInvalidError) as info:
        schemas.validate_custom_resource(agent_deployment(**change))
    assert info.value.path == path


def test_missing_image_is_refused() -> None:
    obj = agent_deployment()
    del obj["spec"]["image"]
    with pytest.raises(schemas.ObjectInvalidError, match="'image' is a required property"):
        schemas.validate_custom_resource(obj)


@pytest.mark.parametrize("name", ["Chat", "x" * 53, "1chat"])
def test_names_knative_cannot_use_are_refused_by_the_operator(name: str) -> None:
    obj = agent_deployment()
    obj["metadata"]["name"] = name
    with pytest.raises(errors.InvalidDeploymentError):
        specs.parse(obj)

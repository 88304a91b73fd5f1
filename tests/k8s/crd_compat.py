"""Make the upstream Knative Serving and Agent Sandbox CRDs loadable into kube-apiserver 1.20.

The test cluster is v1.20.2 (the newest Kubernetes whose full source Debian ships); the upstream CRDs
are written for current servers. This transform is a test fixture only — the CRDs users install are
the upstream files, unmodified — and it changes no field a custom resource may carry:

- `default: ""` is dropped: 1.20 rejects empty-string defaults (`default: Invalid value: "null"`).
- a list-map key that lost its `""` default becomes `required`: 1.20 insists map keys are defaulted
  or required.
- `x-kubernetes-validations` (CEL, Kubernetes >= 1.25) is dropped; the offline validator
  (`tests/k8s/schemas.py`) does not evaluate CEL either.
- a `Webhook` conversion becomes `None`: the test cluster runs no conversion webhook. Read Agent Sandbox
  objects through their storage version (v1beta1).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any


@dataclass
class CompatStats:
    """What one transform changed, for the tests and for debugging a CRD that 1.20 still rejects."""

    empty_defaults: int = 0
    cel_rules: int = 0
    required_map_keys: int = 0
    conversion: bool = False


def to_v1_20(crd: dict[str, Any]) -> tuple[dict[str, Any], CompatStats]:
    """A copy of `crd` that kube-apiserver 1.20 accepts, and what was changed."""
    if crd.get("kind") != "CustomResourceDefinition":
        raise ValueError(f"not a CustomResourceDefinition: {crd.get('kind')!r}")
    out = copy.deepcopy(crd)
    stats = CompatStats()
    _scrub(out["spec"], stats)
    if (out["spec"].get("conversion") or {}).get("strategy") == "Webhook":
        out["spec"]["conversion"] = {"strategy": "None"}
        stats.conversion = True
    # Server-managed fields of an exported object must not be sent back.
    out.pop("status", None)
    for key in ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields"):
        out.get("metadata", {}).pop(key, None)
    return out, stats


def _scrub(node: Any, stats: CompatStats) -> None:
    if isinstance(node, list):
        for item in node:
            _scrub(item, stats)
        return
    if not isinstance(node, dict):
        return
    if node.get("x-kubernetes-list-type") == "map" and isinstance(node.get("items"), dict):
        _require_defaulted_map_keys(node, stats)
    if node.get("default", 0) == "":
        del node["default"]
        stats.empty_defaults += 1
    if "x-kubernetes-validations" in node:
        del node["x-kubernetes-validations"]
        stats.cel_rules += 1
    for value in node.values():
        _scrub(value, stats)


def _require_defaulted_map_keys(node: dict[str, Any], stats: CompatStats) -> None:
    items = node["items"]
    for key in node.get("x-kubernetes-list-map-keys", []):
        prop = items.get("properties", {}).get(key) or {}
        if prop.get("default", 0) == "":
            required = items.setdefault("required", [])
            if key not in required:
                required.append(key)
                stats.required_map_keys += 1

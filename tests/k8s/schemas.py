"""Offline, strict validation of the objects LangOpen generates.

- `validate_custom_resource(obj)`: a custom resource against its CRD's `openAPIV3Schema` (upstream
  Knative / Agent Sandbox CRDs, unmodified, and `knative/crds/`), turned into JSON Schema with unknown
  fields rejected wherever the schema is structural (it lists `properties` and does not preserve unknown
  fields) — what `kubectl --validate=strict` / `fieldValidation=Strict` does on a current server, and
  stricter than the 1.20 test cluster, which prunes unknown fields silently. CEL rules are not evaluated.
- `validate_core(obj)`: a core object with `kubernetes-validate --strict` (bundled upstream OpenAPI
  schemas, offline) for each Kubernetes version in `CORE_VERSIONS`.

Both raise `ObjectInvalidError` naming the path of the first problem.
"""

from __future__ import annotations

import functools
from typing import Any

import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]  # ships no py.typed
from kubernetes_validate import utils as kv_utils

from tests.k8s import crds

# Oldest and newest schema sets kubernetes-validate bundles (1.20 itself is not bundled; the test cluster
# checks what 1.20 accepts when the chart is installed into it).
CORE_VERSIONS = ("1.25.0", "1.37.0")
_DROPPED_KEYWORDS = frozenset({"nullable", "format", "description", "example", "externalDocs", "default"})


class ObjectInvalidError(ValueError):
    """An object does not match its schema."""

    def __init__(self, obj: dict[str, Any], path: str, message: str) -> None:
        name = (obj.get("metadata") or {}).get("name")
        super().__init__(f"{obj.get('apiVersion')} {obj.get('kind')}/{name}: {path or '<root>'}: {message}")
        self.path = path


def to_json_schema(schema: Any, *, strict: bool = True) -> Any:
    """A Kubernetes structural schema (OpenAPI v3 subset + x-kubernetes-*) as JSON Schema draft 7."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("properties", "patternProperties"):
            out[key] = {name: to_json_schema(sub, strict=strict) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = to_json_schema(value, strict=strict)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [to_json_schema(sub, strict=strict) for sub in value]
        elif key.startswith("x-kubernetes-") or key in _DROPPED_KEYWORDS:
            continue
        else:
            out[key] = value
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("anyOf", None)
        out["type"] = ["integer", "string"]
    if schema.get("nullable") and "type" in out:
        types = out["type"] if isinstance(out["type"], list) else [out["type"]]
        out["type"] = [*types, "null"]
    if schema.get("x-kubernetes-embedded-resource"):
        props = out.setdefault("properties", {})
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        props.setdefault("metadata", {"type": "object"})
    is_structural = "properties" in schema and not schema.get("x-kubernetes-preserve-unknown-fields")
    if strict and is_structural and "additionalProperties" not in schema:
        out["additionalProperties"] = False
    return out


_OBJECT_META = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 253},
        "generateName": {"type": "string"},
        "namespace": {"type": "string", "maxLength": 63},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        "ownerReferences": {"type": "array", "items": {"type": "object"}},
        "finalizers": {"type": "array", "items": {"type": "string"}},
    },
    "additionalProperties": True,
}


@functools.cache
def _validators() -> dict[tuple[str, str], jsonschema.Draft7Validator]:
    registry: dict[tuple[str, str], jsonschema.Draft7Validator] = {}
    for crd in crds.all_crds():
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if not version.get("served", True):
                continue
            schema = to_json_schema(version["schema"]["openAPIV3Schema"])
            schema.setdefault("properties", {})["metadata"] = _OBJECT_META
            schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata"})
            registry[(f"{group}/{version['name']}", kind)] = jsonschema.Draft7Validator(schema)
    return registry


def known_custom_kinds() -> set[tuple[str, str]]:
    """(apiVersion, kind) of every custom resource the validator knows."""
    return set(_validators())


def validate_custom_resource(obj: dict[str, Any]) -> None:
    """Raise ObjectInvalidError unless `obj` is valid under its CRD's schema (strict: unknown fields fail)."""
    key = (str(obj.get("apiVersion")), str(obj.get("kind")))
    validator = _validators().get(key)
    if validator is None:
        raise ObjectInvalidError(obj, "apiVersion", f"no CRD serves {key[0]} {key[1]}")
    errors = sorted(validator.iter_errors(obj), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        first = errors[0]
        raise ObjectInvalidError(obj, ".".join(str(p) for p in first.absolute_path), first.message)


def validate_core(obj: dict[str, Any], *, versions: tuple[str, ...] = CORE_VERSIONS) -> None:
    """Raise ObjectInvalidError unless `kubernetes-validate --strict` accepts `obj` for every version in
    `versions` that serves its apiVersion (and at least one must)."""
    served = 0
    for version in versions:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kv_utils.SchemaNotFoundError:
            continue
        except kv_utils.ValidationError as exc:
            path = ".".join(str(p) for p in exc.absolute_path)
            raise ObjectInvalidError(obj, path, f"{exc.message} (Kubernetes {version})") from exc
        served += 1
    if not served:
        raise ObjectInvalidError(obj, "apiVersion", f"no schema for it in Kubernetes {', '.join(versions)}")

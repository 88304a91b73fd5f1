"""The operator's calls to the Kubernetes API (sync client; kopf runs sync handlers in threads).

Every child kind, the core NetworkPolicy included, is served under `/apis/<group>/<version>/
namespaces/<ns>/<plural>`, so one generic client (`CustomObjectsApi`) creates, replaces and deletes
them all. Driver errors become `errors.ClusterError` here, once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from contracts import k8s
from knative import children, errors

REQUEST_TIMEOUT_SECONDS = 10.0
CONFLICT = 409
NOT_FOUND = 404
_PERMANENT_STATUSES = frozenset({400, 403, 422})


def _call(what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, _request_timeout=REQUEST_TIMEOUT_SECONDS, **kwargs)
    except ApiException as exc:
        raise errors.ClusterError(
            f"{what}: {exc.status} {exc.reason}: {(exc.body or '')[:500]}",
            permanent=exc.status in _PERMANENT_STATUSES,
        ) from exc


def _get(
    api: client.CustomObjectsApi, kind: children.Kind, namespace: str, name: str
) -> dict[str, Any] | None:
    try:
        found = api.get_namespaced_custom_object(
            kind.group, kind.version, namespace, kind.plural, name, _request_timeout=REQUEST_TIMEOUT_SECONDS
        )
    except ApiException as exc:
        if exc.status == NOT_FOUND:
            return None
        raise errors.ClusterError(f"read {kind.kind} {namespace}/{name}: {exc.status} {exc.reason}") from exc
    return cast(dict[str, Any], found)


def is_owned_by(obj: Mapping[str, Any], owner_uid: str) -> bool:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return any(ref.get("uid") == owner_uid for ref in refs)


def apply(api: client.CustomObjectsApi, obj: dict[str, Any], *, owner_uid: str) -> dict[str, Any]:
    """Create `obj`, or replace the object of its name when `owner_uid` owns it (status untouched)."""
    kind = children.BY_KIND[obj["kind"]]
    meta = obj["metadata"]
    existing = _get(api, kind, meta["namespace"], meta["name"])
    what = f"{kind.kind} {meta['namespace']}/{meta['name']}"
    if existing is None:
        return cast(dict[str, Any], _call(
            f"create {what}", api.create_namespaced_custom_object, kind.group, kind.version,
            meta["namespace"], kind.plural, obj,
        ))  # fmt: skip
    if not is_owned_by(existing, owner_uid):
        raise errors.ChildConflictError(f"{what} exists and is not owned by this AgentDeployment")
    meta["resourceVersion"] = existing["metadata"]["resourceVersion"]
    return cast(dict[str, Any], _call(
        f"replace {what}", api.replace_namespaced_custom_object, kind.group, kind.version,
        meta["namespace"], kind.plural, meta["name"], obj,
    ))  # fmt: skip


def delete_owned(
    api: client.CustomObjectsApi, kind: children.Kind, namespace: str, name: str, *, owner_uid: str
) -> bool:
    """Delete the `kind` object `name` if `owner_uid` owns it; whether there was one to delete."""
    existing = _get(api, kind, namespace, name)
    if existing is None or not is_owned_by(existing, owner_uid):
        return False
    try:
        api.delete_namespaced_custom_object(
            kind.group, kind.version, namespace, kind.plural, name, _request_timeout=REQUEST_TIMEOUT_SECONDS
        )
    except ApiException as exc:
        if exc.status == NOT_FOUND:
            return False
        raise errors.ClusterError(
            f"delete {kind.kind} {namespace}/{name}: {exc.status} {exc.reason}"
        ) from exc
    return True


def read_deployment(api: client.CustomObjectsApi, namespace: str, name: str) -> dict[str, Any] | None:
    kind = children.Kind(k8s.GROUP, k8s.VERSION, k8s.PLURAL, k8s.KIND)
    return _get(api, kind, namespace, name)


def patch_deployment_status(
    api: client.CustomObjectsApi, namespace: str, name: str, status: dict[str, Any]
) -> None:
    """Merge `status` into the AgentDeployment's status subresource."""
    _call(
        f"patch status of {k8s.KIND} {namespace}/{name}", api.patch_namespaced_custom_object_status,
        k8s.GROUP, k8s.VERSION, namespace, k8s.PLURAL, name, {"status": status},
    )  # fmt: skip

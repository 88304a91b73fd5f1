"""The AgentDeployment operator (kopf): `python -m knative.operator [--namespace NS | --all-namespaces]`.

Handlers, each with one writer per status field:
- `reconcile` (create, resume, spec change): builds the children for the deployment's mode (knative/
  children.py), applies them with an owner reference to the AgentDeployment (so Kubernetes' garbage
  collector deletes them with it), deletes the other mode's children, and records `currentImage`,
  `previousImage`, `knativeService`/`warmPool` and `observedGeneration`. Deletion needs no handler.
- `mirror_service` / `mirror_pool` (every event of a child): copy the Knative Service's readiness and
  URL, or the warm pool's readiness, into the owner's `Ready` condition and `url`. Only these write
  `Ready`, so a slow reconcile never overwrites a newer readiness.
- `rollback` (annotation `langopen.dev/rollback` present): sets `spec.image` to `status.previousImage`
  and removes the annotation; the spec change then runs `reconcile` like any rollout.
"""

from __future__ import annotations

import argparse
import logging
import os
from datetime import UTC, datetime
from typing import Any

import kopf
from kubernetes import client, config

from contracts import k8s
from knative import children, cluster, errors, specs
from knative import status as status_model
from knative.settings import OperatorSettings

RETRY_DELAY_SECONDS = 2.0
OWNED = {k8s.LABEL_MANAGED_BY: k8s.MANAGED_BY_OPERATOR}


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Build the settings and the API client once; handlers find them in `memo`."""
    settings.posting.level = logging.WARNING  # Kubernetes Events for warnings and failures only
    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]  # untyped upstream
    except config.ConfigException:
        # read KUBECONFIG now: kubernetes.config fixed its default path when it was imported
        config.load_kube_config(config_file=os.environ.get("KUBECONFIG"), client_configuration=configuration)  # type: ignore[no-untyped-call]  # untyped upstream
    memo.settings = OperatorSettings()
    memo.api_client = client.ApiClient(configuration)
    memo.api = client.CustomObjectsApi(memo.api_client)


@kopf.on.cleanup()
def close(memo: kopf.Memo, **_: Any) -> None:
    """Close the API client's connection pool when the operator stops."""
    memo.api_client.close()


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """The pod's service account, else $KUBECONFIG read at login time (not at import time)."""
    return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)


def _failed(patch: kopf.Patch, reason: str, exc: errors.KnativeError, generation: int | None) -> None:
    """Record a reconcile failure as `Ready=False` (the one place reconcile writes `Ready`)."""
    readiness = status_model.Readiness(status_model.FALSE, reason, exc.message)
    cond = status_model.ready_condition(readiness, [], generation=generation, now=datetime.now(UTC))
    patch.status[k8s.STATUS_CONDITIONS] = [cond]


@kopf.on.resume(k8s.GROUP, k8s.VERSION, k8s.PLURAL)
@kopf.on.create(k8s.GROUP, k8s.VERSION, k8s.PLURAL)
@kopf.on.update(k8s.GROUP, k8s.VERSION, k8s.PLURAL, field="spec")
def reconcile(
    body: kopf.Body, meta: kopf.Meta, status: kopf.Status, patch: kopf.Patch, memo: kopf.Memo, **_: Any
) -> None:
    generation = meta.get("generation")
    try:
        deployment = specs.parse(body)
        _apply_children(memo.api, memo.settings, deployment, owner=body)
    except (errors.InvalidDeploymentError, errors.ChildConflictError) as exc:
        _failed(patch, exc.code, exc, generation)
        raise kopf.PermanentError(exc.message) from exc
    except errors.ClusterError as exc:
        if exc.permanent:
            _failed(patch, exc.code, exc, generation)
            raise kopf.PermanentError(exc.message) from exc
        raise kopf.TemporaryError(exc.message, delay=RETRY_DELAY_SECONDS) from exc
    patch.status.update(status_model.images_after(status, deployment.spec.image))
    patch.status["observedGeneration"] = generation
    sandbox = deployment.spec.mode == k8s.MODE_SANDBOX
    patch.status[k8s.STATUS_WARM_POOL] = deployment.name if sandbox else None
    patch.status["knativeService"] = None if sandbox else deployment.name
    if sandbox:
        patch.status[k8s.STATUS_URL] = None


def _apply_children(
    api: client.CustomObjectsApi,
    settings: OperatorSettings,
    deployment: specs.AgentDeployment,
    *,
    owner: kopf.Body,
) -> None:
    uid = owner.metadata.uid
    assert uid is not None  # an object read from the API server has one
    for kind in children.unwanted(deployment):
        cluster.delete_owned(api, kind, deployment.namespace, deployment.name, owner_uid=uid)
    for obj in children.desired(deployment, settings):
        kopf.append_owner_reference(obj, owner=owner)
        cluster.apply(api, obj, owner_uid=uid)


@kopf.on.create(k8s.GROUP, k8s.VERSION, k8s.PLURAL, annotations={k8s.ANNOTATION_ROLLBACK: kopf.PRESENT})
@kopf.on.update(k8s.GROUP, k8s.VERSION, k8s.PLURAL, annotations={k8s.ANNOTATION_ROLLBACK: kopf.PRESENT})
@kopf.on.resume(k8s.GROUP, k8s.VERSION, k8s.PLURAL, annotations={k8s.ANNOTATION_ROLLBACK: kopf.PRESENT})
def rollback(status: kopf.Status, patch: kopf.Patch, logger: kopf.Logger, **_: Any) -> None:
    patch.metadata.annotations[k8s.ANNOTATION_ROLLBACK] = None
    target = status_model.rollback_target(status)
    if target is None:
        logger.warning("rollback requested but there is no previous image; nothing changed")
        return
    logger.info("rolling back to %s", target)
    patch.spec["image"] = target


def _owner_name(body: kopf.Body) -> str | None:
    for ref in body.metadata.get("ownerReferences") or []:
        if ref.get("kind") == k8s.KIND and ref.get("apiVersion") == k8s.API_VERSION:
            return str(ref["name"])
    return None


def _mirror(
    api: client.CustomObjectsApi, body: kopf.Body, readiness: status_model.Readiness, *, mode: str
) -> None:
    """Write `readiness` into the owning AgentDeployment's status, if it is still in `mode`."""
    name, namespace = _owner_name(body), body.metadata.namespace
    if name is None or namespace is None:
        return
    owner = cluster.read_deployment(api, namespace, name)
    if owner is None or (owner.get("spec") or {}).get("mode", k8s.MODE_FUNCTION) != mode:
        return  # deleted, or switched mode: the other kind of child speaks for it now
    current = owner.get("status") or {}
    cond = status_model.ready_condition(
        readiness,
        current.get(k8s.STATUS_CONDITIONS) or [],
        generation=owner["metadata"].get("generation"),
        now=datetime.now(UTC),
    )
    patch: dict[str, Any] = {
        k8s.STATUS_CONDITIONS: status_model.with_condition(current.get(k8s.STATUS_CONDITIONS) or [], cond)
    }
    if mode == k8s.MODE_FUNCTION:
        patch[k8s.STATUS_URL] = readiness.url
    cluster.patch_deployment_status(api, namespace, name, patch)


@kopf.on.event(k8s.KNATIVE_GROUP, k8s.KNATIVE_VERSION, k8s.KNATIVE_SERVICE_PLURAL, labels=OWNED)
def mirror_service(type: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    if type == "DELETED":
        return
    _mirror(memo.api, body, status_model.service_readiness(body), mode=k8s.MODE_FUNCTION)


@kopf.on.event(k8s.SANDBOX_EXTENSIONS_GROUP, k8s.SANDBOX_VERSION, k8s.SANDBOX_WARM_POOL_PLURAL, labels=OWNED)
def mirror_pool(type: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    if type == "DELETED":
        return
    _mirror(memo.api, body, status_model.pool_readiness(body), mode=k8s.MODE_SANDBOX)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m knative.operator", description=__doc__)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--namespace", action="append", help="watch this namespace (repeatable)")
    where.add_argument("--all-namespaces", action="store_true", help="watch the whole cluster")
    parser.add_argument("--liveness", help="liveness endpoint, e.g. http://0.0.0.0:8080/healthz")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    kopf.run(
        standalone=True,
        clusterwide=args.all_namespaces,
        namespaces=args.namespace or (),
        liveness_endpoint=args.liveness,
    )


if __name__ == "__main__":
    main()

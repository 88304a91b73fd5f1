"""STAND-INS for Knative Serving's and Agent Sandbox's controllers — test doubles, not LangOpen code.

The real controllers are Go projects that cannot run here (see ../shared/reference/k8s-testing.md),
so these threads play only their *status* part against the real API server; everything else the
tests see (schemas, defaults, owner references, garbage collection, watches) is the real thing.

- `StandInKnative`: every Knative Service in the namespace becomes Ready for its latest generation,
  with `status.url` = `url_for(service)` (a function process on 127.0.0.1 in dispatch tests).
- `StandInAgentSandbox`: keeps `spec.replicas` warm Sandboxes per SandboxWarmPool (owned by the
  pool, labelled `agents.x-k8s.io/warm-pool-sandbox`), marks them Ready with `status.serviceFQDN` =
  `host`; binds each new SandboxClaim to a warm Sandbox (ownership moves from pool to claim, the
  claim gets the `agents.x-k8s.io/sandbox-name` annotation, `status.sandbox.name` and `Ready`) and
  replenishes the pool. Deleting a claim deletes its sandbox through the garbage collector.

Each runs watch streams in a thread (re-listing every `RESYNC_SECONDS`) until `stop()`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

import kubernetes
from kubernetes.client import ApiClient, CustomObjectsApi
from kubernetes.client.exceptions import ApiException

from contracts import k8s

RESYNC_SECONDS = 2
WARM_LABEL = "agents.x-k8s.io/warm-pool-sandbox"
SANDBOX = (k8s.SANDBOX_GROUP, k8s.SANDBOX_VERSION)
EXT = (k8s.SANDBOX_EXTENSIONS_GROUP, k8s.SANDBOX_VERSION)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ready(reason: str) -> dict[str, Any]:
    return {
        "type": "Ready",
        "status": "True",
        "reason": reason,
        "message": "stand-in",
        "lastTransitionTime": _now(),
    }


class _Watcher:
    """Runs `handle(event_type, object)` for every event of the watched kinds, in one thread."""

    def __init__(self, api: ApiClient, namespace: str, kinds: list[tuple[str, str, str]]) -> None:
        self._configuration = api.configuration
        self._local = threading.local()  # one API client per thread: a shared pool drops sockets unclosed
        self.namespace = namespace
        self.kinds = kinds
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(kind,), daemon=True) for kind in kinds]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=RESYNC_SECONDS * 3)
        assert not self.errors, self.errors

    def handle(self, plural: str, event_type: str, obj: dict[str, Any]) -> None:
        raise NotImplementedError

    @property
    def custom(self) -> CustomObjectsApi:
        api: CustomObjectsApi = self._local.custom
        return api

    def _run(self, kind: tuple[str, str, str]) -> None:
        with ApiClient(self._configuration) as api:
            self._local.custom = CustomObjectsApi(api)
            self._watch(kind)

    def _watch(self, kind: tuple[str, str, str]) -> None:
        group, version, plural = kind
        while not self._stop.is_set():
            watcher = kubernetes.watch.Watch()  # type: ignore[no-untyped-call]  # untyped upstream
            events = watcher.stream(  # type: ignore[no-untyped-call]
                self.custom.list_namespaced_custom_object, group, version, self.namespace, plural,
                timeout_seconds=RESYNC_SECONDS,
            )  # fmt: skip
            try:
                for event in events:
                    if self._stop.is_set():
                        break
                    self.handle(plural, event["type"], event["object"])
            except ApiException as exc:
                if exc.status not in (404, 409):  # object gone / changed meanwhile: next event fixes it
                    self.errors.append(exc)
            except Exception as exc:  # a stand-in bug must fail the test, not vanish in a thread
                self.errors.append(exc)
                return
            finally:
                events.close()  # releases the HTTP response (and its socket) of an unfinished watch


class StandInKnative(_Watcher):
    """STAND-IN for Knative Serving's controller: Services become Ready with a URL."""

    def __init__(self, api: ApiClient, namespace: str, url_for: Callable[[dict[str, Any]], str]) -> None:
        super().__init__(
            api, namespace, [(k8s.KNATIVE_GROUP, k8s.KNATIVE_VERSION, k8s.KNATIVE_SERVICE_PLURAL)]
        )
        self.url_for = url_for

    def handle(self, plural: str, event_type: str, obj: dict[str, Any]) -> None:
        meta, status = obj["metadata"], obj.get("status") or {}
        if event_type == "DELETED" or status.get("observedGeneration") == meta["generation"]:
            return
        revision = f"{meta['name']}-{meta['generation']:05d}"
        conditions = [
            {"type": kind, "status": "True", "lastTransitionTime": _now()}
            for kind in ("ConfigurationsReady", "Ready", "RoutesReady")
        ]
        self.custom.patch_namespaced_custom_object_status(
            k8s.KNATIVE_GROUP, k8s.KNATIVE_VERSION, self.namespace, k8s.KNATIVE_SERVICE_PLURAL, meta["name"],
            {"status": {
                "observedGeneration": meta["generation"], "conditions": conditions, "url": self.url_for(obj),
                "latestCreatedRevisionName": revision, "latestReadyRevisionName": revision,
            }},
        )  # fmt: skip


class StandInAgentSandbox(_Watcher):
    """STAND-IN for Agent Sandbox's controllers: warm pools fill, claims bind."""

    def __init__(self, api: ApiClient, namespace: str, host: str) -> None:
        super().__init__(
            api,
            namespace,
            [(*EXT, k8s.SANDBOX_WARM_POOL_PLURAL), (*EXT, k8s.SANDBOX_CLAIM_PLURAL)],
        )
        self.host = host
        self.bound: list[str] = []  # claim names, in binding order
        self._lock = threading.Lock()

    def handle(self, plural: str, event_type: str, obj: dict[str, Any]) -> None:
        if event_type == "DELETED":
            return
        with self._lock:
            if plural == k8s.SANDBOX_WARM_POOL_PLURAL:
                self._fill(obj["metadata"]["name"])
            elif not self._is_bound(obj):
                self._bind(obj)

    @staticmethod
    def _is_bound(claim: dict[str, Any]) -> bool:
        annotations = claim["metadata"].get("annotations") or {}
        return bool(
            (claim.get("status") or {}).get("sandbox") or annotations.get(k8s.SANDBOX_NAME_ANNOTATION)
        )

    def _list_sandboxes(self, selector: str) -> list[dict[str, Any]]:
        found = self.custom.list_namespaced_custom_object(
            *SANDBOX, self.namespace, k8s.SANDBOX_PLURAL, label_selector=selector
        )
        items = cast(list[dict[str, Any]], cast(dict[str, Any], found)["items"])
        return [s for s in items if not s["metadata"].get("deletionTimestamp")]

    def _fill(self, pool_name: str) -> None:
        pool: dict[str, Any] = self.custom.get_namespaced_custom_object(  # type: ignore[assignment]  # untyped JSON
            *EXT, self.namespace, k8s.SANDBOX_WARM_POOL_PLURAL, pool_name
        )
        template: dict[str, Any] = self.custom.get_namespaced_custom_object(  # type: ignore[assignment]  # untyped JSON
            *EXT, self.namespace, k8s.SANDBOX_TEMPLATE_PLURAL, pool["spec"]["sandboxTemplateRef"]["name"]
        )
        warm = self._list_sandboxes(f"{WARM_LABEL}={pool_name}")
        for _ in range(pool["spec"]["replicas"] - len(warm)):
            self._create_sandbox(pool, template)
        for extra in warm[pool["spec"]["replicas"] :]:
            self.custom.delete_namespaced_custom_object(
                *SANDBOX, self.namespace, k8s.SANDBOX_PLURAL, extra["metadata"]["name"]
            )
        ready = len(self._list_sandboxes(f"{WARM_LABEL}={pool_name}"))
        self.custom.patch_namespaced_custom_object_status(
            *EXT, self.namespace, k8s.SANDBOX_WARM_POOL_PLURAL, pool_name,
            {"status": {
                "replicas": ready, "readyReplicas": ready, "selector": f"{WARM_LABEL}={pool_name}",
                "observedGeneration": pool["metadata"]["generation"],
            }},
        )  # fmt: skip

    def _create_sandbox(self, pool: dict[str, Any], template: dict[str, Any]) -> None:
        owner = {
            "apiVersion": pool["apiVersion"], "kind": pool["kind"], "name": pool["metadata"]["name"],
            "uid": pool["metadata"]["uid"], "controller": True,
        }  # fmt: skip
        body = {
            "apiVersion": k8s.SANDBOX_API_VERSION,
            "kind": k8s.SANDBOX_KIND,
            "metadata": {
                "generateName": f"{pool['metadata']['name']}-",
                "labels": {WARM_LABEL: pool["metadata"]["name"], "agents.x-k8s.io/launch-type": "warm"},
                "ownerReferences": [owner],
            },
            "spec": {"podTemplate": template["spec"]["podTemplate"]},
        }
        created: dict[str, Any] = self.custom.create_namespaced_custom_object(  # type: ignore[assignment]  # untyped JSON
            *SANDBOX, self.namespace, k8s.SANDBOX_PLURAL, body
        )
        self.custom.patch_namespaced_custom_object_status(
            *SANDBOX, self.namespace, k8s.SANDBOX_PLURAL, created["metadata"]["name"],
            {"status": {
                "conditions": [_ready("DependenciesReady")], "serviceFQDN": self.host,
                "service": created["metadata"]["name"], "podIPs": [self.host],
            }},
        )  # fmt: skip

    def _bind(self, claim: dict[str, Any]) -> None:
        pool_name = claim["spec"]["warmPoolRef"]["name"]
        warm = self._list_sandboxes(f"{WARM_LABEL}={pool_name}")
        if not warm:
            return  # the pool's next event fills it; the claim's next resync binds it
        sandbox, name = warm[0], claim["metadata"]["name"]
        owner = {
            "apiVersion": claim["apiVersion"], "kind": claim["kind"], "name": name,
            "uid": claim["metadata"]["uid"], "controller": True,
        }  # fmt: skip
        self.custom.patch_namespaced_custom_object(
            *SANDBOX, self.namespace, k8s.SANDBOX_PLURAL, sandbox["metadata"]["name"],
            {"metadata": {"labels": {WARM_LABEL: None}, "ownerReferences": [owner]}},
        )  # fmt: skip
        self.custom.patch_namespaced_custom_object(
            *EXT, self.namespace, k8s.SANDBOX_CLAIM_PLURAL, name,
            {"metadata": {"annotations": {k8s.SANDBOX_NAME_ANNOTATION: sandbox["metadata"]["name"]}}},
        )  # fmt: skip
        self.custom.patch_namespaced_custom_object_status(
            *EXT, self.namespace, k8s.SANDBOX_CLAIM_PLURAL, name,
            {"status": {"conditions": [_ready("SandboxBound")], "sandbox": {"name": sandbox["metadata"]["name"]}}},
        )  # fmt: skip
        self.bound.append(name)
        self._fill(pool_name)


def wait_until(check: Callable[[], Any], *, timeout_seconds: float = 20.0, what: str = "condition") -> Any:
    """Poll `check` (test helper) until it returns something truthy; fail after `timeout_seconds`."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_seconds}s waiting for {what}")
        time.sleep(0.05)

"""Cluster targets, part 1: reach a deployment's Knative Service (mode `function`).

`KnativeTarget` is the `FunctionTarget` (router/dispatch/targets.py) `python -m router` uses in a
cluster with `LANGOPEN_FUNCTION_TARGET=knative`: it reads the URL from the AgentDeployment's status,
which the operator (knative/operator.py) copies from the Knative Service once it is Ready. A resolved
URL is reused for `url_cache_seconds`; while the deployment is not Ready `use()` waits for it by
watching the object (no polling), up to `resolve_timeout_seconds`, then raises
FunctionNotReachedError — nothing ran, so the dispatcher retries the run with backoff, as it does for
a function service that refuses connections.

`KubeConnection` (also used by router/dispatch/sandbox.py) opens the asynchronous Kubernetes client
lazily, from a kubeconfig file or the pod's service account, and `wait_for` is the watch-based wait.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client, config, watch
from kubernetes_asyncio.client.exceptions import ApiException

from contracts import k8s
from router import errors

REQUEST_TIMEOUT_SECONDS = 10.0
NOT_FOUND = 404

Predicate = Callable[[Mapping[str, Any]], bool]


class KubeConnection:
    """One asynchronous Kubernetes API client, opened on first use. `kubeconfig=None`: in-cluster."""

    def __init__(self, kubeconfig: Path | None = None) -> None:
        self.kubeconfig = kubeconfig
        self._client: client.ApiClient | None = None
        self._lock = asyncio.Lock()

    async def custom_objects(self) -> client.CustomObjectsApi:
        async with self._lock:
            if self._client is None:
                self._client = await self._open()
        return client.CustomObjectsApi(self._client)

    async def _open(self) -> client.ApiClient:
        if self.kubeconfig is not None:
            return await config.new_client_from_config(config_file=str(self.kubeconfig))
        configuration = client.Configuration()
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]  # untyped upstream
        return client.ApiClient(configuration)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


async def read(
    api: client.CustomObjectsApi, group: str, version: str, plural: str, namespace: str, name: str
) -> dict[str, Any] | None:
    """The object, or None when it does not exist."""
    try:
        obj = await api.get_namespaced_custom_object(
            group, version, namespace, plural, name, _request_timeout=REQUEST_TIMEOUT_SECONDS
        )
    except ApiException as exc:
        if exc.status == NOT_FOUND:
            return None
        raise
    return dict(obj)


async def wait_for(
    api: client.CustomObjectsApi,
    group: str,
    version: str,
    plural: str,
    namespace: str,
    name: str,
    *,
    until: Predicate,
    timeout_seconds: float,
) -> dict[str, Any]:
    """The object once `until(object)` holds: read it, then watch it from that read's version.

    Raises TimeoutError after `timeout_seconds` and ApiException on API errors.
    """
    async with asyncio.timeout(timeout_seconds):
        while True:
            obj = await read(api, group, version, plural, namespace, name)
            if obj is not None and until(obj):
                return obj
            version_seen = obj["metadata"]["resourceVersion"] if obj is not None else None
            async with watch.Watch() as stream:
                async for event in stream.stream(
                    api.list_namespaced_custom_object,
                    group,
                    version,
                    namespace,
                    plural,
                    field_selector=f"metadata.name={name}",
                    resource_version=version_seen,
                    timeout_seconds=max(1, int(timeout_seconds)),
                ):
                    if event["type"] in ("ADDED", "MODIFIED") and until(event["object"]):
                        return dict(event["object"])
            # the server ended the watch (its timeout, or history compacted): read again


def ready_condition(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    for cond in (obj.get("status") or {}).get(k8s.STATUS_CONDITIONS) or []:
        if cond.get("type") == k8s.CONDITION_READY:
            return dict(cond)
    return {}


def _has_url(deployment: Mapping[str, Any]) -> bool:
    status = deployment.get("status") or {}
    return ready_condition(deployment).get("status") == "True" and bool(status.get(k8s.STATUS_URL))


class KnativeTarget:
    """The Knative Service URL of AgentDeployment `namespace/name`, from its status."""

    def __init__(
        self,
        connection: KubeConnection,
        *,
        namespace: str,
        name: str,
        resolve_timeout_seconds: float = 60.0,
        url_cache_seconds: float = 30.0,
    ) -> None:
        self.connection = connection
        self.namespace = namespace
        self.name = name
        self.resolve_timeout_seconds = resolve_timeout_seconds
        self.url_cache_seconds = url_cache_seconds
        self._url: str | None = None
        self._resolved_at = 0.0

    @asynccontextmanager
    async def use(self) -> AsyncIterator[str]:
        yield await self.resolve()

    async def resolve(self) -> str:
        """The deployment's URL; waits while it is not Ready. Raises FunctionNotReachedError."""
        if self._url is not None and time.monotonic() - self._resolved_at < self.url_cache_seconds:
            return self._url
        api = await self.connection.custom_objects()
        what = f"AgentDeployment {self.namespace}/{self.name}"
        try:
            deployment = await wait_for(
                api, k8s.GROUP, k8s.VERSION, k8s.PLURAL, self.namespace, self.name,
                until=_has_url, timeout_seconds=self.resolve_timeout_seconds,
            )  # fmt: skip
        except TimeoutError as exc:
            self._url = None
            raise errors.FunctionNotReachedError(
                f"{what} has no Ready Knative Service URL after {self.resolve_timeout_seconds}s "
                "(its status conditions say why)"
            ) from exc
        except ApiException as exc:
            raise errors.FunctionNotReachedError(
                f"{what} could not be read: {exc.status} {exc.reason}"
            ) from exc
        self._url = str(deployment["status"][k8s.STATUS_URL]).rstrip("/")
        self._resolved_at = time.monotonic()
        return self._url

    async def aclose(self) -> None:
        await self.connection.aclose()

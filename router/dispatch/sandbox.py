"""Cluster targets, part 2: one Agent Sandbox per request (a deployment in mode `sandbox`).

`SandboxTarget` is the `FunctionTarget` for `LANGOPEN_FUNCTION_TARGET=sandbox`. Each `use()`:
1. takes an idle claim of its own (policy `reuse`) or creates a `SandboxClaim` on the deployment's
   warm pool (its name from the AgentDeployment's `status.warmPool`), labelled with the deployment's
   correlation ids;
2. waits, by watching the claim, until Agent Sandbox binds it (`status.sandbox.name` set and the
   claim `Ready`), then reads the Sandbox for its Service FQDN (or, lacking one, its pod IP);
3. yields `http://<host>:<sandbox_port>`; the run's CloudEvent goes there, as it would to a
   Knative Service;
4. releases the claim per policy: `delete` (default) deletes it as soon as the request ends, so every
   run gets a fresh sandbox and nothing of one run is seen by the next; `reuse` keeps a claim whose
   request succeeded for the next `use()` for up to `idle_seconds`, and deletes it after that.
Every claim carries `lifecycle.shutdownTime` (`claim_max_seconds` ahead, `shutdownPolicy: Delete`):
if this router dies holding claims, Agent Sandbox deletes them itself.

Failing to claim or bind within `bind_timeout_seconds` deletes the claim and raises
FunctionNotReachedError: nothing ran, so the dispatcher retries the run later.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import aiohttp
from kubernetes_asyncio.client.exceptions import ApiException

from contracts import k8s
from router import errors
from router.dispatch import knative

log = logging.getLogger(__name__)

ReleasePolicy = Literal["delete", "reuse"]
_SANDBOX = (k8s.SANDBOX_GROUP, k8s.SANDBOX_VERSION, k8s.SANDBOX_PLURAL)
_CLAIMS = (k8s.SANDBOX_EXTENSIONS_GROUP, k8s.SANDBOX_VERSION, k8s.SANDBOX_CLAIM_PLURAL)


@dataclass
class Claim:
    name: str
    sandbox: str
    url: str
    idle_since: float = 0.0


def bound_sandbox(claim: Mapping[str, Any]) -> str | None:
    """The Sandbox a claim is bound to once it is Ready, else None."""
    status = claim.get("status") or {}
    name = (status.get("sandbox") or {}).get("name") or (
        claim.get("metadata", {}).get("annotations") or {}
    ).get(k8s.SANDBOX_NAME_ANNOTATION)
    if not name or knative.ready_condition(claim).get("status") != "True":
        return None
    return str(name)


def sandbox_host(sandbox: Mapping[str, Any]) -> str | None:
    status = sandbox.get("status") or {}
    if status.get("serviceFQDN"):
        return str(status["serviceFQDN"])
    ips = status.get("podIPs") or []
    return str(ips[0]) if ips else None


class SandboxTarget:
    """Sandboxes claimed from the warm pool of AgentDeployment `namespace/deployment`."""

    def __init__(
        self,
        connection: knative.KubeConnection,
        *,
        namespace: str,
        deployment: str,
        port: int = 8080,
        release: ReleasePolicy = "delete",
        idle_seconds: float = 300.0,
        bind_timeout_seconds: float = 60.0,
        claim_max_seconds: float = 3600.0 * 2,
    ) -> None:
        self.connection = connection
        self.namespace = namespace
        self.deployment = deployment
        self.port = port
        self.release = release
        self.idle_seconds = idle_seconds
        self.bind_timeout_seconds = bind_timeout_seconds
        self.claim_max_seconds = claim_max_seconds
        self._idle: list[Claim] = []
        self.claims_made = 0  # for logs and tests

    @asynccontextmanager
    async def use(self) -> AsyncIterator[str]:
        claim = await self._take_idle() or await self._claim()
        succeeded = False
        try:
            yield claim.url
            succeeded = True
        finally:
            if succeeded and self.release == "reuse":
                claim.idle_since = time.monotonic()
                self._idle.append(claim)
            else:
                await self._delete(claim.name)

    async def aclose(self) -> None:
        """Delete the idle claims and close the API client."""
        idle, self._idle = self._idle, []
        for claim in idle:
            await self._delete(claim.name)
        await self.connection.aclose()

    async def _take_idle(self) -> Claim | None:
        now = time.monotonic()
        while self._idle:
            claim = self._idle.pop()
            if now - claim.idle_since < self.idle_seconds:
                return claim
            await self._delete(claim.name)
        return None

    async def _claim(self) -> Claim:
        api = await self.connection.custom_objects()
        what = f"sandbox for AgentDeployment {self.namespace}/{self.deployment}"
        try:
            deployment = await knative.read(
                api, k8s.GROUP, k8s.VERSION, k8s.PLURAL, self.namespace, self.deployment
            )
            pool = (deployment or {}).get("status", {}).get(k8s.STATUS_WARM_POOL)
            if deployment is None or not pool:
                raise errors.FunctionNotReachedError(
                    f"{what}: the deployment has no warm pool (mode sandbox?)"
                )
            created = await api.create_namespaced_custom_object(
                *_CLAIMS[:2], self.namespace, _CLAIMS[2], self._claim_body(deployment, pool),
                _request_timeout=knative.REQUEST_TIMEOUT_SECONDS,
            )  # fmt: skip
        except ApiException as exc:
            raise errors.FunctionNotReachedError(f"{what}: claim refused: {exc.status} {exc.reason}") from exc
        self.claims_made += 1
        name = str(created["metadata"]["name"])
        try:
            return await self._bind(api, name)
        except BaseException:
            await self._delete(name)
            raise

    def _claim_body(self, deployment: Mapping[str, Any], pool: str) -> dict[str, Any]:
        labels = {
            key: value
            for key, value in (deployment["metadata"].get("labels") or {}).items()
            if key in k8s.CORRELATION_LABELS
        }
        shutdown = datetime.now(UTC) + timedelta(seconds=self.claim_max_seconds)
        return {
            "apiVersion": k8s.SANDBOX_EXTENSIONS_API_VERSION,
            "kind": k8s.SANDBOX_CLAIM_KIND,
            "metadata": {
                "generateName": f"{self.deployment}-",
                "labels": {
                    **labels,
                    k8s.LABEL_DEPLOYMENT: self.deployment,
                    k8s.LABEL_COMPONENT: k8s.COMPONENT_CLAIM,
                    k8s.LABEL_MANAGED_BY: k8s.MANAGED_BY_ROUTER,
                    k8s.LABEL_PART_OF: k8s.PART_OF,
                },
            },
            "spec": {
                "warmPoolRef": {"name": pool},
                "lifecycle": {
                    "shutdownTime": shutdown.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "shutdownPolicy": "Delete",
                },
            },
        }

    async def _bind(self, api: Any, name: str) -> Claim:
        what = f"SandboxClaim {self.namespace}/{name}"
        try:
            claim = await knative.wait_for(
                api, *_CLAIMS[:2], _CLAIMS[2], self.namespace, name,
                until=lambda obj: bound_sandbox(obj) is not None, timeout_seconds=self.bind_timeout_seconds,
            )  # fmt: skip
            sandbox_name = bound_sandbox(claim)
            assert sandbox_name is not None  # the wait's condition
            sandbox = await knative.wait_for(
                api, *_SANDBOX[:2], _SANDBOX[2], self.namespace, sandbox_name,
                until=lambda obj: sandbox_host(obj) is not None, timeout_seconds=self.bind_timeout_seconds,
            )  # fmt: skip
        except TimeoutError as exc:
            raise errors.FunctionNotReachedError(
                f"{what} not bound to a ready sandbox after {self.bind_timeout_seconds}s"
            ) from exc
        except ApiException as exc:
            raise errors.FunctionNotReachedError(f"{what}: {exc.status} {exc.reason}") from exc
        host = sandbox_host(sandbox)
        return Claim(name=name, sandbox=sandbox_name, url=f"http://{host}:{self.port}")

    async def _delete(self, name: str) -> None:
        api = await self.connection.custom_objects()
        try:
            await api.delete_namespaced_custom_object(
                *_CLAIMS[:2],
                self.namespace,
                _CLAIMS[2],
                name,
                _request_timeout=knative.REQUEST_TIMEOUT_SECONDS,
            )
        except ApiException as exc:
            if exc.status != knative.NOT_FOUND:
                # the claim's shutdownTime still ends it; a failed release must not fail the run
                log.warning(
                    "could not delete SandboxClaim %s/%s: %s %s", self.namespace, name, exc.status, exc.reason
                )
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("could not delete SandboxClaim %s/%s: %r", self.namespace, name, exc)

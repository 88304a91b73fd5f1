"""Dispatch in a cluster: the router's cluster target resolvers (router/dispatch/knative.py and
sandbox.py) against the test API server, with the operator running under KopfRunner, a real function
process (`python -m functions.main` on 127.0.0.1) behind the resolved URL, and the STAND-IN Knative and
Agent Sandbox controllers of tests/k8s/stand_ins.py pointing their URL / sandbox host at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import kopf.testing
import pytest
from kubernetes import client

from contracts import k8s, runtime
from router import errors
from router.dispatch import knative, sandbox
from router.dispatch.client import FunctionClient
from tests.e2e.stack import Stack
from tests.k8s.cluster import Cluster
from tests.k8s.stand_ins import StandInAgentSandbox, StandInKnative, wait_until

IMAGE = "registry.example/apps/chat@sha256:" + "a" * 64
AD = (k8s.GROUP, k8s.VERSION)
CLAIMS = (k8s.SANDBOX_EXTENSIONS_GROUP, k8s.SANDBOX_VERSION, k8s.SANDBOX_CLAIM_PLURAL)
SCHEMAS = runtime.GraphInfoRequest(graph_id="echo", kind="schemas")


@pytest.fixture
def api(cluster: Cluster) -> Iterator[client.ApiClient]:
    with cluster.api_client() as api_client:
        yield api_client


@pytest.fixture
def objects(api: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api)


@pytest.fixture
def stack(pg_dsn: str, redis_url: str, redis_prefix: str, tmp_path: Path) -> Iterator[Stack]:
    running = Stack(database_url=pg_dsn, redis_url=redis_url, redis_prefix=redis_prefix, workdir=tmp_path)
    try:
        running.start_function()
        yield running
    finally:
        running.stop()


@pytest.fixture
def operator(cluster: Cluster, namespace: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
    with kopf.testing.KopfRunner(
        ["run", "--standalone", "--namespace", namespace, "-m", "knative.operator"], timeout=60
    ) as runner:
        yield
    assert runner.exception is None, runner.output


@pytest.fixture
def knative_stand_in(api: client.ApiClient, namespace: str, stack: Stack) -> Iterator[StandInKnative]:
    stand_in = StandInKnative(api, namespace, lambda _ksvc: stack.function_url)
    stand_in.start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def sandbox_stand_in(api: client.ApiClient, namespace: str, stack: Stack) -> Iterator[StandInAgentSandbox]:
    stand_in = StandInAgentSandbox(api, namespace, host="127.0.0.1")
    stand_in.start()
    yield stand_in
    stand_in.stop()


def create(objects: client.CustomObjectsApi, namespace: str, **spec: Any) -> None:
    body = {
        "apiVersion": k8s.API_VERSION,
        "kind": k8s.KIND,
        "metadata": {"name": "chat", "labels": {k8s.LABEL_ORG_ID: "org-1"}},
        "spec": {"image": IMAGE, "graphs": ["echo"], **spec},
    }
    objects.create_namespaced_custom_object(*AD, namespace, k8s.PLURAL, body)


def claims(objects: client.CustomObjectsApi, namespace: str) -> list[dict[str, Any]]:
    found = cast(
        dict[str, Any], objects.list_namespaced_custom_object(CLAIMS[0], CLAIMS[1], namespace, CLAIMS[2])
    )
    return cast(list[dict[str, Any]], found["items"])


def read(
    objects: client.CustomObjectsApi, group: str, version: str, namespace: str, plural: str, name: str
) -> dict[str, Any]:
    return cast(dict[str, Any], objects.get_namespaced_custom_object(group, version, namespace, plural, name))


def owners_of_sandboxes(objects: client.CustomObjectsApi, namespace: str) -> set[str]:
    found = cast(
        dict[str, Any],
        objects.list_namespaced_custom_object(
            k8s.SANDBOX_GROUP, k8s.SANDBOX_VERSION, namespace, k8s.SANDBOX_PLURAL
        ),
    )
    return {ref["name"] for s in found["items"] for ref in s["metadata"].get("ownerReferences") or []}


@pytest.mark.usefixtures("operator", "knative_stand_in")
async def test_knative_target_waits_for_the_service_then_dispatches_to_its_url(
    cluster: Cluster, objects: client.CustomObjectsApi, namespace: str
) -> None:
    create(objects, namespace)  # not Ready yet: use() waits on the watch
    target = knative.KnativeTarget(
        knative.KubeConnection(cluster.kubeconfig),
        namespace=namespace,
        name="chat",
        resolve_timeout_seconds=30,
    )
    functions = FunctionClient(target, sync_timeout_seconds=10)
    try:
        info = await functions.call(runtime.GRAPH_INFO_REQUESTED, SCHEMAS, runtime.GraphInfo)
    finally:
        await functions.aclose()
        await target.aclose()
    assert info.graph_id == "echo"
    assert "input_schema" in info.body


async def test_knative_target_of_a_deployment_that_never_gets_ready_is_not_reached(
    cluster: Cluster, objects: client.CustomObjectsApi, namespace: str
) -> None:
    create(objects, namespace)  # no operator, no Knative: never Ready
    target = knative.KnativeTarget(
        knative.KubeConnection(cluster.kubeconfig),
        namespace=namespace,
        name="chat",
        resolve_timeout_seconds=1,
    )
    try:
        with pytest.raises(errors.FunctionNotReachedError, match="no Ready Knative Service URL"):
            await target.resolve()
    finally:
        await target.aclose()


@pytest.mark.usefixtures("operator")
@pytest.mark.parametrize(("release", "claims_made"), [("delete", 2), ("reuse", 1)])
async def test_sandbox_target_claims_binds_dispatches_and_releases_per_policy(
    cluster: Cluster,
    objects: client.CustomObjectsApi,
    namespace: str,
    stack: Stack,
    sandbox_stand_in: StandInAgentSandbox,
    release: sandbox.ReleasePolicy,
    claims_made: int,
) -> None:
    create(objects, namespace, mode="sandbox", scale={"warmPool": 1})
    target = sandbox.SandboxTarget(
        knative.KubeConnection(cluster.kubeconfig), namespace=namespace, deployment="chat",
        port=stack.function_port, release=release, bind_timeout_seconds=30,
    )  # fmt: skip
    wait_until(
        lambda: (read(objects, *AD, namespace, k8s.PLURAL, "chat").get("status") or {}).get("warmPool"),
        what="warm pool in status",
    )
    functions = FunctionClient(target, sync_timeout_seconds=10)
    try:
        for _ in range(2):
            info = await functions.call(runtime.GRAPH_INFO_REQUESTED, SCHEMAS, runtime.GraphInfo)
            assert info.graph_id == "echo"
        assert target.claims_made == claims_made
        assert len(sandbox_stand_in.bound) == claims_made
        (claim,) = claims(objects, namespace) if release == "reuse" else [None]
        if claim is not None:
            assert claim["metadata"]["labels"][k8s.LABEL_ORG_ID] == "org-1"
            assert claim["spec"]["lifecycle"]["shutdownPolicy"] == "Delete"
    finally:
        await functions.aclose()
        await target.aclose()
    # released: no claim is left, and the garbage collector removes the sandboxes the claims owned
    assert claims(objects, namespace) == []
    bound = set(sandbox_stand_in.bound)
    wait_until(
        lambda: not owners_of_sandboxes(objects, namespace) & bound,
        what="claimed sandboxes collected",
    )  # fmt: skip


async def test_sandbox_target_without_a_warm_pool_is_not_reached(
    cluster: Cluster, objects: client.CustomObjectsApi, namespace: str
) -> None:
    create(objects, namespace, mode="sandbox")  # no operator: status has no warm pool
    target = sandbox.SandboxTarget(
        knative.KubeConnection(cluster.kubeconfig), namespace=namespace, deployment="chat"
    )
    try:
        with pytest.raises(errors.FunctionNotReachedError, match="no warm pool"):
            async with target.use():
                pytest.fail("use() must not yield without a sandbox")
    finally:
        await target.aclose()
    assert claims(objects, namespace) == []


@pytest.mark.usefixtures("operator")
def test_router_process_runs_a_graph_in_a_claimed_sandbox(
    cluster: Cluster,
    objects: client.CustomObjectsApi,
    namespace: str,
    stack: Stack,
    sandbox_stand_in: StandInAgentSandbox,
) -> None:
    create(objects, namespace, mode="sandbox")
    stack.extra_env.update(
        LANGOPEN_FUNCTION_TARGET="sandbox", LANGOPEN_AGENT_DEPLOYMENT="chat", LANGOPEN_KUBE_NAMESPACE=namespace,
        KUBECONFIG=str(cluster.kubeconfig), LANGOPEN_SANDBOX_PORT=str(stack.function_port),
    )  # fmt: skip
    stack.start_router()
    body = {"assistant_id": "echo", "input": {"messages": [{"role": "user", "content": "hi"}]}}
    response = httpx.post(f"{stack.url}/runs/wait", json=body, timeout=60)
    assert response.status_code == 200, stack.logs()
    assert response.json()["messages"][-1]["content"] == "echo: hi"
    assert len(sandbox_stand_in.bound) >= 1  # the run went through a claimed sandbox
    wait_until(lambda: claims(objects, namespace) == [], what="claims released")

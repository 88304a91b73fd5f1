"""The AgentDeployment operator (knative/operator.py) under `kopf.testing.KopfRunner`, against the real
test API server + controller-manager (garbage collection is real). Knative's and Agent Sandbox's
controllers are replaced by the STAND-INS of tests/k8s/stand_ins.py, which only set their status."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import kopf.testing
import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from contracts import k8s
from tests.k8s import schemas
from tests.k8s.cluster import Cluster
from tests.k8s.stand_ins import StandInAgentSandbox, StandInKnative, wait_until

IMAGE_A = "registry.example/apps/chat@sha256:" + "a" * 64
IMAGE_B = "registry.example/apps/chat@sha256:" + "b" * 64
KSVC = (k8s.KNATIVE_GROUP, k8s.KNATIVE_VERSION)
EXT = (k8s.SANDBOX_EXTENSIONS_GROUP, k8s.SANDBOX_VERSION)
AD = (k8s.GROUP, k8s.VERSION)


@pytest.fixture
def api(cluster: Cluster) -> Iterator[client.ApiClient]:
    with cluster.api_client() as api_client:
        yield api_client


@pytest.fixture
def objects(api: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api)


@pytest.fixture
def operator(cluster: Cluster, namespace: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
    argv = ["run", "--standalone", "--namespace", namespace, "-m", "knative.operator"]
    with kopf.testing.KopfRunner(argv, timeout=60) as runner:
        yield
    assert runner.exception is None, runner.output
    assert runner.exit_code == 0, runner.output


@pytest.fixture
def knative_stand_in(api: client.ApiClient, namespace: str) -> Iterator[StandInKnative]:
    stand_in = StandInKnative(
        api, namespace, lambda ksvc: f"http://{ksvc['metadata']['name']}.{namespace}.svc.cluster.local"
    )
    stand_in.start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def sandbox_stand_in(api: client.ApiClient, namespace: str) -> Iterator[StandInAgentSandbox]:
    stand_in = StandInAgentSandbox(api, namespace, host="127.0.0.1")
    stand_in.start()
    yield stand_in
    stand_in.stop()


def create(
    objects: client.CustomObjectsApi, namespace: str, name: str = "chat", **spec: Any
) -> dict[str, Any]:
    body = {
        "apiVersion": k8s.API_VERSION,
        "kind": k8s.KIND,
        "metadata": {"name": name, "labels": {k8s.LABEL_ORG_ID: "org-1", k8s.LABEL_PROJECT_ID: "prj-1"}},
        "spec": {"image": IMAGE_A, "graphs": ["agent"], **spec},
    }
    return cast(dict[str, Any], objects.create_namespaced_custom_object(*AD, namespace, k8s.PLURAL, body))


def get(
    objects: client.CustomObjectsApi, group_version: tuple[str, str], namespace: str, plural: str, name: str
) -> dict[str, Any] | None:
    try:
        found = objects.get_namespaced_custom_object(*group_version, namespace, plural, name)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return cast(dict[str, Any], found)


def ready(
    objects: client.CustomObjectsApi, namespace: str, name: str = "chat", **status: Any
) -> dict[str, Any] | None:
    """The AgentDeployment once it is Ready and its status holds `status`."""
    ad = get(objects, AD, namespace, k8s.PLURAL, name)
    st = (ad or {}).get("status") or {}
    conds = {c["type"]: c for c in st.get("conditions") or []}
    if conds.get("Ready", {}).get("status") != "True":
        return None
    return ad if all(st.get(k) == v for k, v in status.items()) else None


def ksvc_image(objects: client.CustomObjectsApi, namespace: str) -> str | None:
    ksvc = get(objects, KSVC, namespace, k8s.KNATIVE_SERVICE_PLURAL, "chat")
    return None if ksvc is None else str(ksvc["spec"]["template"]["spec"]["containers"][0]["image"])


@pytest.mark.usefixtures("operator", "knative_stand_in")
def test_create_makes_an_owned_hardened_knative_service_and_policy_then_ready(
    objects: client.CustomObjectsApi, api: client.ApiClient, namespace: str
) -> None:
    ad = create(objects, namespace)
    done = wait_until(lambda: ready(objects, namespace, currentImage=IMAGE_A), what="AgentDeployment Ready")
    assert done["status"]["url"] == f"http://chat.{namespace}.svc.cluster.local"
    assert done["status"]["knativeService"] == "chat"
    assert "previousImage" not in done["status"]

    ksvc = get(objects, KSVC, namespace, k8s.KNATIVE_SERVICE_PLURAL, "chat")
    assert ksvc is not None
    (owner,) = ksvc["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "AgentDeployment",
        "chat",
        ad["metadata"]["uid"],
        True,
    )
    assert ksvc["metadata"]["labels"][k8s.LABEL_ORG_ID] == "org-1"
    template = ksvc["spec"]["template"]
    assert template["metadata"]["annotations"][k8s.AUTOSCALING_MIN_SCALE] == "0"
    assert template["spec"]["runtimeClassName"] == "gvisor"
    assert template["spec"]["timeoutSeconds"] == 600  # the CRD default reached the builder
    assert template["spec"]["automountServiceAccountToken"] is False
    # what the API server stored is still strictly valid under the upstream Knative CRD
    schemas.validate_custom_resource(
        {k: ksvc[k] for k in ("apiVersion", "kind", "spec")} | {"metadata": {"name": "chat"}}
    )

    policy = client.NetworkingV1Api(api).read_namespaced_network_policy("chat", namespace)
    assert policy.spec is not None
    assert policy.metadata is not None
    assert policy.spec.policy_types == ["Egress"]
    assert [ref.uid for ref in policy.metadata.owner_references or []] == [ad["metadata"]["uid"]]


@pytest.mark.usefixtures("operator", "knative_stand_in")
def test_update_rolls_out_and_rollback_returns_to_the_previous_image(
    objects: client.CustomObjectsApi, namespace: str
) -> None:
    create(objects, namespace)
    wait_until(lambda: ready(objects, namespace, currentImage=IMAGE_A), what="first rollout")

    objects.patch_namespaced_custom_object(
        *AD, namespace, k8s.PLURAL, "chat", {"spec": {"image": IMAGE_B, "scale": {"maxScale": 3}}}
    )
    wait_until(
        lambda: ready(objects, namespace, currentImage=IMAGE_B, previousImage=IMAGE_A), what="second rollout"
    )
    assert ksvc_image(objects, namespace) == IMAGE_B
    ksvc = get(objects, KSVC, namespace, k8s.KNATIVE_SERVICE_PLURAL, "chat")
    assert ksvc is not None
    assert ksvc["spec"]["template"]["metadata"]["annotations"][k8s.AUTOSCALING_MAX_SCALE] == "3"

    objects.patch_namespaced_custom_object(
        *AD, namespace, k8s.PLURAL, "chat", {"metadata": {"annotations": {k8s.ANNOTATION_ROLLBACK: "now"}}}
    )
    rolled = wait_until(
        lambda: ready(objects, namespace, currentImage=IMAGE_A, previousImage=IMAGE_B), what="rollback"
    )
    assert rolled["spec"]["image"] == IMAGE_A
    assert k8s.ANNOTATION_ROLLBACK not in (rolled["metadata"].get("annotations") or {})
    assert ksvc_image(objects, namespace) == IMAGE_A


@pytest.mark.usefixtures("operator", "knative_stand_in")
def test_rollback_without_a_previous_image_changes_nothing(
    objects: client.CustomObjectsApi, namespace: str
) -> None:
    create(objects, namespace)
    wait_until(lambda: ready(objects, namespace, currentImage=IMAGE_A), what="rollout")
    objects.patch_namespaced_custom_object(
        *AD, namespace, k8s.PLURAL, "chat", {"metadata": {"annotations": {k8s.ANNOTATION_ROLLBACK: "now"}}}
    )

    def annotation_gone() -> dict[str, Any] | None:
        ad = get(objects, AD, namespace, k8s.PLURAL, "chat")
        assert ad is not None
        return None if k8s.ANNOTATION_ROLLBACK in (ad["metadata"].get("annotations") or {}) else ad

    ad = wait_until(annotation_gone, what="rollback annotation removed")
    assert ad["spec"]["image"] == IMAGE_A
    assert ksvc_image(objects, namespace) == IMAGE_A


@pytest.mark.usefixtures("operator", "knative_stand_in", "sandbox_stand_in")
def test_sandbox_mode_makes_template_and_pool_and_switching_mode_removes_the_other_children(
    objects: client.CustomObjectsApi, namespace: str
) -> None:
    create(objects, namespace, mode="sandbox", runtimeClass="kata-qemu", scale={"warmPool": 2})
    done = wait_until(lambda: ready(objects, namespace, warmPool="chat"), what="warm pool Ready")
    assert not done["status"].get("url")
    template = get(objects, EXT, namespace, k8s.SANDBOX_TEMPLATE_PLURAL, "chat")
    pool = get(objects, EXT, namespace, k8s.SANDBOX_WARM_POOL_PLURAL, "chat")
    assert template is not None
    assert pool is not None
    assert template["spec"]["podTemplate"]["spec"]["runtimeClassName"] == "kata-qemu"
    assert pool["spec"]["replicas"] == 2
    assert pool["metadata"]["ownerReferences"][0]["uid"] == done["metadata"]["uid"]
    assert get(objects, KSVC, namespace, k8s.KNATIVE_SERVICE_PLURAL, "chat") is None

    objects.patch_namespaced_custom_object(*AD, namespace, k8s.PLURAL, "chat", {"spec": {"mode": "function"}})
    wait_until(lambda: ready(objects, namespace, knativeService="chat"), what="function mode Ready")
    wait_until(
        lambda: get(objects, EXT, namespace, k8s.SANDBOX_WARM_POOL_PLURAL, "chat") is None,
        what="pool deleted",
    )
    assert get(objects, EXT, namespace, k8s.SANDBOX_TEMPLATE_PLURAL, "chat") is None


@pytest.mark.usefixtures("operator", "knative_stand_in")
def test_deleting_the_deployment_garbage_collects_its_children(
    objects: client.CustomObjectsApi, api: client.ApiClient, namespace: str
) -> None:
    create(objects, namespace)
    wait_until(lambda: ready(objects, namespace), what="Ready")
    objects.delete_namespaced_custom_object(*AD, namespace, k8s.PLURAL, "chat")
    wait_until(
        lambda: get(objects, KSVC, namespace, k8s.KNATIVE_SERVICE_PLURAL, "chat") is None,
        what="ksvc collected",
    )
    networking = client.NetworkingV1Api(api)
    wait_until(
        lambda: not networking.list_namespaced_network_policy(namespace).items, what="policy collected"
    )


@pytest.mark.usefixtures("operator")
def test_a_child_name_taken_by_a_foreign_object_is_reported_not_overwritten(
    objects: client.CustomObjectsApi, namespace: str
) -> None:
    foreign = {"apiVersion": k8s.KNATIVE_API_VERSION, "kind": "Service", "metadata": {"name": "chat"},
               "spec": {"template": {"spec": {"containers": [{"image": "someone/else@sha256:" + "c" * 64}]}}}}  # fmt: skip
    objects.create_namespaced_custom_object(*KSVC, namespace, k8s.KNATIVE_SERVICE_PLURAL, foreign)
    create(objects, namespace)

    def failed() -> dict[str, Any] | None:
        ad = get(objects, AD, namespace, k8s.PLURAL, "chat")
        conds = {c["type"]: c for c in ((ad or {}).get("status") or {}).get("conditions") or []}
        return conds.get("Ready") if conds.get("Ready", {}).get("status") == "False" else None

    cond = wait_until(failed, what="Ready=False")
    assert cond["reason"] == "child_conflict"
    assert ksvc_image(objects, namespace) == "someone/else@sha256:" + "c" * 64


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"image": "registry.example/apps/chat:latest"}, "spec.image"),
        ({"runtimeClass": "runc"}, "spec.runtimeClass"),
        ({"mode": "vm"}, "spec.mode"),
        ({"scale": {"maxScale": 0}}, "spec.scale.maxScale"),
        ({"graphs": []}, "spec.graphs"),
    ],
)
def test_the_api_server_refuses_invalid_specs_naming_the_field(
    objects: client.CustomObjectsApi, namespace: str, spec: dict[str, Any], field: str
) -> None:
    with pytest.raises(ApiException) as info:
        create(objects, namespace, **spec)
    assert info.value.status == 422
    assert field in str(info.value.body)

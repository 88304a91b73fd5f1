"""A real Kubernetes control plane on loopback for the cluster test tier.

etcd + kube-apiserver + kube-controller-manager + kube-scheduler v1.20.2 (binaries from
`scripts/k8s-control-plane`, built from Debian's source package and cached outside the repository),
every server on 127.0.0.1 on a free port, RBAC on, a token-authenticated admin in a kubeconfig. There is
no kubelet, so pods stay Pending: tests check objects, defaults, RBAC, garbage collection and Helm
releases, not running workloads. Knative's and Agent Sandbox's controllers are absent too; only their
CRDs are installed (through `crd_compat`, since 1.20 rejects parts of the current upstream files).
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import kubernetes
import yaml
from kubernetes.client import ApiClient

from tests.k8s import crd_compat, crds

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTROL_PLANE_SCRIPT = REPO_ROOT / "scripts" / "k8s-control-plane"
READY_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 10.0
# Controllers that need nodes, clouds or volumes are off; GC, namespaces, service accounts, tokens,
# deployments and replica sets are what the tests rely on.
CONTROLLERS = (
    "*,-nodeipam,-nodelifecycle,-cloud-node-lifecycle,-service,-route,-attachdetach,"
    "-persistentvolume-binder,-persistentvolume-expander,-ttl"
)


class ClusterStartError(RuntimeError):
    """The test control plane did not come up."""


def control_plane_bin_dir() -> Path:
    """The cached binaries; building them (minutes) is `scripts/k8s-control-plane`'s job, not a test's."""
    result = subprocess.run(
        [str(CONTROL_PLANE_SCRIPT)], capture_output=True, text=True, check=False, env=_cached_only_env()
    )
    if result.returncode != 0:
        raise ClusterStartError(f"scripts/k8s-control-plane failed:\n{result.stderr[-2000:]}")
    return Path(result.stdout.strip().splitlines()[-1])


def _cached_only_env() -> dict[str, str]:
    return {**os.environ, "LANGOPEN_K8S_CACHED_ONLY": "1"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Cluster:
    """A running test cluster: what `tests/k8s` fixtures hand to tests (see conftest.py)."""

    kubeconfig: Path
    server: str
    token: str
    ca_file: Path
    workdir: Path

    def api_client(self) -> ApiClient:
        """A new admin client (`system:masters`) for this cluster; close it or use it as a context."""
        configuration = kubernetes.client.Configuration()
        kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]  # untyped in kubernetes
            config_file=str(self.kubeconfig), client_configuration=configuration
        )
        return ApiClient(configuration)

    def namespace_factory(self) -> str:
        """Create a fresh namespace and return its name (it goes when the cluster's etcd is discarded)."""
        name = f"t-{uuid.uuid4().hex[:10]}"
        with self.api_client() as api:
            body = kubernetes.client.V1Namespace(metadata=kubernetes.client.V1ObjectMeta(name=name))
            kubernetes.client.CoreV1Api(api).create_namespace(body)
        return name

    def kubectl_env(self) -> dict[str, str]:
        """Environment for kubectl/helm subprocesses: this cluster's kubeconfig and nothing else."""
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}


class ControlPlane:
    """Starts and stops the processes of one test cluster in `workdir`."""

    def __init__(self, bin_dir: Path, workdir: Path) -> None:
        self.bin_dir = bin_dir
        self.workdir = workdir
        self.pki = workdir / "pki"
        self._processes: list[tuple[str, subprocess.Popen[bytes], IO[bytes]]] = []

    def start(self, crd_docs: list[dict[str, Any]]) -> Cluster:
        self.pki.mkdir(parents=True, exist_ok=True)
        token = secrets.token_hex(16)
        self._write_keys(token)
        etcd_url = self._start_etcd()
        api_port = free_port()
        self._start_apiserver(etcd_url, api_port)
        server = f"https://127.0.0.1:{api_port}"
        ca_file = self.pki / "apiserver.crt"
        self._wait_ready(server, token, ca_file)
        cluster = Cluster(
            kubeconfig=self._write_kubeconfig(server, token, ca_file),
            server=server,
            token=token,
            ca_file=ca_file,
            workdir=self.workdir,
        )
        self._start_controllers(cluster.kubeconfig)
        with cluster.api_client() as api:
            install_crds(api, crd_docs)
            _wait_for_default_service_account(api)
        return cluster

    def stop(self) -> None:
        for _name, process, log in reversed(self._processes):
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()
        self._processes.clear()

    def logs_tail(self, lines: int = 20) -> str:
        parts = []
        for name, _process, _log in self._processes:
            text = (self.workdir / f"{name}.log").read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {name}.log\n" + "\n".join(text))
        return "\n".join(parts)

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"{name}.log").open("wb")
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self._processes.append((name, process, log))
        return process

    def _write_keys(self, token: str) -> None:
        key, pub = self.pki / "sa.key", self.pki / "sa.pub"
        subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
        subprocess.run(
            ["openssl", "rsa", "-in", str(key), "-pubout", "-out", str(pub)], check=True, capture_output=True
        )
        (self.pki / "tokens.csv").write_text(f"{token},admin,admin,system:masters\n")

    def _start_etcd(self) -> str:
        client, peer, metrics = free_port(), free_port(), free_port()
        url = f"http://127.0.0.1:{client}"
        etcd = shutil.which("etcd") or "/usr/bin/etcd"
        self._spawn(
            "etcd",
            [
                etcd,
                "--name=test",
                f"--data-dir={self.workdir / 'etcd-data'}",
                f"--listen-client-urls={url}",
                f"--advertise-client-urls={url}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=test=http://127.0.0.1:{peer}",
                f"--listen-metrics-urls=http://127.0.0.1:{metrics}",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
        )
        return url

    def _start_apiserver(self, etcd_url: str, port: int) -> None:
        self._spawn(
            "kube-apiserver",
            [
                str(self.bin_dir / "kube-apiserver"),
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={port}",
                "--insecure-port=0",
                f"--cert-dir={self.pki}",
                f"--token-auth-file={self.pki / 'tokens.csv'}",
                "--authorization-mode=RBAC",
                f"--service-account-key-file={self.pki / 'sa.pub'}",
                f"--service-account-signing-key-file={self.pki / 'sa.key'}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                "--service-cluster-ip-range=10.96.0.0/24",
                "--enable-admission-plugins=NamespaceLifecycle,ServiceAccount,ResourceQuota",
                "--profiling=false",
            ],
        )

    def _start_controllers(self, kubeconfig: Path) -> None:
        self._spawn(
            "kube-controller-manager",
            [
                str(self.bin_dir / "kube-controller-manager"),
                f"--kubeconfig={kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
                "--port=0",
                "--leader-elect=false",
                f"--service-account-private-key-file={self.pki / 'sa.key'}",
                f"--root-ca-file={self.pki / 'apiserver.crt'}",
                f"--controllers={CONTROLLERS}",
            ],
        )
        self._spawn(
            "kube-scheduler",
            [
                str(self.bin_dir / "kube-scheduler"),
                f"--kubeconfig={kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
                "--port=0",
                "--leader-elect=false",
            ],
        )

    def _wait_ready(self, server: str, token: str, ca_file: Path) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        request = urllib.request.Request(f"{server}/readyz", headers={"Authorization": f"Bearer {token}"})
        while True:
            for name, process, _log in self._processes:
                if process.poll() is not None:
                    raise ClusterStartError(f"{name} exited with {process.returncode}\n{self.logs_tail()}")
            if ca_file.exists():
                try:
                    context = ssl.create_default_context(cafile=str(ca_file))
                    with urllib.request.urlopen(request, timeout=1, context=context) as response:
                        if response.status == 200:
                            return
                except (urllib.error.URLError, ConnectionError, ssl.SSLError, TimeoutError):
                    pass
            if time.monotonic() > deadline:
                raise ClusterStartError(
                    f"apiserver not ready in {READY_TIMEOUT_SECONDS}s\n{self.logs_tail()}"
                )
            time.sleep(0.2)

    def _write_kubeconfig(self, server: str, token: str, ca_file: Path) -> Path:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "test",
                    "cluster": {
                        "server": server,
                        "certificate-authority-data": base64.b64encode(ca_file.read_bytes()).decode(),
                    },
                }
            ],
            "users": [{"name": "admin", "user": {"token": token}}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": "admin"}}],
            "current-context": "test",
        }
        path = self.workdir / "kubeconfig"
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        return path


def install_crds(api: ApiClient, crd_docs: list[dict[str, Any]]) -> None:
    """Create every CRD (1.20-compatible form) and wait until all are Established."""
    ext = kubernetes.client.ApiextensionsV1Api(api)
    names = []
    for doc in crd_docs:
        body, _stats = crd_compat.to_v1_20(doc)
        ext.create_custom_resource_definition(body)  # type: ignore[arg-type]  # the client sends dicts as they are
        names.append(body["metadata"]["name"])
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    pending = set(names)
    while pending:
        for name in sorted(pending):
            crd = ext.read_custom_resource_definition(name)
            conditions = (crd.status.conditions if crd.status else None) or []
            if any(c.type == "Established" and c.status == "True" for c in conditions):
                pending.discard(name)
        if pending and time.monotonic() > deadline:
            raise ClusterStartError(f"CRDs not Established: {sorted(pending)}")
        if pending:
            time.sleep(0.1)


def _wait_for_default_service_account(api: ApiClient) -> None:
    """The service-account controller has run: controller-manager is up and tokens will be minted."""
    core = kubernetes.client.CoreV1Api(api)
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while not core.list_namespaced_service_account("default", field_selector="metadata.name=default").items:
        if time.monotonic() > deadline:
            raise ClusterStartError("controller-manager did not create the default ServiceAccount")
        time.sleep(0.1)


@contextmanager
def running_cluster(workdir: Path, *, bin_dir: Path | None = None) -> Iterator[Cluster]:
    """A control plane with the upstream and project CRDs for the span of the block."""
    plane = ControlPlane(bin_dir or control_plane_bin_dir(), workdir)
    try:
        yield plane.start(crds.load_crds(crds.upstream_crd_paths() + crds.project_crd_paths()))
    finally:
        plane.stop()

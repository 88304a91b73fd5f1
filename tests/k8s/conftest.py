"""The cluster test tier: a real control plane on loopback, shared by every test in `tests/k8s`.

Fixtures (the interface other cluster tests rely on):
- `cluster` (session): a `tests.k8s.cluster.Cluster` — `kubeconfig: Path`, `server: str`,
  `namespace_factory() -> str` (a fresh namespace), `api_client() -> kubernetes.client.ApiClient`
  (admin). Upstream Knative Serving + Agent Sandbox CRDs (1.20-compatible form) and every
  `knative/crds/*.yaml` are installed.
- `namespace`: a fresh namespace for one test.
- `k8s_tools` (session): the directory holding `helm` and `kubectl` (scripts/k8s-tools).

Every test collected here is marked `k8s` and put in one xdist group, so `scripts/test -n 2` starts one
cluster, not one per worker. Strict validators for generated objects: `tests.k8s.schemas`.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.k8s import cluster as test_cluster

HERE = Path(__file__).resolve().parent
TOOLS_SCRIPT = test_cluster.REPO_ROOT / "scripts" / "k8s-tools"


@pytest.hookimpl(tryfirst=True)  # before xdist's loadgroup hook reads the group marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.k8s)
            item.add_marker(pytest.mark.xdist_group("k8s"))


@pytest.fixture(scope="session")
def cluster() -> Iterator[test_cluster.Cluster]:
    workdir = Path(tempfile.mkdtemp(prefix="langopen-k8s-"))
    try:
        with test_cluster.running_cluster(workdir) as running:
            yield running
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def namespace(cluster: test_cluster.Cluster) -> str:
    return cluster.namespace_factory()


@pytest.fixture(scope="session")
def k8s_tools() -> Path:
    result = subprocess.run([str(TOOLS_SCRIPT)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return Path(result.stdout.strip().splitlines()[-1])

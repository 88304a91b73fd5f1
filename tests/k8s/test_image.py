"""The function image (knative/image/Containerfile), built and run for real: buildah with chroot
isolation on the debootstrapped Debian base (scripts/k8s-image-base, pinned by its digest), unpacked with
umoci, started under gVisor (`runsc`, host network, every port on 127.0.0.1) as the image's non-root
user with a read-only root file system, answering a run CloudEvent against the machine's Postgres and
Redis, and draining an in-flight run on SIGTERM.

Slow parts are cached outside the repository: the base (scripts/k8s-image-base) and the dependency
wheels (keyed by the locked requirements). The langopen wheel is built from the working tree each run.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cloudevents.core.bindings.http import to_binary
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from contracts import k8s
from contracts import runtime as rt
from contracts.ids import system_assistant_id, uuid7
from knative.settings import OperatorSettings
from tests.k8s.cluster import REPO_ROOT, free_port

pytestmark = pytest.mark.timeout(900)

CONTAINERFILE = REPO_ROOT / "knative" / "image" / "Containerfile"
APP = Path(__file__).resolve().parent / "image_app"
CACHE_ROOT = Path(os.environ.get("LANGOPEN_K8S_CACHE", "/var/cache/langopen"))
BASE_SCRIPT = REPO_ROOT / "scripts" / "k8s-image-base"
IMAGE_UID = k8s.IMAGE_USER_ID
# A clean environment for buildah/runsc/pip: the host's PIP_* settings must not leak into builds.
CLEAN_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


@dataclass(frozen=True)
class Base:
    storage: Path
    image: str  # name@sha256:digest

    @property
    def buildah(self) -> list[str]:
        run = self.storage.parent / "run"
        return ["buildah", "--root", str(self.storage), "--runroot", str(run), "--storage-driver", "overlay"]


def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, env=CLEAN_ENV, check=False)
    assert result.returncode == 0, f"{' '.join(argv)}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def base() -> Base:
    storage, image = run([str(BASE_SCRIPT)]).stdout.split()
    return Base(Path(storage), image)


def dependency_wheels() -> Path:
    """Wheels of every locked runtime dependency and of the app's requirements, cached by their hash."""
    locked = subprocess.run(
        ["uv", "export", "--frozen", "--no-dev", "--no-emit-project", "--no-hashes", "--format", "requirements-txt", "-q"],
        capture_output=True, text=True, check=True, cwd=REPO_ROOT,
    ).stdout  # fmt: skip
    app = (APP / "requirements.txt").read_text()
    key = hashlib.sha256((locked + app).encode()).hexdigest()[:16]
    folder = CACHE_ROOT / "wheelhouse" / key
    if (folder / ".complete").exists():
        return folder
    work = Path(tempfile.mkdtemp(dir=CACHE_ROOT, prefix=".wheelhouse-"))
    (work / "locked.txt").write_text(locked)
    run([
        "python3", "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--only-binary=:all:",
        "-r", str(work / "locked.txt"), "-r", str(APP / "requirements.txt"), "-d", str(work),
    ])  # fmt: skip
    (work / ".complete").touch()
    shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    work.rename(folder)
    return folder


@pytest.fixture(scope="module")
def oci_bundle(base: Base, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The app image built from the Containerfile, unpacked into an OCI runtime bundle."""
    work = tmp_path_factory.mktemp("image")
    context = work / "context"
    (context / "wheels").mkdir(parents=True)
    for wheel in dependency_wheels().glob("*.whl"):
        os.link(wheel, context / "wheels" / wheel.name)
    subprocess.run(
        ["uv", "build", "--wheel", "--quiet", "--out-dir", str(context / "wheels")], check=True, cwd=REPO_ROOT
    )
    shutil.copytree(APP, context / "app", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(CONTAINERFILE, context / "Containerfile")
    tag = f"localhost/langopen-test/app:{uuid.uuid4().hex[:8]}"
    run([
        *base.buildah, "bud", "--isolation", "chroot", "--quiet", "--layers=false",
        "--build-arg", f"BASE_IMAGE={base.image}", "-t", tag, "-f", str(context / "Containerfile"), str(context),
    ])  # fmt: skip
    try:
        run([*base.buildah, "push", "--quiet", "--disable-compression", tag, f"oci:{work / 'layout'}:app"])
        run(["umoci", "unpack", "--image", f"{work / 'layout'}:app", str(work / "bundle")])
    finally:
        run([*base.buildah, "rmi", tag])
    return work / "bundle"


def test_base_is_pinned_by_digest_and_the_build_refuses_a_tag(base: Base, tmp_path: Path) -> None:
    context = tmp_path / "context"
    (context / "wheels").mkdir(parents=True)
    (context / "app").mkdir()
    (context / "app" / "requirements.txt").write_text("")
    shutil.copy(CONTAINERFILE, context / "Containerfile")
    unpinned = base.image.split("@")[0] + ":bookworm"

    result = subprocess.run(
        [*base.buildah, "bud", "--isolation", "chroot", "--layers=false", "--build-arg", f"BASE_IMAGE={unpinned}",
         "-f", str(context / "Containerfile"), str(context)],
        capture_output=True, text=True, env=CLEAN_ENV, check=False,
    )  # fmt: skip

    assert "@sha256:" in base.image
    assert result.returncode != 0
    assert "BASE_IMAGE must be pinned by digest" in result.stderr + result.stdout


def test_containerfile_builds_the_layout_the_operator_assumes() -> None:
    """contracts/k8s.py's IMAGE_* (the operator's defaults, knative/settings.py) are what the template
    builds: the app and its langgraph.json, the user and the port."""
    text = CONTAINERFILE.read_text()
    uid, app = k8s.IMAGE_USER_ID, k8s.IMAGE_APP_DIR

    assert f"--uid {uid} --user-group" in text
    assert f"\nUSER {uid}:{uid}\n" in text
    assert f"\nCOPY app/ {app}/\n" in text
    assert f"\nWORKDIR {app}\n" in text
    assert f"LANGOPEN_CONFIG={k8s.IMAGE_APP_CONFIG_PATH} " in text
    assert f"PORT={k8s.IMAGE_PORT}\n" in text
    assert f"\nEXPOSE {k8s.IMAGE_PORT}\n" in text
    operator = OperatorSettings()
    assert (operator.app_config_path, operator.run_as_user, operator.container_port) == (
        k8s.IMAGE_APP_CONFIG_PATH, k8s.IMAGE_USER_ID, k8s.IMAGE_PORT,
    )  # fmt: skip


def test_image_config_is_non_root_with_the_runtime_as_entrypoint(oci_bundle: Path) -> None:
    config = json.loads((oci_bundle / "config.json").read_text())

    assert config["process"]["user"]["uid"] == IMAGE_UID
    assert config["process"]["args"] == ["python", "-m", "functions.main"]
    env = dict(item.split("=", 1) for item in config["process"]["env"])
    assert env["LANGOPEN_CONFIG"] == k8s.IMAGE_APP_CONFIG_PATH
    assert env["PORT"] == str(k8s.IMAGE_PORT)
    assert (oci_bundle / "rootfs" / "app" / "graph.py").is_file()
    assert (oci_bundle / "rootfs" / "app" / "graph.py").stat().st_uid == 0  # code not writable by the app


@dataclass
class Sandbox:
    container_id: str
    state: Path
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def runsc(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["runsc", "--root", str(self.state), *args],
            capture_output=True,
            text=True,
            env=CLEAN_ENV,
            check=False,
        )


def gvisor_config(bundle: Path, *, env: dict[str, str]) -> None:
    """Run in gVisor with the host's network (loopback only is used), a read-only root and a /tmp tmpfs."""
    path = bundle / "config.json"
    config = json.loads(path.read_text())
    config["process"]["terminal"] = False
    config["process"]["env"] = [
        *(e for e in config["process"]["env"] if e.split("=", 1)[0] not in env), *(f"{k}={v}" for k, v in env.items())
    ]  # fmt: skip
    config["root"]["readonly"] = True
    config["mounts"] = [m for m in config["mounts"] if m["destination"] != "/tmp"] + [
        {
            "destination": "/tmp",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "nodev", "mode=1777"],
        }
    ]
    namespaces = config["linux"]["namespaces"]
    config["linux"]["namespaces"] = [ns for ns in namespaces if ns["type"] != "network"]
    path.write_text(json.dumps(config))


@pytest.fixture
def sandbox(oci_bundle: Path, pg_dsn: str, redis_url: str, tmp_path: Path) -> Iterator[Sandbox]:
    port = free_port()
    gvisor_config(
        oci_bundle,
        env={
            "DATABASE_URL": pg_dsn,
            "REDIS_URL": redis_url,
            "PORT": str(port),
            "LANGOPEN_FUNCTION_HOST": "127.0.0.1",
        },
    )
    state, log = tmp_path / "runsc", tmp_path / "runsc.log"
    state.mkdir()
    container_id = f"lo-{uuid.uuid4().hex[:10]}"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["runsc", "--root", str(state), "--network=host", "run", "--bundle", str(oci_bundle), container_id],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=CLEAN_ENV,
        )  # fmt: skip
    box = Sandbox(container_id, state, f"http://127.0.0.1:{port}", process, log)
    try:
        wait_healthy(box)
        yield box
    finally:
        if process.poll() is None:
            box.runsc("kill", container_id, "KILL")
            process.wait(timeout=30)
        box.runsc("delete", "--force", container_id)


def wait_healthy(box: Sandbox, seconds: float = 90.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        assert box.process.poll() is None, (
            f"runsc exited {box.process.returncode}:\n{box.log.read_text()[-3000:]}"
        )
        try:
            if httpx.get(f"{box.url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"no /healthz in {seconds}s:\n{box.log.read_text()[-3000:]}"
        time.sleep(0.2)


def run_event(graph_input: dict[str, object], redis_prefix: str) -> tuple[dict[str, str], bytes]:
    request = rt.RunRequest(
        run_id=str(uuid7()),
        thread_id=str(uuid7()),
        assistant_id=system_assistant_id("pipeline"),
        graph_id="pipeline",
        attempt=1,
        input=graph_input,
        redis_prefix=redis_prefix,
    )
    attributes = {
        "type": rt.RUN_REQUESTED,
        "source": rt.SPEC_SOURCE_ROUTER,
        "datacontenttype": "application/json",
    }
    message = to_binary(
        CloudEvent(attributes=attributes, data=request.model_dump_json().encode()), JSONFormat()
    )
    return message.headers, message.body


def test_image_answers_a_run_cloudevent_under_gvisor(sandbox: Sandbox, redis_prefix: str) -> None:
    headers, body = run_event({"items": ["x"]}, redis_prefix)

    response = httpx.post(f"{sandbox.url}/", content=body, headers=headers, timeout=60)

    assert response.status_code == 200, response.text
    assert response.headers["ce-type"] == rt.RUN_OUTCOME
    outcome = rt.RunOutcome.model_validate_json(response.content)
    assert outcome.status == "success"
    assert outcome.values == {"items": ["x", "done"], "toolz": "1.0.0"}
    probe = "import os; print(os.uname().release, open('/proc/1/status').read().split('Uid:')[1].split()[0])"
    inside = sandbox.runsc("exec", sandbox.container_id, "python", "-c", probe)
    assert inside.stdout.split() == [
        "4.4.0",
        str(IMAGE_UID),
    ]  # gVisor's kernel; the server runs as the app user


def test_sigterm_lets_the_in_flight_run_finish_then_exits(sandbox: Sandbox, redis_prefix: str) -> None:
    headers, body = run_event({"items": ["x"], "delay": 2.0}, redis_prefix)
    with httpx.Client(timeout=60) as client, concurrent.futures.ThreadPoolExecutor(1) as pool:
        posting = pool.submit(client.post, f"{sandbox.url}/", content=body, headers=headers)
        time.sleep(0.8)  # the run is in its 2 s step
        killed = sandbox.runsc("kill", sandbox.container_id, "TERM")
        response = posting.result(timeout=60)

    assert killed.returncode == 0, killed.stderr
    assert response.status_code == 200
    assert rt.RunOutcome.model_validate_json(response.content).status == "success"
    # uvicorn re-raises the SIGTERM it caught once it has shut down: 128 + 15 is its clean exit.
    assert sandbox.process.wait(timeout=30) == 143
    log = sandbox.log.read_text()
    assert "Waiting for connections to close" in log
    assert "Finished server process" in log

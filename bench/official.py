"""The official in-memory ``langgraph dev`` server as the benchmark baseline.

Creates ``bench/.venv-official`` on first use (``python3 -m venv`` + pip, versions pinned to the ones
checked in /work/shared/reference/agent-server-api.md), then runs::

    langgraph dev --no-browser --no-reload --host 127.0.0.1 --port <free> --n-jobs-per-worker 10

in ``bench/app`` with analytics, tracing and the version check turned off, after wiping
``bench/app/.langgraph_api`` (the in-memory runtime pickles its data there between restarts).

Run ``python -m bench.official`` to only create the venv and print the versions.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from bench._server import APP_DIR, BENCH_DIR, ServerHandle, free_port, managed_server

VENV_DIR = BENCH_DIR / ".venv-official"

# agent-server-api.md, "Versions inspected" (the peers.md figures are from langgraph-api 0.16.7).
PINNED = [
    "langgraph-cli[inmem]==0.4.40",
    "langgraph-sdk==0.4.14",
    "langgraph-api==0.16.7",
    "langgraph-runtime-inmem==0.36.7",
    "langgraph==1.2.22",
]

SERVER_ENV = {
    "LANGGRAPH_CLI_NO_ANALYTICS": "1",
    "LANGSMITH_TRACING": "false",
    "LANGGRAPH_NO_VERSION_CHECK": "true",
}
# Never let a key from the caller's shell turn on LangSmith or the licence beacon.
DROPPED_ENV = (
    "LANGSMITH_API_KEY",
    "LANGCHAIN_API_KEY",
    "LANGGRAPH_API_KEY",
    "LANGCHAIN_TRACING_V2",
    "LANGGRAPH_CLOUD_LICENSE_KEY",
    "LANGSMITH_CONTROL_PLANE_API_KEY",
    "PYTHONPATH",
    "VIRTUAL_ENV",
)


def langgraph_bin(venv: Path = VENV_DIR) -> Path:
    return venv / "bin" / "langgraph"


def ensure_venv(venv: Path = VENV_DIR) -> Path:
    """Create the venv and install the pinned packages unless ``langgraph`` is already there."""
    exe = langgraph_bin(venv)
    if exe.exists():
        return exe
    if not (venv / "bin" / "python").exists():
        print(f"[official] creating {venv}", flush=True)
        subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
    print(f"[official] pip install {' '.join(PINNED)}", flush=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", *PINNED], check=True)
    if not exe.exists():
        raise RuntimeError(f"{exe} missing after pip install")
    return exe


def installed_versions(venv: Path = VENV_DIR) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json\n"
        "names = ['langgraph-api', 'langgraph-runtime-inmem', 'langgraph-cli', 'langgraph', 'langgraph-sdk']\n"
        "print(json.dumps({n: m.version(n) for n in names}))\n"
    )
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code], check=True, capture_output=True, text=True
    )
    versions: dict[str, str] = json.loads(out.stdout)
    return versions


def server_command(exe: Path, host: str, port: int, n_jobs_per_worker: int) -> list[str]:
    return [
        str(exe),
        "dev",
        "--no-browser",
        "--no-reload",
        "--host",
        host,
        "--port",
        str(port),
        "--n-jobs-per-worker",
        str(n_jobs_per_worker),
    ]


def server_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
    env.update(SERVER_ENV)
    return env


@contextlib.contextmanager
def start(
    *,
    log_path: Path,
    host: str = "127.0.0.1",
    port: int | None = None,
    n_jobs_per_worker: int = 10,
    startup_timeout: float = 180.0,
) -> Iterator[ServerHandle]:
    """Start a clean official dev server on a free port; stop it when the block exits."""
    exe = ensure_venv()
    shutil.rmtree(APP_DIR / ".langgraph_api", ignore_errors=True)
    port = port or free_port(host)
    try:
        with managed_server(
            name="official",
            command=server_command(exe, host, port, n_jobs_per_worker),
            cwd=APP_DIR,
            env=server_env(),
            url=f"http://{host}:{port}",
            log_path=log_path,
            startup_timeout=startup_timeout,
        ) as handle:
            handle.info["packages"] = installed_versions()
            yield handle
    finally:
        shutil.rmtree(APP_DIR / ".langgraph_api", ignore_errors=True)


if __name__ == "__main__":
    ensure_venv()
    print(installed_versions())

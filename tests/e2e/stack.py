"""Start LangOpen as real processes for end-to-end tests: a function runtime and a router, on free
loopback ports, against a database and Redis prefix of their own."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
APP_CONFIG = ROOT / "tests" / "app" / "langgraph.json"
START_TIMEOUT_SECONDS = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} not ready after {START_TIMEOUT_SECONDS}s:\n{log.read_text()[-4000:]}")


@dataclass
class Stack:
    database_url: str
    redis_url: str
    redis_prefix: str
    workdir: Path
    config: Path = APP_CONFIG
    extra_env: dict[str, str] = field(default_factory=dict)
    function_port: int = field(default_factory=free_port)
    router_port: int = field(default_factory=free_port)
    router_module: str = "tests.e2e.router_open"
    """`router` requires API keys; the default serves without (suites written before auth)."""
    function: subprocess.Popen[bytes] | None = None
    router: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.router_port}"

    @property
    def function_url(self) -> str:
        return f"http://127.0.0.1:{self.function_port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LANGOPEN_")}
        env.update(
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis_url,
            LANGOPEN_REDIS_PREFIX=self.redis_prefix,
            LANGOPEN_CONFIG=str(self.config),
            LANGOPEN_FUNCTION_URL=self.function_url,
            PYTHONPATH=str(ROOT),
            **self.extra_env,
        )
        return env

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = self.workdir / f"{name}.log"
        with log.open("ab") as fh:  # the child keeps its own copy of the descriptor
            return subprocess.Popen(
                [sys.executable, "-m", *args], cwd=ROOT, env=self.env(), stdout=fh, stderr=subprocess.STDOUT
            )

    def start_function(self) -> None:
        self.function = self._spawn("function", ["functions.main", "--port", str(self.function_port)])
        wait_ready(f"{self.function_url}/healthz", self.function, self.workdir / "function.log")

    def start_router(self) -> None:
        self.router = self._spawn("router", [self.router_module, "--port", str(self.router_port)])
        wait_ready(f"{self.url}/ok", self.router, self.workdir / "router.log")

    def start(self) -> None:
        self.start_function()
        self.start_router()

    def kill_function(self) -> None:
        assert self.function is not None
        self.function.send_signal(signal.SIGKILL)
        self.function.wait()

    def restart_router(self) -> None:
        assert self.router is not None
        self.router.terminate()
        self.router.wait(timeout=30)
        self.start_router()

    def stop(self) -> None:
        for proc in (self.router, self.function):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(self.workdir.glob("*.log")))

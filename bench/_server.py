"""Start, health-check and stop one server process for the benchmark (shared by official.py and langopen.py)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
APP_DIR = BENCH_DIR / "app"
RESULTS_DIR = BENCH_DIR / "results"


class ServerError(RuntimeError):
    """The server could not be started or did not become healthy."""


@dataclass
class ServerHandle:
    """A server under test: either started here (``pid`` set) or already running at ``url``."""

    name: str
    url: str
    started_by_us: bool
    command: list[str] | None = None
    cwd: str | None = None
    pid: int | None = None
    log_path: str | None = None
    startup_s: float | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "url": self.url,
            "started_by_us": self.started_by_us,
            "command": self.command,
            "cwd": self.cwd,
            "pid": self.pid,
            "log_path": self.log_path,
            "startup_s": self.startup_s,
            "info": self.info,
        }


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def port_is_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def fetch_info(url: str) -> dict[str, Any]:
    """``GET /info`` (server version etc.); empty dict if the server has no such endpoint."""
    try:
        r = httpx.get(f"{url}/info", timeout=5)
        if r.status_code == 200:
            body = r.json()
            if isinstance(body, dict):
                return body
    except (httpx.HTTPError, ValueError):
        pass
    return {}


def check_ok(url: str, timeout: float = 5.0) -> bool:
    try:
        return httpx.get(f"{url}/ok", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_ok(url: str, proc: subprocess.Popen[bytes], timeout: float, log_path: Path) -> None:
    """Poll ``GET {url}/ok`` until it answers 200; fail early if the process exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rc = proc.poll()
        if rc is not None:
            raise ServerError(
                f"server exited with code {rc} before /ok answered; log tail:\n{_log_tail(log_path)}"
            )
        if check_ok(url, timeout=2.0):
            return
        time.sleep(0.2)
    raise ServerError(
        f"GET {url}/ok did not return 200 within {timeout:.0f}s; log tail:\n{_log_tail(log_path)}"
    )


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def stop(proc: subprocess.Popen[bytes], grace: float = 15.0) -> int | None:
    """SIGTERM the process group we created, then SIGKILL it after ``grace`` seconds. Returns the exit code."""
    pgid = proc.pid  # started with start_new_session=True, so pid == pgid
    if proc.poll() is None:
        _signal_group(pgid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            _signal_group(pgid, signal.SIGKILL)
            proc.wait(timeout=10)
    # children that outlived the leader (same group, still ours)
    _signal_group(pgid, signal.SIGKILL)
    return proc.returncode


@contextlib.contextmanager
def managed_server(
    *,
    name: str,
    command: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    url: str,
    log_path: Path,
    startup_timeout: float,
    stop_grace: float = 15.0,
) -> Iterator[ServerHandle]:
    """Run ``command`` in its own process group, wait for ``/ok``, yield a handle, always stop it."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    print(f"[{name}] starting: {' '.join(command)}  (cwd={cwd}, log={log_path})", flush=True)
    t0 = time.perf_counter()
    with log_path.open("wb") as log:
        try:
            proc = subprocess.Popen(
                list(command),
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise ServerError(f"cannot execute {command[0]!r}: {exc}") from exc
        try:
            wait_ok(url, proc, startup_timeout, log_path)
            startup = time.perf_counter() - t0
            print(f"[{name}] ready at {url} after {startup:.1f}s (pid {proc.pid})", flush=True)
            yield ServerHandle(
                name=name,
                url=url,
                started_by_us=True,
                command=list(command),
                cwd=str(cwd),
                pid=proc.pid,
                log_path=str(log_path),
                startup_s=round(startup, 3),
                info=fetch_info(url),
            )
        finally:
            rc = stop(proc, grace=stop_grace)
            print(f"[{name}] stopped (pid {proc.pid}, exit code {rc})", flush=True)

"""LangOpen as the server under test.

Default command (run from the repository root)::

    <repo>/.venv/bin/langopen dev --config <repo>/bench/app/langgraph.json --host 127.0.0.1 --port <free> --no-browser

To change it without editing code, set ``LANGOPEN_BENCH_CMD`` or pass ``--langopen-cmd`` to run_bench.py.
The template is split with shell rules first, then each word is filled with ``str.format`` using:
``{langopen}`` (the project's ``.venv/bin/langopen``), ``{python}`` (the project's ``.venv/bin/python``),
``{repo}``, ``{app}`` (bench/app), ``{config}`` (bench/app/langgraph.json), ``{host}``, ``{port}``.

The server must answer ``GET /ok`` with 200 once it can take runs. It is stopped with SIGTERM to its
process group and SIGKILL after the grace period.

``langopen dev`` keeps its embedded PostgreSQL/Redis in ``.langopen/`` beside the config, i.e.
``bench/app/.langopen``. Like ``.langgraph_api`` for the official server, that folder is deleted before each
start unless ``fresh=False`` (``--langopen-keep-data``), so every run starts from an empty database. The
embedded servers run in their own sessions (outside our process group). If ``langopen dev`` dies without
stopping them, they are found through their pid files (checked against their command lines) and stopped here.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shlex
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

from bench._server import APP_DIR, REPO_DIR, ServerError, ServerHandle, free_port, managed_server

DEFAULT_COMMAND = "{langopen} dev --config {config} --host {host} --port {port} --no-browser"
COMMAND_ENV_VAR = "LANGOPEN_BENCH_CMD"
DATA_DIR = APP_DIR / ".langopen"  # `langopen dev`'s default --data-dir for bench/app/langgraph.json

DROPPED_ENV = ("LANGSMITH_API_KEY", "LANGCHAIN_API_KEY", "LANGGRAPH_API_KEY", "LANGCHAIN_TRACING_V2")


def command_template(override: str | None = None) -> str:
    return override or os.environ.get(COMMAND_ENV_VAR) or DEFAULT_COMMAND


def server_command(template: str, host: str, port: int) -> list[str]:
    values = {
        "langopen": str(REPO_DIR / ".venv" / "bin" / "langopen"),
        "python": str(REPO_DIR / ".venv" / "bin" / "python"),
        "repo": str(REPO_DIR),
        "app": str(APP_DIR),
        "config": str(APP_DIR / "langgraph.json"),
        "host": host,
        "port": str(port),
    }
    return [word.format(**values) for word in shlex.split(template)]


def server_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
    env["LANGSMITH_TRACING"] = "false"
    return env


def _running_with(pid: int, *markers: str) -> bool:
    """Whether ``pid`` is alive and its command line holds every marker (a guard against pid reuse)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    cmdline = raw.replace(b"\0", b" ").decode(errors="replace")
    return bool(cmdline.strip()) and all(m in cmdline for m in markers)


def leftover_services(data_dir: Path = DATA_DIR) -> list[int]:
    """Embedded PostgreSQL/Redis of ``data_dir`` that are still running (their pid files are only removed on a clean stop)."""
    found: list[int] = []
    pg_pid_file = data_dir / "postgres" / "postmaster.pid"
    redis_pid_file = data_dir / "redis.pid"
    with contextlib.suppress(OSError, ValueError, IndexError):
        pid = int(pg_pid_file.read_text().split("\n", 1)[0])
        if _running_with(pid, "postgres", str(data_dir / "postgres")):
            found.append(pid)
    with contextlib.suppress(OSError, ValueError, IndexError):
        pid_s, _, socket_path = redis_pid_file.read_text().strip().partition(" ")
        if socket_path and _running_with(int(pid_s), "redis-server", socket_path):
            found.append(int(pid_s))
    return found


def stop_leftovers(data_dir: Path = DATA_DIR, grace: float = 10.0) -> list[int]:
    """SIGTERM, then SIGKILL, the embedded servers a dead ``langopen dev`` left behind. Returns their pids."""
    pids = leftover_services(data_dir)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while leftover_services(data_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in leftover_services(data_dir):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return pids


def data_dir_in_use(data_dir: Path = DATA_DIR) -> bool:
    """Whether a running ``langopen dev`` holds the folder's lock (``.lock``, flock)."""
    lock = data_dir / ".lock"
    if not lock.exists():
        return False
    with lock.open("rb") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
    return False


def reset_data_dir(data_dir: Path = DATA_DIR) -> None:
    if data_dir_in_use(data_dir):
        raise ServerError(
            f"{data_dir} is in use by a running `langopen dev`; stop it or use --langopen-keep-data"
        )
    if stopped := stop_leftovers(data_dir):
        print(f"[langopen] stopped leftover embedded servers {stopped}", flush=True)
    shutil.rmtree(data_dir, ignore_errors=True)


@contextlib.contextmanager
def start(
    *,
    log_path: Path,
    host: str = "127.0.0.1",
    port: int | None = None,
    command: str | None = None,
    startup_timeout: float = 180.0,
    stop_grace: float = 20.0,
    fresh: bool = True,
) -> Iterator[ServerHandle]:
    """Start LangOpen on a free port (from an empty data folder if ``fresh``); stop it when the block exits."""
    if fresh:
        reset_data_dir()
    port = port or free_port(host)
    try:
        with managed_server(
            name="langopen",
            command=server_command(command_template(command), host, port),
            cwd=REPO_DIR,
            env=server_env(),
            url=f"http://{host}:{port}",
            log_path=log_path,
            startup_timeout=startup_timeout,
            stop_grace=stop_grace,
        ) as handle:
            handle.info["data_dir_reset"] = fresh
            yield handle
    finally:
        if stopped := stop_leftovers():
            print(
                f"[langopen] WARNING: embedded servers {stopped} outlived `langopen dev`; stopped them",
                flush=True,
            )

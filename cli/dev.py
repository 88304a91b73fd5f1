"""`langopen dev`: router, dispatcher and an on-demand function process on one machine.

Startup order (each step only after the previous one succeeded), undone in reverse on exit:
validate langgraph.json → bind the API port → lock the data folder → embedded PostgreSQL → embedded
Redis (each only when DATABASE_URL / REDIS_URL is unset) → migrations → function target → router under
uvicorn. SIGINT/SIGTERM during startup stop it after the current step; while serving, uvicorn drains
and the router's lifespan closes, then the function process, Redis and PostgreSQL stop, in that order.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import asyncpg
import psycopg
import pydantic
import uvicorn
import uvloop
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from cli import activator, admin, embedded
from cli import migrate as cli_migrate
from contracts import app_config
from router import main as router_main
from router.settings import RouterSettings
from router.store import pool as pool_store

logger = logging.getLogger("langopen.dev")

EXIT_OK = 0
EXIT_FAILED = 1  # startup failed, or the server stopped on an error
EXIT_USAGE = 2  # bad config or arguments: nothing was started
LISTEN_BACKLOG = 2048  # uvicorn's default
SHUTDOWN_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class DevSettings(BaseSettings):
    """Tuning of `langopen dev` (env `LANGOPEN_DEV_*`); the command line covers the everyday choices."""

    model_config = SettingsConfigDict(env_prefix="LANGOPEN_DEV_", extra="ignore")

    service_user: str = Field(
        default="langopen",
        description="System user the embedded PostgreSQL and Redis run as when `langopen dev` runs as root "
        "(PostgreSQL refuses root). Created with useradd if missing. Default `langopen`.",
    )
    service_start_timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        description="Seconds an embedded server may take to accept connections. Default 60.",
    )
    service_stop_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Seconds an embedded server gets to shut down cleanly before it is killed. Default 30.",
    )
    function_idle_seconds: float = Field(
        default=300.0,
        gt=0,
        description="Seconds without any request after which the function process is stopped (local scale "
        "to zero); the next request starts it again. Default 300.",
    )
    function_start_timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        description="Seconds the function process may take to answer GET /healthz (it imports your graphs). "
        "Default 60.",
    )
    function_stop_timeout_seconds: float = Field(
        default=15.0,
        gt=0,
        description="Seconds the function process gets after SIGTERM before SIGKILL. Default 15.",
    )
    shutdown_grace_seconds: float = Field(
        default=10.0,
        gt=0,
        description="Seconds uvicorn waits for open requests and streams at shutdown before closing them. "
        "Default 10.",
    )
    log_level: str = Field(default="info", description="Log level of langopen and uvicorn. Default info.")


@dataclass(frozen=True)
class DevOptions:
    config_path: Path
    host: str
    port: int
    data_dir: Path | None = None
    auth: bool = False
    """Require API keys; the served (default) deployment belongs to `auth_project`."""
    auth_project: str = "default"

    @property
    def api_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


class DevStartupError(Exception):
    """`langopen dev` could not start."""


class ShutdownRequested(Exception):
    """A shutdown signal arrived while `langopen dev` was starting."""


class _Signals:
    """Records SIGINT/SIGTERM; startup checks between steps, uvicorn takes over while serving."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self._previous: dict[int, Callable[[int, FrameType | None], Any] | int | None] = {}

    def install(self) -> None:
        for sig in SHUTDOWN_SIGNALS:
            self._previous[sig] = signal.getsignal(sig)
            signal.signal(sig, self._handle)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signum)  # nothing else: logging here could deadlock on the handler's lock

    def check(self) -> None:
        """Raise ShutdownRequested if a signal came; startup calls this between steps."""
        if self.received:
            self.log()
            raise ShutdownRequested

    def log(self) -> None:
        logger.info(
            "%s received during startup: stopping what started", signal.Signals(self.received[0]).name
        )


class _Server(uvicorn.Server):
    """uvicorn's server, announcing the URLs once it accepts connections."""

    def __init__(self, config: uvicorn.Config, *, signals: _Signals, announce: Callable[[], None]) -> None:
        super().__init__(config)
        self._signals = signals
        self._announce = announce

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self._signals.received:  # it came after the last startup check, before uvicorn listened for it
            self._signals.log()
            self.should_exit = True
        elif self.started:
            self._announce()


def run(options: DevOptions, settings: DevSettings) -> int:
    """Run until SIGINT/SIGTERM; return the process exit code."""
    logging.basicConfig(level=settings.log_level.upper(), format="%(levelname)-8s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per dispatch and health probe is noise
    try:
        app_config.load_app_config(options.config_path)
    except FileNotFoundError:
        print(
            f"error: {options.config_path} not found (pass --config path/to/langgraph.json)", file=sys.stderr
        )
        return EXIT_USAGE
    except (pydantic.ValidationError, ValueError) as exc:
        print(f"error: {options.config_path} is not a valid langgraph.json:\n{exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        sock = bind_api_socket(options.host, options.port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            print(
                f"error: port {options.port} on {options.host} is already in use; stop what listens there "
                "or pass --port",
                file=sys.stderr,
            )
        else:
            print(f"error: cannot listen on {options.host}:{options.port}: {exc.strerror}", file=sys.stderr)
        return EXIT_FAILED
    signals = _Signals()
    signals.install()
    try:
        with sock, asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(_serve(options, settings, sock, signals))
    except ShutdownRequested:
        return EXIT_OK
    except (DevStartupError, embedded.EmbeddedServiceError, activator.FunctionProcessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        signals.restore()


def bind_api_socket(host: str, port: int) -> socket.socket:
    """Bind the API port before anything starts, so a port in use fails fast and nothing races for it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # As uvicorn does: connections in TIME_WAIT from an earlier run are no conflict.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)  # a probe connecting before the server starts waits instead of failing
    except OSError:
        sock.close()
        raise
    return sock


async def _serve(options: DevOptions, settings: DevSettings, sock: socket.socket, signals: _Signals) -> int:
    config_path = options.config_path.resolve()
    data_dir = (options.data_dir or config_path.parent / ".langopen").resolve()
    stack = AsyncExitStack()
    try:
        database_url, redis_url = await _start_services(stack, data_dir, settings, signals)
        signals.check()
        await _migrate(database_url)
        if options.auth:
            await _bind_project(database_url, options.auth_project)
        signals.check()
        target = activator.LocalFunctionProcess(
            config_path=config_path,
            database_url=database_url,
            redis_url=redis_url,
            idle_seconds=settings.function_idle_seconds,
            start_timeout_seconds=settings.function_start_timeout_seconds,
            stop_timeout_seconds=settings.function_stop_timeout_seconds,
        )
        stack.push_async_callback(target.aclose)
        aliases: dict[str, Any] = {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "LANGOPEN_CONFIG": config_path,
        }
        app = router_main.create_app(
            RouterSettings(**aliases), function_target=target, require_auth=options.auth
        )
        uvicorn_config = uvicorn.Config(
            app,
            http="httptools",
            lifespan="on",
            log_level=settings.log_level.lower(),
            access_log=False,  # a line per request costs more than serving a short run; see bench/README.md
            timeout_graceful_shutdown=round(settings.shutdown_grace_seconds),
        )
        lines = [f"- API: {options.api_url}", f"- API docs: {options.api_url}/docs"]
        if "DATABASE_URL" not in os.environ or "REDIS_URL" not in os.environ:
            lines.append(f"- Data: {data_dir}")
        server = _Server(
            uvicorn_config,
            signals=signals,
            announce=lambda: print("\n" + "\n".join(lines) + "\n", flush=True),
        )
        signals.check()
        await server.serve(sockets=[sock])
        return EXIT_OK if server.started else EXIT_FAILED
    finally:
        await stack.aclose()


async def _start_services(
    stack: AsyncExitStack, data_dir: Path, settings: DevSettings, signals: _Signals
) -> tuple[str, str]:
    """The Postgres and Redis URLs: from the environment, or of embedded servers started here."""
    database_url = os.environ.get("DATABASE_URL")
    redis_url = os.environ.get("REDIS_URL")
    if database_url is not None and redis_url is not None:
        return database_url, redis_url
    folder = embedded.DataFolder(data_dir)
    folder.lock()
    stack.callback(folder.unlock)
    user = await asyncio.to_thread(embedded.service_user, settings.service_user)
    if database_url is None:
        signals.check()
        postgres = embedded.EmbeddedPostgres(
            data_dir,
            user=user,
            start_timeout_seconds=settings.service_start_timeout_seconds,
            stop_timeout_seconds=settings.service_stop_timeout_seconds,
        )
        stack.push_async_callback(asyncio.to_thread, postgres.stop)
        database_url = await asyncio.to_thread(postgres.start)
    if redis_url is None:
        signals.check()
        redis = embedded.EmbeddedRedis(
            data_dir,
            user=user,
            start_timeout_seconds=settings.service_start_timeout_seconds,
            stop_timeout_seconds=settings.service_stop_timeout_seconds,
        )
        stack.push_async_callback(asyncio.to_thread, redis.stop)
        redis_url = await asyncio.to_thread(redis.start)
    return database_url, redis_url


async def _bind_project(database_url: str, project: str) -> None:
    """With --auth: the default deployment belongs to `project` (created if missing)."""
    async with (
        pool_store.open_pool(database_url, min_size=1, max_size=1, command_timeout=30.0) as pool,
        pool.acquire() as conn,
        conn.transaction(),
    ):
        try:
            await admin.bind_default_deployment(conn, project=project)
        except admin.AdminError as exc:
            raise DevStartupError(f"--project: {exc}") from exc
    logger.info("API keys required; the default deployment belongs to project %s", project)


async def _migrate(database_url: str) -> None:
    try:
        applied = await cli_migrate.apply_all(database_url)
    except (OSError, asyncpg.PostgresError, psycopg.Error) as exc:
        raise DevStartupError(
            f"could not migrate the database ({exc}); is DATABASE_URL right and reachable?"
        ) from exc
    logger.info("migrations applied: %s", ", ".join(applied) if applied else "none pending")

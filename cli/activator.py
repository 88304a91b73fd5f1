"""Local scale-to-zero for `langopen dev`: the function runtime as a child process started on demand.

`LocalFunctionProcess` is the `FunctionTarget` (router/dispatch/targets.py) that `langopen dev` hands
the router. `use()` yields the base URL of a ready `python -m functions.main` child, starting one when
none runs; concurrent callers share one start. When the last `use()` closes an idle timer starts, and
after `idle_seconds` without any use the child is stopped, as Knative scales a Service to zero. A child
that exits on its own is noticed at once and replaced at the next `use()`.
Invariant: a child is never stopped by this class while a `use()` of it is open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from cli import embedded

logger = logging.getLogger("langopen.activator")

FUNCTIONS_COMMAND = (sys.executable, "-m", "functions.main")
HEALTH_PATH = "/healthz"
HEALTH_POLL_SECONDS = 0.05  # startup only: how often a starting child's /healthz is tried
HEALTH_REQUEST_TIMEOUT_SECONDS = 2.0
KILL_WAIT_SECONDS = 5.0


class FunctionProcessError(Exception):
    """The local function process failed."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.__doc__)


class FunctionStartError(FunctionProcessError):
    """The local function process did not become ready."""


class FunctionTargetClosedError(FunctionProcessError):
    """The local function target is closed."""


@dataclass
class _Child:
    process: asyncio.subprocess.Process
    url: str


class LocalFunctionProcess:
    """Runs `command --host <host> --port <free port>` while it is in use, and for `idle_seconds` after."""

    def __init__(
        self,
        *,
        config_path: Path,
        database_url: str,
        redis_url: str,
        idle_seconds: float = 300.0,
        start_timeout_seconds: float = 60.0,
        stop_timeout_seconds: float = 10.0,
        command: Sequence[str] = FUNCTIONS_COMMAND,
        extra_env: Mapping[str, str] | None = None,
        host: str = embedded.LOOPBACK,
    ) -> None:
        self.config_path = config_path.resolve()
        self.idle_seconds = idle_seconds
        self.start_timeout_seconds = start_timeout_seconds
        self.stop_timeout_seconds = stop_timeout_seconds
        self.command = tuple(command)
        self.host = host
        self._env = {
            **os.environ,
            **(extra_env or {}),
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "LANGOPEN_CONFIG": str(self.config_path),
        }
        self._child: _Child | None = None
        self._starting: asyncio.Task[_Child] | None = None
        self._stopping: asyncio.Task[None] | None = None
        self._watchers: set[asyncio.Task[None]] = set()
        self._idle_timer: asyncio.TimerHandle | None = None
        self._users = 0
        self._closed = False
        self.starts = 0  # children started so far, for logs and tests

    @property
    def pid(self) -> int | None:
        """Pid of the running child, if any."""
        child = self._child
        return child.process.pid if child is not None and child.process.returncode is None else None

    @asynccontextmanager
    async def use(self) -> AsyncIterator[str]:
        """Yield the base URL of a ready function process; it keeps running at least until this exits."""
        if self._closed:
            raise FunctionTargetClosedError
        self._users += 1
        self._cancel_idle_timer()
        try:
            child = await self._ensure_running()
            yield child.url
        finally:
            self._users -= 1
            if self._users == 0:
                self._arm_idle_timer()

    async def aclose(self) -> None:
        """Stop the child (if any) and refuse further use; waits for the stop to finish."""
        self._closed = True
        self._cancel_idle_timer()
        if self._starting is not None:
            self._starting.cancel()
            with contextlib.suppress(asyncio.CancelledError, FunctionProcessError):
                await self._starting
        if self._child is not None:
            self._begin_stop()
        if self._stopping is not None:
            await self._stopping
        await asyncio.gather(*self._watchers)  # every child has exited by now, so each watcher ends

    async def _ensure_running(self) -> _Child:
        child = self._child
        if child is not None and child.process.returncode is None:
            return child
        starting = self._starting
        if starting is None:
            starting = self._starting = asyncio.create_task(self._start(), name="langopen-function-start")
            starting.add_done_callback(self._start_finished)
        try:
            # Shielded: a caller that gives up must not cancel the start the other callers wait for.
            return await asyncio.shield(starting)
        except asyncio.CancelledError:
            if starting.cancelled() and self._closed:
                raise FunctionTargetClosedError from None
            raise

    def _start_finished(self, task: asyncio.Task[_Child]) -> None:
        self._starting = None
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            logger.error("function process failed to start: %s", error)
        elif self._users == 0:
            self._arm_idle_timer()  # every caller gave up while it started

    async def _start(self) -> _Child:
        if self._stopping is not None:
            await self._stopping
        port = embedded.free_port(self.host)
        url = f"http://{self.host}:{port}"
        process = await asyncio.create_subprocess_exec(
            *self.command,
            "--host",
            self.host,
            "--port",
            str(port),
            env=self._env,
            cwd=self.config_path.parent,
            stdin=asyncio.subprocess.DEVNULL,
            start_new_session=True,  # a terminal's Ctrl+C reaches langopen dev, which stops us in order
        )
        self.starts += 1
        logger.info("function process %d starting on %s", process.pid, url)
        try:
            await self._wait_ready(process, url)
        except BaseException:
            await self._terminate(process)
            raise
        child = _Child(process=process, url=url)
        self._child = child
        watcher = asyncio.create_task(self._watch(child), name=f"langopen-function-watch-{process.pid}")
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)
        logger.info("function process %d ready", process.pid)
        return child

    async def _wait_ready(self, process: asyncio.subprocess.Process, url: str) -> None:
        exited = asyncio.create_task(process.wait())
        try:
            async with (
                asyncio.timeout(self.start_timeout_seconds),
                httpx.AsyncClient(base_url=url, timeout=HEALTH_REQUEST_TIMEOUT_SECONDS) as client,
            ):
                while not exited.done():
                    if await _is_healthy(client):
                        return
                    await asyncio.wait({exited}, timeout=HEALTH_POLL_SECONDS)
        except TimeoutError:
            raise FunctionStartError(
                f"function process not ready after {self.start_timeout_seconds:.0f} s (GET {url}{HEALTH_PATH})"
            ) from None
        finally:
            exited.cancel()
        raise FunctionStartError(
            f"function process exited with code {process.returncode} before it was ready"
        )

    async def _watch(self, child: _Child) -> None:
        code = await child.process.wait()
        if self._child is child:  # not stopped by us
            self._child = None
            logger.warning(
                "function process %d exited with code %s; the next request starts a new one",
                child.process.pid,
                code,
            )

    def _arm_idle_timer(self) -> None:
        self._cancel_idle_timer()
        if not self._closed and self._child is not None:
            self._idle_timer = asyncio.get_running_loop().call_later(self.idle_seconds, self._on_idle)

    def _cancel_idle_timer(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    def _on_idle(self) -> None:
        self._idle_timer = None
        if self._users == 0 and self._child is not None:
            logger.info("function process idle for %.0f s; stopping it", self.idle_seconds)
            self._begin_stop()

    def _begin_stop(self) -> None:
        child, self._child = self._child, None
        if child is None:
            return
        previous = self._stopping

        async def stop() -> None:
            if previous is not None:
                await previous
            await self._terminate(child.process)

        self._stopping = asyncio.create_task(stop(), name=f"langopen-function-stop-{child.process.pid}")
        self._stopping.add_done_callback(self._stop_finished)

    def _stop_finished(self, task: asyncio.Task[None]) -> None:
        if self._stopping is task:
            self._stopping = None
        if not task.cancelled() and task.exception() is not None:
            logger.error("stopping the function process failed", exc_info=task.exception())

    async def _terminate(self, process: asyncio.subprocess.Process) -> None:
        """SIGTERM the child's process group, then SIGKILL it after `stop_timeout_seconds`."""
        if process.returncode is None:
            _signal_group(process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), self.stop_timeout_seconds)
            except TimeoutError:
                logger.warning("function process %d ignored SIGTERM; killing it", process.pid)
                _signal_group(process.pid, signal.SIGKILL)
                await asyncio.wait_for(process.wait(), KILL_WAIT_SECONDS)
        logger.info("function process %d stopped (code %s)", process.pid, process.returncode)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)  # the child leads its own session, so its group id is its pid


async def _is_healthy(client: httpx.AsyncClient) -> bool:
    try:
        response = await client.get(HEALTH_PATH)
    except httpx.TransportError:
        return False
    return response.status_code == httpx.codes.OK

"""CPU time per run of one function process (functions/), without the router.

Sends `run.requested` CloudEvents built the way `router.services.dispatcher.build_request` builds
them (bench/app's 2-node `agent` graph, a new thread per run, `stream_mode=["values"]`) from
`--concurrency` workers, and reports runs/s and CPU ms per run of the function side.

* `--mode inprocess` (default): `functions.app.create_app` driven through `httpx.ASGITransport` on
  uvloop in this process. CPU is `time.process_time()` of this process, so it includes the
  in-memory HTTP client (no sockets, no uvicorn). Also counts the Postgres statements and pool
  checkouts per run (psycopg calls are wrapped), and `--profile FILE` writes a cProfile of the
  measured phase (`python -m pstats FILE`, or `pyinstrument` if you installed it).
* `--mode process`: starts `python -m functions.main` (uvicorn, uvloop, httptools) and drives it
  over TCP; CPU is the child's utime+stime from /proc, i.e. what the function process costs.

Needs Postgres and Redis (`--dsn`, `--redis-url`); the database `--database` is created and
migrated when missing. Every run's output is checked; a wrong one fails the benchmark.

    .venv/bin/python -m bench.function_cpu --mode inprocess --concurrency 16 --runs 2000
    .venv/bin/python -m bench.function_cpu --mode process --concurrency 16 --runs 2000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import os
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import uvloop
from cloudevents.core.bindings import http as ce_http
from cloudevents.core.v1.event import CloudEvent
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

from bench._server import APP_DIR, REPO_DIR, free_port
from contracts import runtime
from functions import checkpoints
from functions.app import create_app
from functions.settings import FunctionSettings

CONFIG = APP_DIR / "langgraph.json"
REDIS_PREFIX = "langopen-bench-fn"
STARTUP_TIMEOUT_SECONDS = 30.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Counters:
    """Postgres calls made by this process (inprocess mode only)."""

    executes: int = 0
    executemany_rows: int = 0
    checkouts: int = 0


COUNTERS = Counters()


def count_postgres_calls() -> None:
    """Wrap psycopg's async cursor and pool so every statement and connection checkout is counted."""
    cursor = psycopg.AsyncCursor
    execute, executemany = cursor.execute, cursor.executemany
    getconn = AsyncConnectionPool.getconn

    async def counted_execute(self: Any, *args: Any, **kwargs: Any) -> Any:
        COUNTERS.executes += 1
        return await execute(self, *args, **kwargs)

    async def counted_executemany(self: Any, query: Any, params_seq: Any, **kwargs: Any) -> Any:
        params = list(params_seq)
        COUNTERS.executemany_rows += len(params)
        return await executemany(self, query, params, **kwargs)

    async def counted_getconn(self: Any, *args: Any, **kwargs: Any) -> Any:
        COUNTERS.checkouts += 1
        return await getconn(self, *args, **kwargs)

    cursor.execute = counted_execute  # type: ignore[method-assign]
    cursor.executemany = counted_executemany  # type: ignore[method-assign]
    AsyncConnectionPool.getconn = counted_getconn  # type: ignore[method-assign]


def request_body(i: int) -> tuple[dict[str, str], bytes]:
    """Headers and body of one run.requested event, as the router's dispatcher sends them."""
    run_id, thread_id = str(uuid.uuid4()), str(uuid.uuid4())
    assistant_id = str(uuid.uuid5(uuid.NAMESPACE_DNS, "agent"))
    configurable: dict[str, Any] = {
        "langgraph_auth_user": None,
        "langgraph_auth_user_id": "",
        "langgraph_auth_permissions": [],
        "langgraph_request_id": str(uuid.uuid4()),
        "__request_start_time_ms__": int(time.time() * 1000),
        "__after_seconds__": None,
        "run_id": run_id,
        "thread_id": thread_id,
        "graph_id": "agent",
        "assistant_id": assistant_id,
        "user_id": "",
    }
    metadata = {"graph_id": "agent", "assistant_id": assistant_id, "langgraph_host": "self-hosted"}
    req = runtime.RunRequest(
        run_id=run_id,
        thread_id=thread_id,
        assistant_id=assistant_id,
        graph_id="agent",
        attempt=1,
        input={"n": i},
        config={"configurable": configurable, "metadata": metadata | {"run_attempt": 1}},
        context=None,
        stream_mode=["values"],
        redis_prefix=REDIS_PREFIX,
        durability="async",
    )
    attributes = {
        "type": runtime.RUN_REQUESTED,
        "source": runtime.SPEC_SOURCE_ROUTER,
        "datacontenttype": "application/json",
        runtime.EXT_RUN_ID: run_id,
        runtime.EXT_ATTEMPT: "1",
    }
    headers = ce_http.to_binary_event(CloudEvent(attributes=attributes, data=b"")).headers
    return headers, req.model_dump_json().encode()


async def one_run(client: httpx.AsyncClient, i: int) -> None:
    headers, body = request_body(i)
    response = await client.post("/", content=body, headers=headers)
    outcome = runtime.RunOutcome.model_validate_json(response.content)
    expected = {"n": (i + 1) * 2, "trace": ["a", "b"]}
    if response.status_code != 200 or outcome.status != "success" or outcome.values != expected:
        raise RuntimeError(f"run {i}: HTTP {response.status_code}, {outcome.status}, {outcome.values}")


async def drive(client: httpx.AsyncClient, *, runs: int, concurrency: int) -> None:
    counter = iter(range(runs))

    async def worker() -> None:
        for i in counter:
            await one_run(client, i)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


@dataclass
class Result:
    runs: int
    wall_seconds: float
    cpu_seconds: float

    def line(self) -> str:
        return (
            f"runs={self.runs} wall={self.wall_seconds:.2f}s runs/s={self.runs / self.wall_seconds:.0f} "
            f"cpu/run={1000 * self.cpu_seconds / self.runs:.2f}ms"
        )


async def measure(
    client: httpx.AsyncClient, cpu: Callable[[], float], *, runs: int, warmup: int, concurrency: int
) -> Result:
    await drive(client, runs=warmup, concurrency=concurrency)
    wall, used = time.perf_counter(), cpu()
    await drive(client, runs=runs, concurrency=concurrency)
    return Result(runs, time.perf_counter() - wall, cpu() - used)


@contextlib.asynccontextmanager
async def inprocess_client(settings: FunctionSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://function", timeout=None) as client:
            yield client


def child_cpu_seconds(pid: int) -> float:
    # /proc/<pid>/stat fields 14 and 15 (utime, stime), after the parenthesised command name.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def start_function(env: dict[str, str], port: int, launcher: str) -> subprocess.Popen[bytes]:
    command = [*launcher.split(), "-m", "functions.main", "--host", "127.0.0.1", "--port", str(port)]
    return subprocess.Popen(command, cwd=REPO_DIR, env=os.environ | env, stderr=subprocess.DEVNULL)


@contextlib.asynccontextmanager
async def process_client(env: dict[str, str], launcher: str) -> AsyncIterator[tuple[httpx.AsyncClient, int]]:
    port = free_port()
    proc = start_function(env, port, launcher)
    try:
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=64)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=None, limits=limits
        ) as client:
            deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/healthz")).status_code == 200:
                        break
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"function process did not start (exit {proc.poll()})")
                await asyncio.sleep(0.1)
            yield client, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def prepare(dsn: str, database: str) -> str:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        cur = await conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
        if await cur.fetchone() is None:
            await conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(database)))
    target = urllib.parse.urlsplit(dsn)._replace(path="/" + database).geturl()
    await checkpoints.setup(target)
    return target


async def cleanup_redis(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        leftovers = [key async for key in redis.scan_iter(f"{REDIS_PREFIX}:*")]
        if leftovers:
            await redis.delete(*leftovers)
    finally:
        await redis.aclose()


async def main_async(args: argparse.Namespace) -> None:
    database_url = await prepare(args.dsn, args.database)
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": args.redis_url,
        "LANGOPEN_CONFIG": str(CONFIG),
        "LANGOPEN_FUNCTION_PG_POOL_MAX_SIZE": str(args.pool_size),
    }
    try:
        if args.mode == "process":
            async with process_client(env, args.launcher) as (client, pid):
                result = await measure(
                    client,
                    lambda: child_cpu_seconds(pid),
                    runs=args.runs,
                    warmup=args.warmup,
                    concurrency=args.concurrency,
                )
            print(f"process     concurrency={args.concurrency} {result.line()}")
            return
        count_postgres_calls()
        os.environ.update(env)
        settings = FunctionSettings()
        async with inprocess_client(settings) as client:
            await drive(client, runs=args.warmup, concurrency=args.concurrency)
            profiler = cProfile.Profile() if args.profile else None
            before = Counters(**vars(COUNTERS))
            if profiler is not None:
                profiler.enable()
            result = await measure(
                client, time.process_time, runs=args.runs, warmup=0, concurrency=args.concurrency
            )
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(args.profile)
        print(f"inprocess   concurrency={args.concurrency} {result.line()}")
        per_run = {k: (v - getattr(before, k)) / args.runs for k, v in vars(COUNTERS).items()}
        print(
            f"postgres per run: execute={per_run['executes']:.2f} "
            f"executemany_rows={per_run['executemany_rows']:.2f} checkouts={per_run['checkouts']:.2f}"
        )
    finally:
        await cleanup_redis(args.redis_url)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.function_cpu", description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=["inprocess", "process"], default="inprocess")
    parser.add_argument("--concurrency", type=int, default=16, help="runs in flight (default 16)")
    parser.add_argument("--runs", type=int, default=2000, help="measured runs (default 2000)")
    parser.add_argument("--warmup", type=int, default=200, help="unmeasured runs first (default 200)")
    parser.add_argument(
        "--dsn", default="postgresql://postgres@127.0.0.1:5432/postgres", help="postgresql:// URL, no query"
    )
    parser.add_argument("--database", default="langopen_bench_fn", help="created and migrated when missing")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--pool-size", type=int, default=20, help="function's Postgres pool size")
    parser.add_argument("--profile", help="inprocess: write a cProfile of the measured runs here")
    parser.add_argument(
        "--launcher",
        default=sys.executable,
        help="process: command that gets `-m functions.main ...` appended (default: this Python)",
    )
    args = parser.parse_args(argv)
    uvloop.run(main_async(args))


if __name__ == "__main__":
    main()

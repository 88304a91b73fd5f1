from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from cli import activator
from router.dispatch import targets

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FAKE_FUNCTION = (sys.executable, str(Path(__file__).with_name("fake_function.py")))

MakeTarget = Callable[..., activator.LocalFunctionProcess]


@pytest.fixture
async def make_target(tmp_path: Path) -> AsyncIterator[MakeTarget]:
    config = tmp_path / "langgraph.json"
    config.write_text('{"graphs": {"g": "./g.py:graph"}}')
    made: list[activator.LocalFunctionProcess] = []

    def make(
        *,
        env: dict[str, str] | None = None,
        idle_seconds: float = 30.0,
        start_timeout_seconds: float = 20.0,
        stop_timeout_seconds: float = 10.0,
    ) -> activator.LocalFunctionProcess:
        target = activator.LocalFunctionProcess(
            config_path=config,
            database_url="postgresql://db.invalid/x",
            redis_url="redis://redis.invalid/0",
            idle_seconds=idle_seconds,
            start_timeout_seconds=start_timeout_seconds,
            stop_timeout_seconds=stop_timeout_seconds,
            command=FAKE_FUNCTION,
            extra_env={"FAKE_FUNCTION_STARTS_FILE": str(tmp_path / "starts"), **(env or {})},
        )
        made.append(target)
        return target

    yield make
    for target in made:
        await target.aclose()


def _starts(tmp_path: Path) -> list[int]:
    path = tmp_path / "starts"
    return [int(line) for line in path.read_text().split()] if path.exists() else []


async def _env_of(url: str) -> dict[str, object]:
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.get(f"{url}/env")
    response.raise_for_status()
    body: dict[str, object] = response.json()
    return body


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def _wait_until(predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(10):
        while not predicate():  # noqa: ASYNC110 - another process's state: there is no event to await
            await asyncio.sleep(0.02)


def test_conforms_to_the_function_target_protocol(tmp_path: Path) -> None:
    _: targets.FunctionTarget = activator.LocalFunctionProcess(
        config_path=tmp_path / "langgraph.json", database_url="postgresql://x", redis_url="redis://x"
    )


async def test_starts_on_first_use_with_the_service_urls(make_target: MakeTarget, tmp_path: Path) -> None:
    target = make_target()
    assert target.pid is None
    async with target.use() as url:
        env = await _env_of(url)
    assert url.startswith("http://127.0.0.1:")
    assert env["DATABASE_URL"] == "postgresql://db.invalid/x"
    assert env["REDIS_URL"] == "redis://redis.invalid/0"
    assert env["LANGOPEN_CONFIG"] == str(tmp_path / "langgraph.json")  # tmp_path is resolved already
    assert env["cwd"] == str(tmp_path)
    assert env["pid"] == target.pid


async def test_concurrent_callers_share_one_start(make_target: MakeTarget, tmp_path: Path) -> None:
    target = make_target(env={"FAKE_FUNCTION_READY_AFTER": "0.5"})

    async def call() -> str:
        async with target.use() as url:
            return url

    urls = await asyncio.gather(*(call() for _ in range(5)))
    assert len(set(urls)) == 1
    assert target.starts == 1
    assert len(_starts(tmp_path)) == 1


async def test_stops_after_idle_seconds_without_use(make_target: MakeTarget) -> None:
    target = make_target(idle_seconds=0.3)
    async with target.use():
        pid = target.pid
        assert pid is not None
    await _wait_until(lambda: not _alive(pid))
    assert target.pid is None
    async with target.use() as url:  # scaled back up from zero
        assert (await _env_of(url))["pid"] != pid
    assert target.starts == 2


async def test_never_stops_while_a_use_is_open(make_target: MakeTarget) -> None:
    target = make_target(idle_seconds=0.2)
    async with target.use() as url:
        pid = target.pid
        async with target.use():
            pass  # an inner use closing must not arm the timer while the outer one is open
        await asyncio.sleep(0.6)
        assert (await _env_of(url))["pid"] == pid
    assert target.starts == 1


async def test_a_crashed_child_is_replaced_at_the_next_use(make_target: MakeTarget) -> None:
    target = make_target()
    async with target.use():
        pid = target.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    await _wait_until(lambda: target.pid is None)
    async with target.use() as url:
        assert (await _env_of(url))["pid"] not in (None, pid)
    assert target.starts == 2


async def test_a_child_that_exits_fails_the_start_at_once(make_target: MakeTarget) -> None:
    target = make_target(env={"FAKE_FUNCTION_EXIT_CODE": "3"}, start_timeout_seconds=30.0)
    loop = asyncio.get_running_loop()
    began = loop.time()
    with pytest.raises(activator.FunctionStartError, match="exited with code 3"):
        async with target.use():
            pass
    assert loop.time() - began < 10  # did not sit out the start timeout
    assert target.pid is None


async def test_a_child_never_ready_fails_after_the_start_timeout(
    make_target: MakeTarget, tmp_path: Path
) -> None:
    target = make_target(env={"FAKE_FUNCTION_READY_AFTER": "never"}, start_timeout_seconds=1.0)
    with pytest.raises(activator.FunctionStartError, match="not ready after 1 s"):
        async with target.use():
            pass
    [pid] = _starts(tmp_path)
    await _wait_until(lambda: not _alive(pid))


async def test_a_caller_that_gives_up_does_not_abort_the_shared_start(
    make_target: MakeTarget, tmp_path: Path
) -> None:
    target = make_target(env={"FAKE_FUNCTION_READY_AFTER": "0.5"})

    async def impatient() -> None:
        async with target.use():
            pass

    task = asyncio.create_task(impatient())
    await _wait_until(lambda: len(_starts(tmp_path)) == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with target.use():
        assert target.starts == 1


async def test_a_start_every_caller_gave_up_on_still_stops_when_idle(
    make_target: MakeTarget, tmp_path: Path
) -> None:
    target = make_target(env={"FAKE_FUNCTION_READY_AFTER": "0.3"}, idle_seconds=0.2)

    async def impatient() -> None:
        async with target.use():
            pass

    task = asyncio.create_task(impatient())
    await _wait_until(lambda: len(_starts(tmp_path)) == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    [pid] = _starts(tmp_path)
    await _wait_until(lambda: target.pid == pid)  # the start went on without callers
    await _wait_until(lambda: not _alive(pid))  # and the idle timer stopped it


async def test_a_use_during_a_slow_stop_waits_for_it_then_starts_afresh(
    make_target: MakeTarget, tmp_path: Path
) -> None:
    target = make_target(
        env={"FAKE_FUNCTION_IGNORE_SIGTERM": "1"}, idle_seconds=0.1, stop_timeout_seconds=0.5
    )
    async with target.use():
        old = target.pid
    assert old is not None
    await _wait_until(lambda: target.pid is None)  # idle stop under way: SIGTERM ignored, SIGKILL pending
    assert _alive(old)
    async with target.use() as url:
        assert not _alive(old)  # killed after stop_timeout_seconds, before the new child started
        assert (await _env_of(url))["pid"] != old
    assert target.starts == 2


async def test_aclose_during_a_start_fails_the_waiting_callers_as_closed(
    make_target: MakeTarget, tmp_path: Path
) -> None:
    target = make_target(env={"FAKE_FUNCTION_READY_AFTER": "never"})

    async def caller() -> None:
        async with target.use():
            pass

    task = asyncio.create_task(caller())
    await _wait_until(lambda: len(_starts(tmp_path)) == 1)
    await target.aclose()
    with pytest.raises(activator.FunctionTargetClosedError):
        await task
    [pid] = _starts(tmp_path)
    assert not _alive(pid)


async def test_aclose_stops_the_child_and_refuses_use(make_target: MakeTarget) -> None:
    target = make_target()
    async with target.use():
        pid = target.pid
    assert pid is not None
    await target.aclose()
    assert not _alive(pid)
    with pytest.raises(activator.FunctionTargetClosedError):
        async with target.use():
            pass


async def test_runs_the_real_function_runtime(pg_dsn: str, redis_url: str) -> None:
    target = activator.LocalFunctionProcess(
        config_path=EXAMPLES / "langgraph.json", database_url=pg_dsn, redis_url=redis_url, idle_seconds=30.0
    )
    try:
        async with target.use() as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
            response = await client.get("/healthz")
        assert response.status_code == 200
        assert target.command == activator.FUNCTIONS_COMMAND
    finally:
        await target.aclose()
    assert target.pid is None

"""`python -m functions.main` as a real process (uvicorn, uvloop, httptools) over real HTTP: it
serves runs, and a dispatcher that hangs up mid-run stops the attempt."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cloudevents.core.bindings.http import to_binary
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from contracts import runtime as rt
from contracts.queue import Keys
from tests.functions.conftest import CONFIG_PATH, MakeRequest, Subscribe

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def function_url(pg_dsn: str, redis_url: str) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": pg_dsn, "REDIS_URL": redis_url, "LANGOPEN_CONFIG": str(CONFIG_PATH)}
    process = subprocess.Popen(
        [sys.executable, "-m", "functions.main", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "function process did not become healthy"
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stderr:
            process.stderr.close()


def encode(req: rt.RunRequest) -> tuple[dict[str, str], bytes]:
    attributes = {
        "type": rt.RUN_REQUESTED,
        "source": rt.SPEC_SOURCE_ROUTER,
        "datacontenttype": "application/json",
    }
    message = to_binary(CloudEvent(attributes=attributes, data=req.model_dump_json().encode()), JSONFormat())
    return message.headers, message.body


async def test_serves_a_run_over_http(function_url: str, make_request: MakeRequest) -> None:
    headers, body = encode(make_request(input={"items": ["x"]}))
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{function_url}/", content=body, headers=headers)

    assert response.status_code == 200
    assert response.headers["ce-type"] == rt.RUN_OUTCOME
    assert rt.RunOutcome.model_validate_json(response.content).values == {"items": ["x", "a", "b"]}


async def test_dispatcher_hanging_up_stops_the_attempt(
    function_url: str, make_request: MakeRequest, subscribe: Subscribe, keys: Keys
) -> None:
    req = make_request(input={"items": ["x"], "delay": 0.6}, stream_mode=["updates"])
    channel = await subscribe(keys.run_stream_channel(req.run_id))
    headers, body = encode(req)
    async with httpx.AsyncClient() as client:
        posting = asyncio.create_task(client.post(f"{function_url}/", content=body, headers=headers))
        await channel.wait_for("metadata")
        posting.cancel()  # closes the connection mid-request, as a dying dispatcher would
        with pytest.raises(asyncio.CancelledError):
            await posting
    await asyncio.sleep(2.0)  # both steps would have finished by now had the attempt continued
    await channel.drain()

    assert channel.events() == ["metadata"]

"""Webhooks end to end: a real HTTP receiver on 127.0.0.1 that fails twice then answers 200.

The default `webhooks.url` policy refuses loopback and private addresses, so this module runs its
own stack on a copy of the test app's langgraph.json with `"webhooks": {"url":
{"disable_loopback": false}}` (private addresses stay refused), a signing secret and a short
backoff. The session stack keeps the default policy, which the 422 test checks.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import UnprocessableEntityError

from tests.conftest import REDIS_URL, migrated_database
from tests.e2e.helpers import new_thread, wire
from tests.e2e.stack import APP_CONFIG, Stack

pytestmark = pytest.mark.e2e

SECRET = "test-webhook-secret"


@dataclass
class Receiver:
    """Answers 500 to the first `failures` calls of each path, then 200; keeps every call."""

    failures: int = 2
    calls: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append((self.path, dict(self.headers), body))
                seen = sum(1 for p, _, _ in receiver.calls if p == self.path)
                self.send_response(500 if seen <= receiver.failures else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def of(self, path: str) -> list[tuple[dict[str, str], bytes]]:
        return [(h, b) for p, h, b in self.calls if p == path]


def relaxed_config(folder: Path) -> Path:
    app = json.loads(APP_CONFIG.read_text())
    graphs = {gid: str(APP_CONFIG.parent / spec.removeprefix("./")) for gid, spec in app["graphs"].items()}
    path = folder / "langgraph.json"
    path.write_text(
        json.dumps(
            {
                **app,
                "graphs": graphs,
                "dependencies": [str(APP_CONFIG.parent)],
                "webhooks": {"url": {"disable_loopback": False}, "headers": {"X-Static": "static-value"}},
            }
        )
    )
    return path


@pytest.fixture(scope="module")
def webhook_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with migrated_database("t_e2e_hooks") as dsn:
        workdir = tmp_path_factory.mktemp("webhooks")
        stack = Stack(
            database_url=dsn,
            redis_url=REDIS_URL,
            redis_prefix=f"langopen-e2e-hooks:{uuid.uuid4().hex[:8]}",
            workdir=workdir,
            config=relaxed_config(workdir),
            extra_env={"LANGOPEN_WEBHOOK_SECRET": SECRET, "LANGOPEN_WEBHOOK_BACKOFF_SECONDS": "0.3"},
        )
        try:
            stack.start()
            yield stack
        finally:
            stack.stop()


@pytest.fixture
async def hook_client(webhook_stack: Stack) -> AsyncIterator[LangGraphClient]:
    client = get_client(url=webhook_stack.url, api_key=None)
    try:
        yield client
    finally:
        await client.http.client.aclose()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.start()
    try:
        yield r
    finally:
        r.stop()


async def wait_calls(receiver: Receiver, path: str, count: int, within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while True:  # bounded polling of a receiver in another thread
        if len(receiver.of(path)) >= count or time.monotonic() > deadline:
            return
        await asyncio.sleep(0.05)


async def deliveries(stack: Stack, run_id: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(stack.database_url)
    try:
        return list(await conn.fetch("SELECT * FROM webhook_deliveries WHERE run_id = $1", uuid.UUID(run_id)))
    finally:
        await conn.close()


async def test_webhook_retried_until_delivered_once_with_payload_and_signature(
    hook_client: LangGraphClient, webhook_stack: Stack, receiver: Receiver
) -> None:
    thread_id = await new_thread(hook_client)
    url = f"{receiver.url}/hooks/run"
    run = wire(await hook_client.runs.create(thread_id, "agent", input=wire({"items": ["x"]}), webhook=url))
    assert run["kwargs"]["webhook"] == url
    await wait_calls(receiver, "/hooks/run", 3)
    await asyncio.sleep(1.0)  # a delivered call is not repeated
    calls = receiver.of("/hooks/run")
    assert len(calls) == 3
    delivery_ids = {h["X-LangOpen-Delivery"] for h, _ in calls}
    assert len(delivery_ids) == 1
    headers, body = calls[-1]
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-LangOpen-Signature"] == expected
    assert headers["X-Static"] == "static-value"
    assert headers["Content-Type"] == "application/json"
    payload = json.loads(body)
    assert payload["run_id"] == run["run_id"]
    assert payload["thread_id"] == thread_id
    assert payload["assistant_id"] == run["assistant_id"]
    assert payload["status"] == "success"
    assert payload["values"] == {"items": ["x", "a", "b"]}
    assert payload["kwargs"]["webhook"] == url
    for key in ("run_started_at", "run_ended_at", "webhook_sent_at", "created_at", "metadata"):
        assert key in payload
    assert "error" not in payload
    [record] = await deliveries(webhook_stack, run["run_id"])
    assert record["status"] == "delivered"
    assert record["attempts"] == 3
    assert record["last_status_code"] == 200
    assert record["last_error"] is None
    assert record["delivered_at"] is not None
    assert record["delivered_at"] >= record["created_at"]
    assert record["url"] == url


async def test_failed_run_webhook_carries_the_error(
    hook_client: LangGraphClient, webhook_stack: Stack, receiver: Receiver
) -> None:
    receiver.failures = 0
    url = f"{receiver.url}/hooks/failed"
    result = await hook_client.runs.wait(None, "failing", input={}, webhook=url, raise_error=False)
    assert "__error__" in result
    await wait_calls(receiver, "/hooks/failed", 1)
    [(_, body)] = receiver.of("/hooks/failed")
    payload = json.loads(body)
    assert payload["status"] == "error"
    assert payload["error"]["error"]


async def test_stateless_cron_runs_call_the_cron_webhook(
    hook_client: LangGraphClient, receiver: Receiver
) -> None:
    receiver.failures = 0
    url = f"{receiver.url}/hooks/cron"
    cron = wire(
        await hook_client.crons.create(
            "agent",
            schedule="* * * * * *",
            input=wire({"items": ["c"]}),
            webhook=url,
            on_run_completed="delete",
        )
    )
    try:
        await wait_calls(receiver, "/hooks/cron", 1, within=10)
    finally:
        await hook_client.crons.delete(cron["cron_id"])
    payload = json.loads(receiver.of("/hooks/cron")[0][1])
    assert payload["kwargs"]["config"]["configurable"]["cron_id"] == cron["cron_id"]
    assert payload["status"] == "success"
    await asyncio.sleep(0.5)
    assert await hook_client.threads.search(ids=[payload["thread_id"]]) == []  # on_run_completed=delete


async def test_private_addresses_are_refused_even_when_loopback_is_allowed(
    hook_client: LangGraphClient,
) -> None:
    thread_id = await new_thread(hook_client)
    for url in ("http://10.1.2.3/hook", "http://169.254.169.254/latest", "ftp://example.com/x", "/runs"):
        with pytest.raises(UnprocessableEntityError, match="webhook"):
            await hook_client.runs.create(thread_id, "agent", input={}, webhook=url)


async def test_default_policy_refuses_loopback_webhooks(client: LangGraphClient) -> None:
    thread_id = await new_thread(client)
    for url in ("http://127.0.0.1:9/hook", "http://localhost/hook", "http://[::1]/x"):
        with pytest.raises(UnprocessableEntityError, match="webhook"):
            await client.runs.create(thread_id, "agent", input={}, webhook=url)
        with pytest.raises(UnprocessableEntityError, match="webhook"):
            await client.http.post("/runs/wait", json={"assistant_id": "agent", "webhook": url})

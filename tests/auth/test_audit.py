"""The audit log records who (key prefix, key id, project), what (action, target), when and from
where (client address) for run cancellations, deletes, cron changes and event-subscription changes,
each read back from the `audit_log` table of the auth stack (tests/auth/tenants.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from router import tenancy
from tests.auth.tenants import Tenants, key

pytestmark = pytest.mark.xdist_group("auth_stack")


async def _entry(tenants: Tenants, action: str, target: str) -> asyncpg.Record:
    conn = await asyncpg.connect(tenants.dsn)
    try:
        rows = await conn.fetch("SELECT * FROM audit_log WHERE action = $1 AND target = $2", action, target)
        key_row = await conn.fetchrow(
            "SELECT key_id, prefix FROM api_keys WHERE key_id = $1", rows[0]["key_id"] if rows else None
        )
    finally:
        await conn.close()
    assert len(rows) == 1, (action, target, rows)
    entry = rows[0]
    assert key_row is not None  # who: the key that made the request, by id and public prefix
    assert entry["actor"] == f"key:{key_row['prefix']}"
    assert str(entry["project_id"]) == tenancy.DEFAULT_PROJECT_ID
    assert str(entry["deployment_id"]) == tenancy.DEFAULT_DEPLOYMENT_ID
    assert entry["client"] == "127.0.0.1"  # from where
    assert entry["outcome"] == "ok"
    assert datetime.now(UTC) - entry["at"] < timedelta(minutes=1)  # when
    return entry


class _Api:
    def __init__(self, http: httpx.AsyncClient, tenants: Tenants) -> None:
        self.http = http
        self.headers = key(tenants, "default", "developer")

    async def call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        response = await self.http.request(method, path, json=body, headers=self.headers)
        assert response.status_code < 300, response.text
        return response

    async def assistant(self) -> str:
        return str((await self.call("POST", "/assistants", {"graph_id": "agent"})).json()["assistant_id"])

    async def thread(self) -> str:
        return str((await self.call("POST", "/threads", {})).json()["thread_id"])

    async def run(self, thread_id: str) -> str:
        body = {"assistant_id": "agent", "input": {"messages": []}}
        await self.call("POST", f"/threads/{thread_id}/runs/wait", body)
        return str((await self.call("GET", f"/threads/{thread_id}/runs")).json()[0]["run_id"])

    async def cron(self) -> str:
        body = {"assistant_id": await self.assistant(), "schedule": "0 0 1 1 *", "input": {}}
        return str((await self.call("POST", "/runs/crons", body)).json()["cron_id"])

    async def subscription(self) -> str:
        body = {"assistant_id": await self.assistant(), "thread_mode": "stateless"}
        return str((await self.call("POST", "/events/subscriptions", body)).json()["subscription_id"])


@pytest.fixture
def api(http: httpx.AsyncClient, tenants: Tenants) -> _Api:
    return _Api(http, tenants)


async def test_cancelling_a_run_is_audited(api: _Api, tenants: Tenants) -> None:
    thread_id = await api.thread()
    run_id = await api.run(thread_id)
    await api.call("POST", f"/threads/{thread_id}/runs/{run_id}/cancel?action=rollback")
    entry = await _entry(tenants, "run.cancel", run_id)
    assert '"rollback"' in entry["details"]
    assert thread_id in entry["details"]


async def test_cancelling_runs_in_bulk_is_audited(api: _Api, tenants: Tenants) -> None:
    thread_id = await api.thread()
    body = {"assistant_id": "agent", "input": {"messages": []}, "after_seconds": 600}
    run_id = str((await api.call("POST", f"/threads/{thread_id}/runs", body)).json()["run_id"])
    await api.call("POST", "/runs/cancel", {"thread_id": thread_id, "run_ids": [run_id]})
    entry = await _entry(tenants, "runs.cancel", thread_id)
    assert run_id in entry["details"]  # the filter asked for, and the run it cancelled


async def test_deleting_a_run_is_audited(api: _Api, tenants: Tenants) -> None:
    thread_id = await api.thread()
    run_id = await api.run(thread_id)
    await api.call("DELETE", f"/threads/{thread_id}/runs/{run_id}")
    await _entry(tenants, "run.delete", run_id)


async def test_deleting_a_thread_is_audited(api: _Api, tenants: Tenants) -> None:
    thread_id = await api.thread()
    await api.call("DELETE", f"/threads/{thread_id}")
    await _entry(tenants, "thread.delete", thread_id)


async def test_deleting_an_assistant_is_audited(api: _Api, tenants: Tenants) -> None:
    assistant_id = await api.assistant()
    await api.call("DELETE", f"/assistants/{assistant_id}?delete_threads=true")
    entry = await _entry(tenants, "assistant.delete", assistant_id)
    assert '"delete_threads": true' in entry["details"]


async def test_creating_a_cron_is_audited(api: _Api, tenants: Tenants) -> None:
    cron_id = await api.cron()
    entry = await _entry(tenants, "cron.create", cron_id)
    assert "0 0 1 1 *" in entry["details"]


async def test_updating_a_cron_is_audited(api: _Api, tenants: Tenants) -> None:
    cron_id = await api.cron()
    await api.call("PATCH", f"/runs/crons/{cron_id}", {"schedule": "0 0 2 1 *"})
    entry = await _entry(tenants, "cron.update", cron_id)
    assert "schedule" in entry["details"]


async def test_deleting_a_cron_is_audited(api: _Api, tenants: Tenants) -> None:
    cron_id = await api.cron()
    await api.call("DELETE", f"/runs/crons/{cron_id}")
    await _entry(tenants, "cron.delete", cron_id)


async def test_creating_an_event_subscription_is_audited(api: _Api, tenants: Tenants) -> None:
    subscription_id = await api.subscription()
    await _entry(tenants, "subscription.create", subscription_id)


async def test_updating_an_event_subscription_is_audited(api: _Api, tenants: Tenants) -> None:
    subscription_id = await api.subscription()
    await api.call("PATCH", f"/events/subscriptions/{subscription_id}", {"thread_mode": "subject"})
    entry = await _entry(tenants, "subscription.update", subscription_id)
    assert "thread_mode" in entry["details"]


async def test_deleting_an_event_subscription_is_audited(api: _Api, tenants: Tenants) -> None:
    subscription_id = await api.subscription()
    await api.call("DELETE", f"/events/subscriptions/{subscription_id}")
    await _entry(tenants, "subscription.delete", subscription_id)


async def test_a_refused_delete_is_not_recorded_as_done(
    api: _Api, tenants: Tenants, http: httpx.AsyncClient
) -> None:
    thread_id = await api.thread()
    refused = await http.delete(f"/threads/{thread_id}", headers=key(tenants, "default", "viewer"))
    assert refused.status_code == 403
    conn = await asyncpg.connect(tenants.dsn)
    try:
        assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE target = $1", thread_id) == 0
    finally:
        await conn.close()


async def test_a_cancel_on_disconnect_is_audited_with_the_reason(
    http: httpx.AsyncClient, api: _Api, tenants: Tenants
) -> None:
    """`on_disconnect: cancel`: the client hangs up, the router interrupts the run and records it
    against the caller of the request that disconnected."""
    thread_id = await api.thread()
    body = {
        "assistant_id": "agent",
        "input": {"messages": []},
        "after_seconds": 600,
        "on_disconnect": "cancel",
    }
    async with http.stream(
        "POST", f"/threads/{thread_id}/runs/stream", json=body, headers=api.headers
    ) as stream:
        assert stream.status_code == 200
        run_id = stream.headers["content-location"].rstrip("/").split("/")[-1]
    for _ in range(100):
        run = (await api.call("GET", f"/threads/{thread_id}/runs/{run_id}")).json()
        if run["status"] != "pending":
            break
        await asyncio.sleep(0.1)
    assert run["status"] == "interrupted"
    for _ in range(50):  # the audit row is written right after the cancel
        conn = await asyncpg.connect(tenants.dsn)
        try:
            found = await conn.fetchval("SELECT count(*) FROM audit_log WHERE target = $1", run_id)
        finally:
            await conn.close()
        if found:
            break
        await asyncio.sleep(0.1)
    entry = await _entry(tenants, "run.cancel", run_id)
    assert "client disconnected" in entry["details"]

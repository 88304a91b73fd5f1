"""API keys, RBAC and tenancy against real processes: `python -m router` (which always requires keys)
and a function runtime, over real Postgres and Redis. Project `default` owns the default deployment
(served at `/`); project `beta` owns deployment `beta` (served at `/d/beta/`)."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from router.api import auth as auth_api
from tests.auth.tenants import FAILURE_LIMIT, FAILURE_WINDOW_SECONDS, ROLES, Tenants
from tests.auth.tenants import key as _key

pytestmark = pytest.mark.xdist_group("auth_stack")


async def test_a_request_without_a_key_gets_the_official_401(http: httpx.AsyncClient) -> None:
    response = await http.post("/threads/search", json={})
    assert response.status_code == 401
    assert response.json() == {"detail": "Missing authentication headers"}
    assert (await http.get("/ok")).status_code == 200  # the health check stays open


async def test_wrong_revoked_and_expired_keys_get_401(http: httpx.AsyncClient, tenants: Tenants) -> None:
    for key in ("nonsense", "lo_000000000000_" + "x" * 43, tenants.revoked, tenants.expired):
        response = await http.post("/threads/search", json={}, headers={"X-Api-Key": key})
        assert response.status_code == 401, key
        assert response.json() == {"detail": "Invalid token"}


async def test_a_key_works_with_and_without_the_langsmith_auth_scheme(
    http: httpx.AsyncClient, tenants: Tenants
) -> None:
    headers = _key(tenants, "default", "viewer")
    assert (await http.post("/threads/search", json={}, headers=headers)).status_code == 200
    scheme = {**headers, "X-Auth-Scheme": "langsmith-api-key"}
    assert (await http.post("/threads/search", json={}, headers=scheme)).status_code == 200


async def test_roles_get_403_naming_the_missing_permission(http: httpx.AsyncClient, tenants: Tenants) -> None:
    viewer = _key(tenants, "default", "viewer")
    refused = await http.post("/threads", json={}, headers=viewer)
    assert refused.status_code == 403
    assert "threads:write" in refused.json()["detail"]
    developer = _key(tenants, "default", "developer")
    assert (await http.post("/threads", json={}, headers=developer)).status_code == 200
    assert (await http.get("/metrics", headers=developer)).status_code == 403
    assert (await http.get("/metrics", headers=_key(tenants, "default", "operator"))).status_code != 403


def _fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path)


async def _resources_of_project_a(http: httpx.AsyncClient, tenants: Tenants) -> dict[str, str]:
    headers = _key(tenants, "default", "developer")
    assistant = (await http.post("/assistants", json={"graph_id": "agent"}, headers=headers)).json()
    thread = (await http.post("/threads", json={"metadata": {"owner": "a"}}, headers=headers)).json()
    run = await http.post(
        f"/threads/{thread['thread_id']}/runs/wait",
        json={"assistant_id": assistant["assistant_id"], "input": {"messages": []}},
        headers=headers,
    )
    assert run.status_code == 200, run.text
    runs = (await http.get(f"/threads/{thread['thread_id']}/runs", headers=headers)).json()
    cron = await http.post(
        "/runs/crons",
        json={"assistant_id": assistant["assistant_id"], "schedule": "0 0 1 1 *", "input": {}},
        headers=headers,
    )
    assert cron.status_code == 200, cron.text
    put = await http.put(
        "/store/items", json={"namespace": ["a"], "key": "k", "value": {"secret": "of-a"}}, headers=headers
    )
    assert put.status_code == 204, put.text
    subscription = await http.post(
        "/events/subscriptions",
        json={"assistant_id": assistant["assistant_id"], "thread_mode": "stateless"},
        headers=headers,
    )
    assert subscription.status_code in (200, 201), subscription.text
    return {
        "assistant_id": assistant["assistant_id"],
        "thread_id": thread["thread_id"],
        "run_id": runs[0]["run_id"],
        "cron_id": cron.json()["cron_id"],
        "subscription_id": subscription.json()["subscription_id"],
        "checkpoint_id": str(uuid.uuid4()),
        "namespace": "a",
    }


def _body_for(method: str, path: str, ids: dict[str, str]) -> dict[str, Any] | None:
    if method in ("GET", "DELETE"):
        return None
    if path.endswith("/runs") or path.endswith("/wait") or path.endswith("/stream"):
        return {"assistant_id": ids["assistant_id"], "input": {}}
    if path == "/runs/cancel":
        return {"thread_id": ids["thread_id"], "run_ids": [ids["run_id"]]}
    if path == "/threads/search":
        return {"ids": [ids["thread_id"]]}
    return {}


def _leaks(response: httpx.Response, ids: dict[str, str]) -> list[str]:
    text = response.text
    leaked = [name for name, value in ids.items() if len(value) > 8 and value in text]
    if "of-a" in text:
        leaked.append("store item")
    return leaked


@pytest.mark.timeout(400)
async def test_cross_tenant_matrix_keys_of_project_b_never_see_project_a(
    http: httpx.AsyncClient, tenants: Tenants, record_property: Any
) -> None:
    """Every operation, every role of project B, against project A's resources: at A's deployment
    (403: the key's project does not own it) and at B's own deployment with A's ids (404, or 403/422
    before any lookup, or an answer without any of A's data)."""
    ids = await _resources_of_project_a(http, tenants)
    operations = [op for op, perm in auth_api.ROUTE_PERMISSIONS.items() if perm is not auth_api.PUBLIC]
    pairs = 0
    failures = []
    for role in ROLES:
        headers = {**_key(tenants, "beta", role), "Accept": "application/json"}
        for method, template in operations:
            path = _fill(template, ids)
            body = _body_for(method, template, ids)
            for prefix, allowed in (("", {403}), ("/d/beta", {400, 403, 404, 405, 422})):
                params = {"namespace": ids["namespace"], "key": "k"} if template == "/store/items" else None
                response = await http.request(
                    method, prefix + path, json=body, headers=headers, params=params, timeout=5.0
                )
                pairs += 1
                leaked = _leaks(response, ids) if response.status_code < 300 else []  # errors echo the id
                if leaked or (response.status_code not in allowed and response.status_code >= 300):
                    failures.append(
                        (role, method, prefix + path, response.status_code, leaked, response.text[:200])
                    )
    record_property("cross_tenant_pairs", pairs)
    assert not failures, failures
    assert pairs == len(operations) * len(ROLES) * 2


async def test_audit_log_records_keys_and_refused_logins_and_is_append_only(
    http: httpx.AsyncClient, tenants: Tenants
) -> None:
    await http.get("/info", headers={"X-Api-Key": "lo_aaaaaaaaaaaa_" + "y" * 43})
    conn = await asyncpg.connect(tenants.dsn)
    try:
        actions = {r["action"] + "/" + r["outcome"] for r in await conn.fetch("SELECT * FROM audit_log")}
        assert {"key.create/ok", "key.revoke/ok", "auth.login/refused"} <= actions
        refused = await conn.fetchrow("SELECT * FROM audit_log WHERE actor = 'key:aaaaaaaaaaaa'")
        assert refused is not None
        assert refused["client"] == "127.0.0.1"
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("UPDATE audit_log SET actor = 'x'")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("DELETE FROM audit_log")
        stored = await conn.fetch("SELECT secret_hash FROM api_keys")
        assert all(len(bytes(r["secret_hash"])) == 32 for r in stored)
    finally:
        await conn.close()


async def test_failed_logins_are_rate_limited_per_client_with_retry_after(
    http: httpx.AsyncClient, tenants: Tenants
) -> None:
    await asyncio.sleep(FAILURE_WINDOW_SECONDS + 0.5)  # start from an empty window
    statuses = []
    for _ in range(FAILURE_LIMIT + 2):
        response = await http.get("/info", headers={"X-Api-Key": "wrong"})
        statuses.append(response.status_code)
    assert statuses[:FAILURE_LIMIT] == [401] * FAILURE_LIMIT
    assert statuses[-1] == 429
    limited = await http.get("/info", headers=_key(tenants, "default", "viewer"))
    assert limited.status_code == 429  # even a right key, until the window ends
    assert 1 <= int(limited.headers["Retry-After"]) <= FAILURE_WINDOW_SECONDS
    deadline = time.monotonic() + FAILURE_WINDOW_SECONDS + 5
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        if (await http.get("/info", headers=_key(tenants, "default", "viewer"))).status_code == 200:
            break
    else:
        pytest.fail("still limited after the window")


def test_no_key_appears_in_any_log_line(tenants: Tenants) -> None:
    logs = "\n".join(p.read_text() for p in tenants.stack.workdir.glob("*.log"))
    assert "audit action=" in logs  # the audit lines were written
    for key in [*tenants.keys.values(), tenants.revoked, tenants.expired]:
        secret = key.split("_", 2)[2]  # the whole secret: token_urlsafe may contain "_" itself
        assert len(secret) == 43
        assert secret not in logs

"""The busiest operations answered without FastAPI's routing (router.api.direct) answer exactly as
through FastAPI: the same requests to two real router apps, one with `direct_routes` and one
without, over one real function service, Postgres and Redis, give the same statuses, headers and
bodies (ids and times aside)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from router.api import direct
from router.dispatch.targets import StaticTarget
from router.main import create_app
from router.settings import RouterSettings
from tests.router.conftest import APP_CONFIG, function_service

UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TIME = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(\+00:00|Z)|(?<=_time_ms__\":)\d+")
RUN = {"assistant_id": "agent", "input": {"items": ["x"]}}
NOT_A_THREAD = "00000000-0000-4000-8000-000000000000"


def settings(pg_dsn: str, redis_url: str, redis_prefix: str, *, direct_routes: bool) -> RouterSettings:
    return RouterSettings.model_validate(
        {
            "DATABASE_URL": pg_dsn,
            "REDIS_URL": redis_url,
            "redis_prefix": redis_prefix,
            "LANGOPEN_CONFIG": APP_CONFIG,
            "direct_routes": direct_routes,
        }
    )


@asynccontextmanager
async def serving(config: RouterSettings, function_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(config, function_target=StaticTarget(function_url), require_auth=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://router") as client,
    ):
        yield client


def requests(thread_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, httpx arguments): answered directly, and handed to FastAPI."""
    t = f"/threads/{thread_id}"
    return [
        ("POST", "/threads", {"json": {}}),
        ("POST", "/threads", {"json": {"metadata": {"a": 1}, "if_exists": "do_nothing"}}),
        ("POST", "/threads", {"json": {"thread_id": thread_id, "if_exists": "raise"}}),  # 409
        ("POST", "/threads", {"json": {"metadata": {"k": "a\u0000"}}}),  # check_input's 422
        ("POST", "/threads", {"json": {"bogus": 1}}),  # invalid: FastAPI's 422
        ("POST", "/threads", {"json": {"metadata": "x"}}),
        ("POST", "/threads", {"content": b"{not json", "headers": {"content-type": "application/json"}}),
        ("POST", "/threads", {"content": b"{}", "headers": {"content-type": "text/plain"}}),
        ("POST", "/threads", {}),  # no body
        ("POST", "/threads?x=1", {"json": {}}),
        ("POST", f"{t}/runs/wait", {"json": RUN}),
        ("POST", f"{t}/runs/wait", {"json": {**RUN, "assistant_id": "nope"}}),  # 422 from the service
        ("POST", f"{t}/runs/wait", {"json": {**RUN, "multitask_strategy": "sometimes"}}),
        ("POST", f"{t}/runs/wait", {"json": {"input": {}}}),  # no assistant_id
        ("POST", f"{t}/runs/wait", {"json": {**RUN, "input": {"items": [2**70]}}}),  # check_input
        ("POST", f"/threads/{NOT_A_THREAD}/runs/wait", {"json": RUN}),  # 404
        ("POST", "/threads/not-a-uuid/runs/wait", {"json": RUN}),  # 422 from the endpoint
        ("POST", f"{t}/runs", {"json": RUN}),
        ("POST", f"{t}/runs/stream", {"json": {**RUN, "stream_mode": ["values", "updates"]}}),
        ("POST", f"{t}/runs/wait", {"json": {**RUN, "multitask_strategy": "reject"}}),  # idle again
    ]


def normalized(response: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = sorted(
        (name, UUID.sub(b"<id>", value.encode()).decode())
        for name, value in response.headers.items()
        if name not in ("date", "content-length")
    )
    return response.status_code, headers, TIME.sub(b"<time>", UUID.sub(b"<id>", response.content))


async def answers(client: httpx.AsyncClient) -> list[tuple[int, list[tuple[str, str]], bytes]]:
    thread_id = (await client.post("/threads", json={})).json()["thread_id"]
    found = []
    for method, path, kwargs in requests(thread_id):
        found.append(normalized(await client.request(method, path, **kwargs)))
    return found


async def test_direct_routes_answer_as_fastapi_does(
    pg_dsn: str, redis_url: str, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken: list[str] = []
    call = direct.DirectRoutes._call

    async def counting(self: direct.DirectRoutes, route: direct.DirectRoute, request: Any, body: Any) -> Any:
        taken.append(route.route.path)
        return await call(self, route, request, body)

    monkeypatch.setattr(direct.DirectRoutes, "_call", counting)
    async with function_service(pg_dsn, redis_url) as function_url:
        found = {}
        for on in (False, True):
            config = settings(pg_dsn, redis_url, redis_prefix, direct_routes=on)
            async with serving(config, function_url) as client:
                found[on] = await answers(client)
                if not on:
                    assert taken == []
    for request, fastapi, ours in zip(requests(NOT_A_THREAD), found[False], found[True], strict=True):
        assert ours == fastapi, request
    statuses = [status for status, _, _ in found[True]]
    assert statuses[:10] == [200, 200, 409, 422, 422, 422, 422, 422, 200, 200]
    assert statuses[10:] == [200, 422, 422, 422, 422, 404, 422, 200, 200, 200]
    # The valid requests went the direct way (the first thread of `answers` included), the rest not.
    assert taken.count("/threads") == 5
    assert taken.count("/threads/{thread_id}/runs/wait") == 6
    assert taken.count("/threads/{thread_id}/runs") == 1
    assert taken.count("/threads/{thread_id}/runs/stream") == 1


def test_every_direct_operation_is_taken_in_the_router_app() -> None:
    """A change to one of these routes' declarations that `direct_route` cannot call (a query
    parameter, a dependency it does not know) fails here rather than quietly costing the CPU back."""
    config = RouterSettings(
        database_url="postgresql://unused@127.0.0.1/unused",
        redis_url="redis://127.0.0.1:6379/0",
        config_path=APP_CONFIG,
    )
    app = create_app(config, function_target=StaticTarget("http://127.0.0.1:1"))
    taken = {
        (method, route.route.path)
        for route in direct.direct_routes(app)
        for method in route.route.methods or ()
    }
    assert taken == set(direct.OPERATIONS)

"""Custom routes (`http.app`) and the other `http` switches end to end: the user's app runs in the
function process (tests/app_custom), the router forwards to it with the official precedence, streams
its answers, and drops the route groups the config turns off; unsupported keys stop the router at
startup with a message naming them."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import REDIS_URL, migrated_database
from tests.e2e.helpers import raw_client
from tests.e2e.stack import ROOT, Stack

CUSTOM_CONFIG = ROOT / "tests" / "app_custom" / "langgraph.json"


def _stack(workdir: Path, config: Path) -> Iterator[Stack]:
    with migrated_database("t_e2e_custom") as dsn:
        s = Stack(
            database_url=dsn,
            redis_url=REDIS_URL,
            redis_prefix=f"langopen-e2e:{uuid.uuid4().hex[:8]}",
            workdir=workdir,
            config=config,
        )
        try:
            yield s
        finally:
            s.stop()


def _write_config(folder: Path, http: dict[str, Any]) -> Path:
    config = json.loads(CUSTOM_CONFIG.read_text())
    config["http"] = http
    config["dependencies"] = [str(CUSTOM_CONFIG.parent)]
    config["graphs"] = {"echo": f"{CUSTOM_CONFIG.parent}/graph.py:graph"}
    path = folder / "langgraph.json"
    path.write_text(json.dumps(config))
    return path


@pytest.fixture(scope="module")
def custom_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    for s in _stack(tmp_path_factory.mktemp("custom"), CUSTOM_CONFIG):
        s.start()
        yield s


@pytest.fixture
async def http(custom_stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with raw_client(custom_stack.url) as c:
        yield c


async def test_custom_get_and_post_are_forwarded_with_path_query_headers_and_body(
    http: httpx.AsyncClient, custom_stack: Stack
) -> None:
    hello = await http.get("/hello")
    assert hello.status_code == 200
    assert hello.json() == {"hello": "world", "lifespan_ran": True}

    echoed = await http.post(
        "/echo/some%20name?a=1&b=two",
        content=b"raw body",
        headers={"x-custom": "value", "x-langopen-http-app": "spoofed", "connection": "keep-alive"},
    )
    assert echoed.status_code == 201
    assert echoed.headers["x-from-user-app"] == "yes"
    body = echoed.json()
    assert body["name"] == "some name"
    assert body["query"] == {"a": "1", "b": "two"}
    assert body["body"] == "raw body"
    assert body["method"] == "POST"
    assert body["headers"]["x-custom"] == "value"
    assert body["headers"]["host"] == f"127.0.0.1:{custom_stack.router_port}"
    assert body["headers"]["x-forwarded-for"] == "127.0.0.1"
    assert "x-langopen-http-app" not in body["headers"]

    teapot = await http.get("/teapot")
    assert teapot.status_code == 418
    assert teapot.json() == {"short": "and stout"}
    missing = await http.get("/no-such-route")
    assert missing.status_code == 404  # neither app has it: the router's own 404


async def test_streaming_response_streams(http: httpx.AsyncClient) -> None:
    async with http.stream("GET", "/sse") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        chunks = response.aiter_bytes()
        started = time.monotonic()
        first = await asyncio.wait_for(chunks.__anext__(), 10)
        assert first == b"event: first\ndata: 1\n\n"  # arrived while the route is still open
        assert time.monotonic() - started < 10
        released = await http.post("/sse/release")
        assert released.json() == {"released": True}
        rest = b"".join([chunk async for chunk in chunks])
    assert rest == b"event: second\ndata: 2\n\n"


async def test_custom_route_shadows_a_builtin_on_the_same_path_and_method(http: httpx.AsyncClient) -> None:
    # the user's GET /info comes before the built-in GET /info, as in the official server
    assert (await http.get("/info")).json() == {"served_by": "user app"}
    # GET /assistants/search is the user's; POST still reaches the built-in route (a full match
    # beats the user's path-only match)
    assert (await http.get("/assistants/search")).json() == {"served_by": "user app"}
    builtin = await http.post("/assistants/search", json={})
    assert builtin.status_code == 200
    assert [a["graph_id"] for a in builtin.json()] == ["echo"]
    # a method neither app serves on a user path: the user's 405
    assert (await http.delete("/hello")).status_code == 405


async def test_trailing_slash_redirect_comes_from_the_user_app(http: httpx.AsyncClient) -> None:
    redirect = await http.get("/slash", follow_redirects=False)
    assert redirect.status_code == 307
    assert redirect.headers["location"].endswith("/slash/")
    assert (await http.get("/slash/")).json() == {"slash": "yes"}


async def test_openapi_and_docs_are_never_shadowed_and_list_both_apps(http: httpx.AsyncClient) -> None:
    spec = (await http.get("/openapi.json")).json()
    assert spec["info"]["title"] == "LangOpen Agent Server"
    assert "/hello" in spec["paths"]
    assert "/threads" in spec["paths"]
    assert {"get", "post"} <= set(spec["paths"]["/assistants/search"])
    docs = await http.get("/docs")
    assert docs.status_code == 200
    assert "/openapi.json" in docs.text


async def test_disabled_groups_are_404_and_missing_from_openapi(http: httpx.AsyncClient) -> None:
    assert (
        await http.put("/store/items", json={"namespace": ["a"], "key": "k", "value": {}})
    ).status_code == 404
    assert (await http.post("/store/items/search", json={})).status_code == 404
    assert (await http.post("/mcp", json={})).status_code == 404
    paths = (await http.get("/openapi.json")).json()["paths"]
    assert not [p for p in paths if p.startswith("/store") or p.startswith("/mcp")]
    assert (await http.post("/threads", json={})).status_code == 200  # other groups stay


async def test_cors_config_is_applied(http: httpx.AsyncClient) -> None:
    preflight = await http.options(
        "/hello",
        headers={
            "origin": "https://ui.example",
            "access-control-request-method": "POST",
            "access-control-request-headers": "x-custom",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://ui.example"
    builtin = await http.post("/threads/search", json={}, headers={"origin": "https://ui.example"})
    assert builtin.headers["access-control-allow-origin"] == "https://ui.example"
    other = await http.get("/hello", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    assert (await http.get("/hello", headers={"origin": "https://ui.example"})).headers[
        "access-control-allow-origin"
    ] == "https://ui.example"


def test_meta_and_assistants_switches_remove_their_routes(tmp_path: Path) -> None:
    config = _write_config(tmp_path, {"disable_meta": True, "disable_assistants": True, "disable_a2a": True})
    for s in _stack(tmp_path, config):
        s.start()
        for method, path in [
            ("GET", "/openapi.json"),
            ("GET", "/docs"),
            ("GET", "/info"),
            ("GET", "/metrics"),
            ("POST", "/assistants/search"),
            ("GET", "/.well-known/agent-card.json"),
        ]:
            assert httpx.request(method, s.url + path, json={}).status_code == 404, path
        assert httpx.get(s.url + "/ok").status_code == 200
        assert httpx.post(s.url + "/threads", json={}).status_code == 200


@pytest.mark.parametrize(
    ("http_section", "message"),
    [
        ({"mount_prefix": "/api"}, "http.mount_prefix is not supported"),
        ({"configurable_headers": {"includes": ["x-user"]}}, "http.configurable_headers is not supported"),
        ({"middleware_order": "auth_first"}, "http.middleware_order is not supported"),
        ({"disable_webhooks": True}, "http.disable_webhooks is not supported"),
        ({"no_such_key": 1}, "http.no_such_key is not a known key"),
    ],
)
def test_unsupported_http_key_stops_the_router_at_startup(
    tmp_path: Path, http_section: dict[str, Any], message: str
) -> None:
    config = _write_config(tmp_path, http_section)
    for s in _stack(tmp_path, config):
        with pytest.raises(RuntimeError, match="process exited") as failed:
            s.start_router()
        assert message in str(failed.value)

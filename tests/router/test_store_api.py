"""The router's Store API: bodies are checked before anything reaches the function service, and
every operation is then answered by the function service (there is no other path to the store)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.router.conftest import Env


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/store/items", {"namespace": ["a.b"], "key": "k", "value": {}}),
        ("DELETE", "/store/items", {"namespace": ["a", ""], "key": "k"}),
        ("POST", "/store/items/search", {"namespace_prefix": ["x"], "limit": 0}),
        ("POST", "/store/namespaces", {"prefix": "a"}),
    ],
)
async def test_invalid_bodies_are_refused_without_asking_the_function(
    env: Env, method: str, path: str, body: dict[str, Any]
) -> None:
    response = await env.client.request(method, path, json=body)  # env's function port is closed
    assert response.status_code == 422


async def test_a_namespace_error_uses_the_official_words_and_names_the_field(env: Env) -> None:
    response = await env.client.put("/store/items", json={"namespace": ["a.b", "c"], "key": "k", "value": {}})
    assert response.status_code == 422
    assert response.json() == {
        "detail": "namespace: Value error, Namespace labels cannot be empty or contain periods. "
        "Received: ('a.b', 'c')"
    }


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("PUT", "/store/items", {"json": {"namespace": ["a"], "key": "k", "value": {}}}),
        ("GET", "/store/items", {"params": {"namespace": "a", "key": "k"}}),
        ("DELETE", "/store/items", {"json": {"namespace": ["a"], "key": "k"}}),
        ("POST", "/store/items/search", {"json": {}}),
        ("POST", "/store/namespaces", {}),
    ],
)
async def test_every_operation_goes_to_the_function_service(
    env: Env, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    response = await env.client.request(method, path, **kwargs)
    assert response.status_code == 503
    assert "function service unreachable" in response.json()["detail"]


async def test_items_round_trip_through_the_function_service(fn_env: Env) -> None:
    client = fn_env.client
    put = await client.put(
        "/store/items", json={"namespace": ["r", "s"], "key": "k", "value": {"v": 1}, "ttl": 5}
    )
    assert put.status_code == 204
    got = (
        await client.get("/store/items", params={"namespace": "r.s", "key": "k", "refresh_ttl": "false"})
    ).json()
    assert (got["namespace"], got["key"], got["value"]) == (["r", "s"], "k", {"v": 1})
    searched = (await client.post("/store/items/search")).json()
    assert [(i["key"], i["score"]) for i in searched["items"]] == [("k", None)]
    listed = (await client.post("/store/namespaces", json={"suffix": ["s"]})).json()
    assert listed == {"namespaces": [["r", "s"]]}
    assert (
        await client.request("DELETE", "/store/items", json={"namespace": ["r", "s"], "key": "k"})
    ).status_code == 204
    assert (await client.get("/store/items", params={"namespace": "r.s", "key": "k"})).json() is None

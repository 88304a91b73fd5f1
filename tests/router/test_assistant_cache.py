"""Run creation reads assistants from the replica's cache (router.services.context.AssistantCache),
checked by the creating statement (migration 0007): two router replicas over one Postgres, one of
them changing the assistant behind the other's back."""

from __future__ import annotations

from typing import Any

import pytest

from router import errors, tenancy
from router.requests import RunCreateStateful
from router.services import runs as runs_service
from router.services.context import AssistantCache
from router.store import assistants as assistants_store
from tests.router.conftest import Env, _closed_port_url, router_app


async def _run(env: Env, assistant_id: str) -> dict[str, Any]:
    thread = (await env.client.post("/threads", json={})).json()
    body = RunCreateStateful.model_validate({"assistant_id": assistant_id, "input": {"n": 1}})
    created = await runs_service.create(env.services, body, thread_id=thread["thread_id"])
    return dict(created.run)


class _Reads:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = assistants_store.get

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return await real(*args, **kwargs)

        monkeypatch.setattr(assistants_store, "get", counted)


async def test_a_replica_with_a_stale_copy_creates_runs_with_the_assistant_as_it_is_now(
    pg_dsn: str, redis_url: str, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = _closed_port_url()  # runs stay pending: no dispatcher in these replicas
    async with (
        router_app(pg_dsn, redis_url, redis_prefix, url) as a,
        router_app(pg_dsn, redis_url, redis_prefix, url) as b,
    ):
        made = await a.client.post("/assistants", json={"graph_id": "agent", "config": {"tags": ["v1"]}})
        aid = made.json()["assistant_id"]
        reads = _Reads(monkeypatch)

        first = await _run(a, aid)
        assert first["kwargs"]["config"]["tags"] == ["v1"]
        assert reads.count == 1
        again = await _run(a, aid)  # from the cache: no read of the assistant
        assert again["kwargs"]["config"]["tags"] == ["v1"]
        assert reads.count == 1

        assert (
            await b.client.patch(f"/assistants/{aid}", json={"config": {"tags": ["v2"]}})
        ).status_code == 200
        changed = await _run(a, aid)  # refused as stale, read again, created with version 2
        assert changed["kwargs"]["config"]["tags"] == ["v2"]
        assert reads.count == 2
        cached = a.services.assistants.get((tenancy.deployment_id(), aid))
        assert cached is not None
        assert cached["version"] == 2
        runs = await a.services.pool.fetchval("SELECT count(*) FROM runs WHERE assistant_id = $1", aid)
        assert runs == 3  # the refused attempt wrote nothing

        assert (await b.client.post(f"/assistants/{aid}/latest", json={"version": 1})).status_code == 200
        assert (await _run(a, aid))["kwargs"]["config"]["tags"] == ["v1"]

        assert (await b.client.delete(f"/assistants/{aid}")).status_code == 204
        with pytest.raises(errors.NotFoundError):
            await _run(a, aid)
        assert a.services.assistants.get((tenancy.deployment_id(), aid)) is None


async def test_a_replicas_own_writes_drop_its_copy(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    aid = (await env.client.post("/assistants", json={"graph_id": "agent"})).json()["assistant_id"]
    await _run(env, aid)
    key = (tenancy.deployment_id(), aid)
    assert env.services.assistants.get(key) is not None
    assert (await env.client.patch(f"/assistants/{aid}", json={"metadata": {"v": 2}})).status_code == 200
    assert env.services.assistants.get(key) is None
    await _run(env, aid)
    assert (await env.client.post(f"/assistants/{aid}/latest", json={"version": 1})).status_code == 200
    assert env.services.assistants.get(key) is None
    await _run(env, aid)
    assert (await env.client.delete(f"/assistants/{aid}")).status_code == 204
    assert env.services.assistants.get(key) is None
    reads = _Reads(monkeypatch)
    await _run(env, "agent")  # system assistants by graph id are cached too
    await _run(env, "agent")
    assert reads.count == 1


def test_the_cache_drops_the_least_recently_used() -> None:
    cache = AssistantCache(size=2)
    items: list[Any] = [{"assistant_id": str(i)} for i in range(3)]
    cache.put(("d", "0"), items[0])
    cache.put(("d", "1"), items[1])
    assert cache.get(("d", "0")) is items[0]  # now the most recent
    cache.put(("d", "2"), items[2])
    assert (cache.get(("d", "1")), len(cache)) == (None, 2)
    assert cache.get(("d", "0")) is items[0]
    assert cache.get(("d", "2")) is items[2]

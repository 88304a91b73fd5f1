"""Behind a deployment's path prefix (`/d/{name}`), the `Location` and `Content-Location` headers of
run responses keep the prefix, so the SDK reconnects to the same deployment; at `/` they have none."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.auth.tenants import Tenants, key

pytestmark = pytest.mark.xdist_group("auth_stack")

RUN = {"assistant_id": "agent", "input": {"messages": []}}


@pytest.mark.parametrize(("project", "prefix"), [("beta", "/d/beta"), ("default", "")])
async def test_run_locations_keep_the_deployment_prefix(
    http: httpx.AsyncClient, tenants: Tenants, project: str, prefix: str
) -> None:
    headers = key(tenants, project, "developer")
    thread_id = (await http.post(f"{prefix}/threads", json={}, headers=headers)).json()["thread_id"]
    created = await http.post(f"{prefix}/threads/{thread_id}/runs", json=RUN, headers=headers)
    assert created.status_code == 200, created.text
    run_id = created.json()["run_id"]
    run_path = f"{prefix}/threads/{thread_id}/runs/{run_id}"
    assert created.headers["content-location"] == run_path
    assert created.headers["location"] == f"{run_path}/stream"
    joined = await http.get(created.headers["content-location"] + "/join", headers=headers)
    assert joined.status_code == 200, joined.text  # the header leads back to the run

    waited = await http.post(f"{prefix}/threads/{thread_id}/runs/wait", json=RUN, headers=headers)
    assert waited.headers["location"].startswith(f"{prefix}/threads/{thread_id}/runs/")
    assert waited.headers["location"].endswith("/join")
    async with http.stream(
        "POST", f"{prefix}/threads/{thread_id}/runs/stream", json=RUN, headers=headers
    ) as s:
        assert s.headers["content-location"].startswith(f"{prefix}/threads/{thread_id}/runs/")
        await s.aread()
    stateless = await http.post(f"{prefix}/runs/wait", json=RUN, headers=headers)
    assert stateless.status_code == 200, stateless.text
    stateless_run = stateless.headers["content-location"]  # names the run's temporary thread
    assert re.fullmatch(rf"{prefix}/threads/[0-9a-f-]{{36}}/runs/[0-9a-f-]{{36}}", stateless_run)
    for path in (f"{prefix}/runs", f"{prefix}/runs/stream"):
        async with http.stream("POST", path, json=RUN, headers=headers) as response:
            assert response.status_code == 200
            assert response.headers["location"].startswith(f"{prefix}/runs/")
            await response.aread()

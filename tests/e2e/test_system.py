"""System endpoints: health, info, the API's own docs and spec, and Prometheus metrics."""

from __future__ import annotations

import re

import httpx
from langgraph_sdk.client import LangGraphClient

from tests.e2e.helpers import new_thread, wire
from tests.e2e.stack import Stack

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


async def test_health_info_docs_and_spec(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.url) as http:
        for path in ("/ok", "/", "/ok?check_db=1"):
            response = await http.get(path)
            assert (response.status_code, response.json()) == (200, {"ok": True, "services": {}}), path
        info = (await http.get("/info")).json()
        assert info["flags"]["assistants"] is True
        assert info["host"]["kind"] == "self-hosted"
        docs = await http.get("/docs")
        assert docs.status_code == 200
        assert "text/html" in docs.headers["content-type"]
        spec = (await http.get("/openapi.json")).json()
        assert "get" in spec["paths"]["/docs"]
        for path in (
            "/threads/{thread_id}/runs/stream",
            "/runs/wait",
            "/assistants/search",
            "/threads/{thread_id}/state",
        ):
            assert path in spec["paths"], path


async def test_metrics_count_runs_with_bounded_labels(client: LangGraphClient, stack: Stack) -> None:
    thread_id = await new_thread(client)
    await client.runs.wait(thread_id, "agent", input=wire({"items": ["m"]}))
    async with httpx.AsyncClient(base_url=stack.url) as http:
        response = await http.get("/metrics")
        as_json = await http.get("/metrics?format=json")
        bad = await http.get("/metrics?format=yaml")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert re.search(r'^langopen_runs_finished_total\{graph_id="agent",status="success"\} [1-9]', text, re.M)
    assert re.search(r'^langopen_runs_created_total\{graph_id="agent"\} [1-9]', text, re.M)
    labels = " ".join(
        line.split("}")[0] for line in text.splitlines() if "{" in line and not line.startswith("#")
    )
    assert not UUID.search(labels), "run, thread or assistant ids must never be metric labels"
    assert as_json.status_code == 200
    finished = as_json.json()["langopen_runs_finished_total"]
    assert any(
        s["labels"] == {"graph_id": "agent", "status": "success"} and s["value"] >= 1 for s in finished
    )
    # the official server falls back to Prometheus text for any other format (its document lists 200 only)
    assert bad.status_code == 200
    assert bad.headers["content-type"].startswith("text/plain")

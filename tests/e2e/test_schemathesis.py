"""Schemathesis against LangOpen's own `/openapi.json` (the official document for the official
operations, FastAPI's for LangOpen's own), on a real stack: no 5xx and no response that breaks the
document, over at least `MIN_REQUESTS` generated requests.

Every operation gets positive and negative cases with generated parameters (mostly unknown ids), and
positive cases whose path ids are real resources (a thread with a finished run, that run, a system
assistant, a cron, the assistant's graph namespace), so the 200 answers are checked too. Hypothesis
runs with a fixed seed, so a run is reproducible; failures are collected over every operation and
reported together, with a curl command each.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.conftest import own_stack
from tests.e2e.stack import Stack

pytestmark = pytest.mark.e2e

SEED = 20261121
MIN_REQUESTS = 2000
EXAMPLES_PER_STRATEGY = 14
REQUEST_TIMEOUT_SECONDS = 30.0
SYSTEM_NAMESPACE = uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
# Operations called only with generated (unknown) ids: on a real thread this stream never ends, by
# contract (agent-server-api.md §3.3: "The stream never ends; the client has to close it").
GENERATED_IDS_ONLY = {"GET /threads/{thread_id}/stream"}
# Evidence: ../shared/reference (agent-server-api.md §n, captures/…).
# Where the official server answers differently from its own document, LangOpen answers as the
# official server does; the document the checks use gets exactly that difference added, with the
# evidence, and nothing else. Status codes the official server sends that its document omits:
EXTRA_STATUSES: dict[str, dict[str, str]] = {
    # agent-server-api.md §1 "Where the spec and the live server disagree": deletes answer 204
    "DELETE /threads/{thread_id}": {"204": "§1: DELETE on thread, assistant, run, cron → 204"},
    "DELETE /assistants/{assistant_id}": {"204": "§1: DELETE on thread, assistant, run, cron → 204"},
    "DELETE /threads/{thread_id}/runs/{run_id}": {"204": "§1: DELETE on a run → 204"},
    "DELETE /runs/crons/{cron_id}": {"204": "§1: DELETE on a cron → 204"},
    # §1: cancel without wait answers 202 (captures/http/cancel_nowait.txt)
    "POST /threads/{thread_id}/runs/{run_id}/cancel": {"202": "§1 + captures/http/cancel_nowait.txt"},
    # §2.1: "GET /assistants/agent is still a 422 (Invalid assistant ID: must be a UUID)"
    "GET /assistants/{assistant_id}": {"422": "§2.1 Assistant; captures/http/err_422_bad_uuid.txt"},
    # §2.1 Cron: "an empty body is a 400"
    "PATCH /runs/crons/{cron_id}": {"400": "§2.1 Cron: PATCH with an empty body → 400"},
    # §2.1: "POST …/state on a thread that has never run gives 400 (…has no assigned graph ID…)"
    "POST /threads/{thread_id}/state": {
        "400": "§2.1 ThreadState: a thread that never ran has no graph → 400",
        "404": "a missing thread is 404 on every thread route (captures/http/err_404_thread.txt)",
    },
    # A missing thread or assistant is a 404 on every route that reads it, with the message of
    # captures/http/err_404_thread.txt; these operations' documents list no 404.
    **{
        op: {"404": "missing thread/assistant → 404 (captures/http/err_404_thread.txt)"}
        for op in (
            "GET /threads/{thread_id}/state",
            "GET /threads/{thread_id}/state/{checkpoint_id}",
            "POST /threads/{thread_id}/state/checkpoint",
            "GET /threads/{thread_id}/history",
            "POST /threads/{thread_id}/history",
            "POST /threads/{thread_id}/copy",
            "POST /assistants/{assistant_id}/versions",
            "GET /assistants/{assistant_id}/subgraphs/{namespace}",
        )
    },
}
# Values the official server sends that its schemas do not allow: (schema, property, [items,
# property]) may be null.
NULLABLE: dict[tuple[str, ...], str] = {
    # captures/sdk-transcript.json "threads.create": `"values": null` until the first run (§2.1)
    ("Thread", "values"): "sdk-transcript threads.create",
    # the first checkpoint has no parent: langgraph-api 0.16.7 state.py runnable_config_to_checkpoint
    # returns None for a config without checkpoint_id
    ("ThreadState", "parent_checkpoint"): "langgraph-api state.py",
    # a checkpoint id the thread does not have: LangGraph's aget_state answers an empty snapshot
    # (created_at and metadata None), which langgraph-api state.py passes through
    ("ThreadState", "created_at"): "langgraph aget_state, empty snapshot",
    ("ThreadState", "metadata"): "langgraph aget_state, empty snapshot",
    # sdk-transcript "hitl threads.get_state (interrupted)": a task without error, subgraph checkpoint
    # or subgraph state has `"error": null, "checkpoint": null, "state": null`
    ("ThreadState", "tasks", "items", "error"): "sdk-transcript hitl threads.get_state",
    ("ThreadState", "tasks", "items", "checkpoint"): "sdk-transcript hitl threads.get_state",
    ("ThreadState", "tasks", "items", "state"): "sdk-transcript hitl threads.get_state",
}


def official_document(served: dict[str, Any]) -> dict[str, Any]:
    """The served document with the official server's documented departures from it (above)."""
    document = copy.deepcopy(served)
    for label, statuses in EXTRA_STATUSES.items():
        method, path = label.split(" ", 1)
        responses = document["paths"][path][method.lower()]["responses"]
        for status, evidence in statuses.items():
            assert status not in responses, f"{label} documents {status} now: drop the deviation"
            responses[status] = {"description": f"official server's behaviour: {evidence}"}
    schemas = document["components"]["schemas"]
    for (name, *where), _evidence in NULLABLE.items():
        parent = schemas[name]
        for step in where[:-1]:
            parent = parent["properties"][step] if step != "items" else parent["items"]
        parent["properties"][where[-1]] = {"anyOf": [parent["properties"][where[-1]], {"type": "null"}]}
    # captures/http/store_get_missing.txt: a missing item is 200 with the body `null` (§1)
    item = document["paths"]["/store/items"]["get"]["responses"]["200"]["content"]["application/json"]
    item["schema"] = {"anyOf": [item["schema"], {"type": "null"}]}
    # captures/sdk-transcript.json "store.list_namespaces": `{"namespaces": [[...]]}`, not a bare list
    listed = document["paths"]["/store/namespaces"]["post"]["responses"]["200"]["content"]["application/json"]
    listed["schema"] = {
        "type": "object",
        "required": ["namespaces"],
        "properties": {"namespaces": listed["schema"]},
    }
    # captures/http/info.txt: /info has no `metadata` (§1 table, `GET /info`)
    info = document["paths"]["/info"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    info["required"] = [f for f in info["required"] if f != "metadata"]
    # JSON-RPC echoes the request's id, a string or a number: langgraph-api 0.16.7 api/a2a.py answers
    # with `"id": message["id"]` unchanged, and captures/http/mcp_initialize.txt shows `"id":1`. The
    # A2A document types it string only.
    answer = document["paths"]["/a2a/{assistant_id}"]["post"]["responses"]["200"]["content"][
        "application/json"
    ]
    answer["schema"]["properties"]["id"] = {"type": ["string", "integer"]}
    return document


@dataclass
class Counter:
    requests: int = 0
    by_operation: dict[str, int] = field(default_factory=dict)
    failures: dict[tuple[str, str], str] = field(default_factory=dict)
    # operations without any input schemathesis can make invalid (no parameters, a free-form body)
    no_negative_cases: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Resources:
    thread_id: str
    run_id: str
    assistant_id: str
    cron_id: str
    namespace: str = "agent"

    def path_parameters(self, names: set[str]) -> dict[str, str]:
        known = {
            "thread_id": self.thread_id,
            "run_id": self.run_id,
            "assistant_id": self.assistant_id,
            "cron_id": self.cron_id,
            "namespace": self.namespace,
        }
        return {name: known[name] for name in names if name in known}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack of its own: generated requests delete and change real resources (the `agent` system
    assistant among them), which the other modules' shared stack must keep."""
    yield from own_stack(tmp_path_factory)


@pytest.fixture(scope="module")
def resources(stack: Stack) -> Resources:
    assistant_id = str(uuid.uuid5(SYSTEM_NAMESPACE, "agent"))
    with httpx.Client(base_url=stack.url, timeout=30.0) as http:
        thread = http.post("/threads", json={}).raise_for_status().json()
        thread_id = thread["thread_id"]
        http.post(
            f"/threads/{thread_id}/runs/wait", json={"assistant_id": "agent", "input": {"messages": []}}
        ).raise_for_status()
        runs = http.get(f"/threads/{thread_id}/runs").raise_for_status().json()
        cron = (
            http.post(
                "/runs/crons",
                json={"assistant_id": "agent", "schedule": "0 0 1 1 *", "input": {"messages": []}},
            )
            .raise_for_status()
            .json()
        )
        http.put(
            "/store/items", json={"namespace": ["schemathesis"], "key": "k", "value": {"v": 1}}
        ).raise_for_status()
    return Resources(thread_id, runs[0]["run_id"], assistant_id, cron["cron_id"])


@pytest.fixture(scope="module")
def counted_session() -> Iterator[tuple[requests.Session, Counter]]:
    counter = Counter()

    def count(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        counter.requests += 1

    with requests.Session() as session:
        session.hooks["response"].append(count)
        yield session, counter


def run_strategy(
    operation: Any,
    strategy: st.SearchStrategy[Any],
    mode: GenerationMode,
    *,
    label: str,
    base_url: str,
    session: requests.Session,
    counter: Counter,
) -> None:
    @seed(SEED)
    @settings(
        max_examples=EXAMPLES_PER_STRATEGY,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def test(case: Any) -> None:
        before = counter.requests
        try:
            case.call_and_validate(
                base_url=base_url,
                session=session,
                checks=CHECKS,
                timeout=REQUEST_TIMEOUT_SECONDS,
            )
        except (Failure, FailureGroup) as exc:
            failures = exc.exceptions if isinstance(exc, FailureGroup) else [exc]
            for failure in failures:
                key = (label, failure.title)
                counter.failures.setdefault(key, f"{failure.message}\n  {case.as_curl_command()}")
        finally:
            counter.by_operation[label] = counter.by_operation.get(label, 0) + counter.requests - before

    try:
        test()
    except Unsatisfiable:
        if mode is not GenerationMode.NEGATIVE:
            raise
        counter.no_negative_cases.append(label)


@pytest.mark.timeout(600)
def test_generated_requests_get_no_5xx_and_match_the_document(
    stack: Stack,
    resources: Resources,
    counted_session: tuple[requests.Session, Counter],
    record_property: Callable[[str, object], None],
) -> None:
    session, counter = counted_session
    served = httpx.get(f"{stack.url}/openapi.json", timeout=30.0).raise_for_status().json()
    schema = schemathesis.openapi.from_dict(official_document(served))
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()  # the served document must load whole
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        strategies = [
            (operation.as_strategy(GenerationMode.POSITIVE), GenerationMode.POSITIVE),
            (operation.as_strategy(GenerationMode.NEGATIVE), GenerationMode.NEGATIVE),
        ]
        names = {p.name for p in operation.path_parameters}
        if names and label not in GENERATED_IDS_ONLY:
            fixed = resources.path_parameters(names)
            strategies.append(
                (
                    operation.as_strategy(GenerationMode.POSITIVE, path_parameters=fixed),
                    GenerationMode.POSITIVE,
                )
            )
        for strategy, mode in strategies:
            run_strategy(
                operation, strategy, mode, label=label, base_url=stack.url, session=session, counter=counter
            )
    # shown in the terminal summary (tests/e2e/conftest.py) and in JUnit XML
    record_property("schemathesis_requests", counter.requests)
    record_property("schemathesis_operations", len(counter.by_operation))
    record_property("schemathesis_no_negative_cases", ", ".join(counter.no_negative_cases))
    report = "\n".join(
        f"{op} — {title}:\n  {detail}" for (op, title), detail in sorted(counter.failures.items())
    )
    assert not counter.failures, f"{len(counter.failures)} failures:\n{report}"
    assert counter.requests >= MIN_REQUESTS, counter.by_operation

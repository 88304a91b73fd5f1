"""The store side of the end-to-end test app: a graph whose node writes, reads and searches the
deployment's store (`memory`), and a deterministic embedding function for `store.index` (`embed`):
no model, no download, the same vector for the same text every time."""

from __future__ import annotations

import math
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

VOCABULARY = ("cat", "dog", "fish", "bird")
BASELINE = 0.05  # keeps every vector non-zero, so cosine similarity is always defined


def _vector(text: str) -> list[float]:
    lowered = text.lower()
    raw = [lowered.count(word) + BASELINE for word in VOCABULARY]
    norm = math.sqrt(sum(v * v for v in raw))
    return [v / norm for v in raw]


def embed(texts: list[str]) -> list[list[float]]:
    """One unit vector per text: how often it names each animal of VOCABULARY (dims 4)."""
    return [_vector(text) for text in texts]


class MemoryState(TypedDict, total=False):
    namespace: list[str]
    key: str
    value: dict[str, Any]
    read_key: str
    query: str
    found: dict[str, Any] | None
    search_keys: list[str]


async def remember(state: MemoryState, runtime: Runtime[None]) -> dict[str, Any]:
    """Put `value` under `key`, read `read_key`, search with `query`; all in `namespace`."""
    store = runtime.store
    assert store is not None, "the function service gives every graph its store"
    namespace = tuple(state["namespace"])
    if "value" in state:
        await store.aput(namespace, state["key"], state["value"])
    update: dict[str, Any] = {}
    if "read_key" in state:
        item = await store.aget(namespace, state["read_key"])
        update["found"] = item.value if item is not None else None
    if "query" in state:
        hits = await store.asearch(namespace, query=state["query"], limit=10)
        update["search_keys"] = [hit.key for hit in hits]
    return update


builder = StateGraph(MemoryState)
builder.add_node("remember", remember)
builder.add_edge(START, "remember")
builder.add_edge("remember", END)
graph = builder.compile()

"""Benchmark workload: a 2-node StateGraph with no LLM (graph id ``agent``).

``step_a`` adds 1 to ``n`` and appends ``"a"`` to ``trace``; ``step_b`` doubles ``n`` and appends
``"b"``. Input ``{"n": i}`` therefore ends as ``{"n": (i + 1) * 2, "trace": ["a", "b"]}``.
The same file is served by LangOpen and by the official ``langgraph dev`` server.
"""

from __future__ import annotations

import operator
from typing import Annotated, TypedDict

from langgraph.graph import END, START, StateGraph


class State(TypedDict, total=False):
    n: int
    trace: Annotated[list[str], operator.add]


async def step_a(state: State) -> State:
    return {"n": state.get("n", 0) + 1, "trace": ["a"]}


async def step_b(state: State) -> State:
    return {"n": state.get("n", 0) * 2, "trace": ["b"]}


builder = StateGraph(State)
builder.add_node("step_a", step_a)
builder.add_node("step_b", step_b)
builder.add_edge(START, "step_a")
builder.add_edge("step_a", "step_b")
builder.add_edge("step_b", END)
graph = builder.compile()

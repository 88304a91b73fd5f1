"""A one-node graph, so the custom-routes app has something to serve beside its routes."""

from __future__ import annotations

from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph


class State(TypedDict, total=False):
    n: int


def bump(state: State) -> dict[str, Any]:
    return {"n": state.get("n", 0) + 1}


builder = StateGraph(State)
builder.add_node("bump", bump)
builder.add_edge(START, "bump")
builder.add_edge("bump", END)
graph = builder.compile()

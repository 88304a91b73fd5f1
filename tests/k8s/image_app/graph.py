"""The app baked into the function image by tests/k8s/test_image.py: one graph whose output shows it ran
inside the image (the app's own requirement `toolz` is importable) and that can be made slow (`delay`,
seconds) to test draining on SIGTERM."""

from __future__ import annotations

import asyncio
from typing import TypedDict

import toolz  # type: ignore[import-not-found]  # installed only inside the test image
from langgraph.graph import END, START, StateGraph


class State(TypedDict, total=False):
    items: list[str]
    delay: float
    toolz: str


async def work(state: State) -> State:
    await asyncio.sleep(state.get("delay", 0.0))
    return {"items": [*state.get("items", []), "done"], "toolz": toolz.__version__}


builder = StateGraph(State)
builder.add_node("work", work)
builder.add_edge(START, "work")
builder.add_edge("work", END)
pipeline = builder.compile()

"""Graphs of the end-to-end test app (no LLM): the shapes the official server was captured with,
plus graphs for failures, cancellation, crashes, resumable streams, config/context passthrough
(`config_echo`) and a human-in-the-loop graph whose resumed step is slow (`hitl_slow`)."""

from __future__ import annotations

import asyncio
import operator
import os
import signal
from typing import Annotated, Any, TypedDict

from langchain_core.messages import AIMessage
from langgraph.config import get_config, get_stream_writer
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import interrupt


class State(TypedDict, total=False):
    items: Annotated[list[str], operator.add]
    delay: float
    crash_once: str


async def step_a(state: State) -> dict[str, Any]:
    writer = get_stream_writer()
    writer({"progress": "a-start"})
    await asyncio.sleep(state.get("delay") or 0)
    return {"items": ["a"]}


async def step_b(state: State) -> dict[str, Any]:
    await asyncio.sleep(state.get("delay") or 0)
    marker = state.get("crash_once")
    # Blocking file calls on purpose: the process kills itself right after, nothing else runs.
    if marker and not os.path.exists(marker):  # noqa: ASYNC240
        # Simulates the function process dying mid-run (kill -9), once.
        with open(marker, "w") as fh:  # noqa: ASYNC230
            fh.write("crashed")
        os.kill(os.getpid(), signal.SIGKILL)
    return {"items": ["b"]}


builder = StateGraph(State)
builder.add_node("step_a", step_a)
builder.add_node("step_b", step_b)
builder.add_edge(START, "step_a")
builder.add_edge("step_a", "step_b")
builder.add_edge("step_b", END)
graph = builder.compile()


def ask(state: State) -> dict[str, Any]:
    answer = interrupt({"question": "approve?", "items": state.get("items", [])})
    return {"items": [f"answer:{answer}"]}


def finish(state: State) -> dict[str, Any]:
    return {"items": ["done"]}


hb = StateGraph(State)
hb.add_node("ask", ask)
hb.add_node("finish", finish)
hb.add_edge(START, "ask")
hb.add_edge("ask", "finish")
hb.add_edge("finish", END)
hitl = hb.compile()


def echo_node(state: MessagesState) -> dict[str, Any]:
    last = state["messages"][-1]
    text = last.content if isinstance(last.content, str) else str(last.content)
    return {"messages": [AIMessage(content=f"echo: {text}")]}


eb = StateGraph(MessagesState)
eb.add_node("echo", echo_node)
eb.add_edge(START, "echo")
eb.add_edge("echo", END)
echo = eb.compile()


pb = StateGraph(State)
pb.add_node("child", graph)
pb.add_edge(START, "child")
pb.add_edge("child", END)
nested = pb.compile()


def explode(state: State) -> dict[str, Any]:
    raise ValueError("boom: " + ",".join(state.get("items", [])))


fb = StateGraph(State)
fb.add_node("explode", explode)
fb.add_edge(START, "explode")
fb.add_edge("explode", END)
failing = fb.compile()


class BurstState(TypedDict, total=False):
    count: int
    burst: int
    pause: float
    sent: int


async def burst(state: BurstState) -> dict[str, Any]:
    """Emits `count` custom events in bursts of `burst`, pausing `pause` seconds between bursts."""
    writer = get_stream_writer()
    count, size, pause = state.get("count", 500), state.get("burst", 50), state.get("pause", 0.05)
    for i in range(count):
        writer({"i": i})
        if (i + 1) % size == 0:
            await asyncio.sleep(pause)
    return {"sent": count}


bb = StateGraph(BurstState)
bb.add_node("burst", burst)
bb.add_edge(START, "burst")
bb.add_edge("burst", END)
bursts = bb.compile()


class SeenState(TypedDict, total=False):
    seen: dict[str, Any]


class SeenContext(TypedDict, total=False):
    model: str
    temperature: float


def inspect(state: SeenState, runtime: Runtime[SeenContext]) -> dict[str, Any]:
    """Returns what the run's config and context looked like from inside a node."""
    config = get_config()
    configurable = config.get("configurable") or {}
    metadata = config.get("metadata") or {}
    return {
        "seen": {
            "configurable": {
                key: configurable.get(key)
                for key in ("user_setting", "thread_id", "run_id", "assistant_id", "graph_id")
            },
            "tags": list(config.get("tags") or []),
            "metadata": {key: metadata.get(key) for key in ("run_attempt", "purpose")},
            "context": dict(runtime.context or {}),
        }
    }


cb = StateGraph(SeenState, context_schema=SeenContext)
cb.add_node("inspect", inspect)
cb.add_edge(START, "inspect")
cb.add_edge("inspect", END)
config_echo = cb.compile()


async def slow_finish(state: State) -> dict[str, Any]:
    await asyncio.sleep(state.get("delay") or 0)
    return {"items": ["done"]}


hsb = StateGraph(State)
hsb.add_node("ask", ask)
hsb.add_node("finish", slow_finish)
hsb.add_edge(START, "ask")
hsb.add_edge("ask", "finish")
hsb.add_edge("finish", END)
hitl_slow = hsb.compile()

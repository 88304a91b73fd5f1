"""Real LangGraph graphs for the run-execution tests (no LLM, no network).

`agent`, `hitl` and `nested` mirror the graphs the official server was captured with
(/work/shared/reference/captures/app/graph.py); `delay` in the input makes `agent` slow enough to
cancel or time out. `echo` streams real message chunks from langchain's GenericFakeChatModel so
both messages modes have something to accumulate; `echo_plain` is the captured `echo`, whose node
returns a whole message. `failing` raises a TypeError (its message is
public), `secret` an exception type whose message the server must hide. `ctx` reads the run's
Runtime context; `made` is built by a factory per request, `broken` by one that raises, and
`uncompiled` is a StateGraph.
"""

from __future__ import annotations

import asyncio
import operator
from dataclasses import dataclass
from typing import Annotated, Any, TypedDict

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import interrupt


class State(TypedDict, total=False):
    items: Annotated[list[str], operator.add]
    delay: float


async def step_a(state: State) -> dict[str, Any]:
    writer = get_stream_writer()
    writer({"progress": "a-start"})
    await asyncio.sleep(state.get("delay") or 0)
    return {"items": ["a"]}


async def step_b(state: State) -> dict[str, Any]:
    await asyncio.sleep(state.get("delay") or 0)
    return {"items": ["b"]}


def pipeline() -> StateGraph[State, None, State, State]:
    builder = StateGraph(State)
    builder.add_node("step_a", step_a)
    builder.add_node("step_b", step_b)
    builder.add_edge(START, "step_a")
    builder.add_edge("step_a", "step_b")
    builder.add_edge("step_b", END)
    return builder


agent = pipeline().compile()
uncompiled = pipeline()


def make_graph(config: RunnableConfig) -> Any:
    """A factory: the graph's name carries the assistant id the request was made for."""
    name = f"made-for-{config['configurable'].get('assistant_id', 'nobody')}"
    return pipeline().compile(name=name)


made = make_graph


def broken(config: RunnableConfig) -> Any:
    """A factory that fails the way user code does."""
    raise RuntimeError("factory broke")


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


async def echo_node(state: MessagesState) -> dict[str, Any]:
    last = state["messages"][-1]
    text = last.content if isinstance(last.content, str) else str(last.content)
    model = GenericFakeChatModel(messages=iter([AIMessage(content=f"echo: {text}")]))
    return {"messages": [await model.ainvoke(state["messages"])]}


eb = StateGraph(MessagesState)
eb.add_node("echo", echo_node)
eb.add_edge(START, "echo")
eb.add_edge("echo", END)
echo = eb.compile()


def echo_plain_node(state: MessagesState) -> dict[str, Any]:
    last = state["messages"][-1]
    text = last.content if isinstance(last.content, str) else str(last.content)
    return {"messages": [AIMessage(content=f"echo: {text}")]}


pe = StateGraph(MessagesState)
pe.add_node("echo", echo_plain_node)
pe.add_edge(START, "echo")
pe.add_edge("echo", END)
echo_plain = pe.compile()  # the captured `echo`: a node returns a whole message, no model streams


pb = StateGraph(State)
pb.add_node("child", agent)
pb.add_edge(START, "child")
pb.add_edge("child", END)
nested = pb.compile()


def concat(state: State) -> dict[str, Any]:
    return {"items": state["items"] + "x"}  # type: ignore[operator]  # the failure under test


fb = StateGraph(State)
fb.add_node("concat", concat)
fb.add_edge(START, "concat")
fb.add_edge("concat", END)
failing = fb.compile()


class VaultError(Exception):
    """A failure whose message must not reach clients."""


def leak(state: State) -> dict[str, Any]:
    raise VaultError("password=hunter2")


sb = StateGraph(State)
sb.add_node("leak", leak)
sb.add_edge(START, "leak")
sb.add_edge("leak", END)
secret = sb.compile()


@dataclass
class Tag:
    tag: str


def tag_node(state: State, runtime: Runtime[Tag]) -> dict[str, Any]:
    return {"items": [f"tag:{runtime.context.tag}"]}


cb = StateGraph(State, context_schema=Tag)
cb.add_node("tag_node", tag_node)
cb.add_edge(START, "tag_node")
cb.add_edge("tag_node", END)
ctx = cb.compile()

"""Real LangGraph graphs for the state and graph-info tests (no LLM, no network).

`pipeline`, `hitl`, `echo` and `nested` mirror the graphs the official server was captured with
(/work/shared/reference/captures/app/graph.py), so answers can be compared with the captures. The
others add what those lack: an interrupt inside a subgraph, three levels of nesting, a pydantic
state with separate input/output/context schemas, a conditional edge, and a node that fails.
`PipelineState` is a `typing.TypedDict` on purpose: pydantic refuses those on Python < 3.12.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Annotated, Any, Literal, NotRequired, Required, TypedDict

import typing_extensions
from langchain_core.messages import AIMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.types import interrupt
from pydantic import BaseModel, Field


class PipelineState(TypedDict, total=False):
    items: Annotated[list[str], operator.add]
    delay: float


def step_a(state: PipelineState) -> PipelineState:
    return {"items": ["a"]}


def step_b(state: PipelineState) -> PipelineState:
    return {"items": ["b"]}


def ask(state: PipelineState) -> PipelineState:
    answer = interrupt({"question": "approve?", "items": state.get("items", [])})
    return {"items": [f"answer:{answer}"]}


def finish(state: PipelineState) -> PipelineState:
    return {"items": ["done"]}


def prepare(state: PipelineState) -> PipelineState:
    return {"items": ["pre"]}


def explode(state: PipelineState) -> PipelineState:
    raise ValueError("boom")


_pb = StateGraph(PipelineState)
_pb.add_node("step_a", step_a)
_pb.add_node("step_b", step_b)
_pb.add_edge(START, "step_a")
_pb.add_edge("step_a", "step_b")
_pb.add_edge("step_b", END)
pipeline = _pb.compile()

_hb = StateGraph(PipelineState)
_hb.add_node("ask", ask)
_hb.add_node("finish", finish)
_hb.add_edge(START, "ask")
_hb.add_edge("ask", "finish")
_hb.add_edge("finish", END)
hitl = _hb.compile()


def echo_node(state: MessagesState) -> dict[str, list[AIMessage]]:
    last = state["messages"][-1]
    return {"messages": [AIMessage(content=f"echo: {last.content}")]}


_eb = StateGraph(MessagesState)
_eb.add_node("echo", echo_node)
_eb.add_edge(START, "echo")
_eb.add_edge("echo", END)
echo = _eb.compile()

# `pipeline` as the node `child` (the captures' `nested`)
_nb = StateGraph(PipelineState)
_nb.add_node("child", pipeline)
_nb.add_edge(START, "child")
_nb.add_edge("child", END)
nested = _nb.compile()

# an interrupt raised inside the subgraph `inner`, after the parent's own node `prepare`
_nhb = StateGraph(PipelineState)
_nhb.add_node("prepare", prepare)
_nhb.add_node("inner", hitl)
_nhb.add_edge(START, "prepare")
_nhb.add_edge("prepare", "inner")
_nhb.add_edge("inner", END)
nested_hitl = _nhb.compile()

# three levels: deep → middle (= nested) → child (= pipeline)
_db = StateGraph(PipelineState)
_db.add_node("middle", nested)
_db.add_edge(START, "middle")
_db.add_edge("middle", END)
deep = _db.compile()


class TopicInput(BaseModel):
    topic: str = Field(description="what to write about")


class TopicOutput(BaseModel):
    notes: list[str]


class TopicState(BaseModel):
    topic: str
    notes: Annotated[list[str], operator.add] = Field(default_factory=list)


@dataclass
class WriterContext:
    model: str = "small"
    temperature: float = 0.0


def write(state: TopicState) -> dict[str, list[str]]:
    return {"notes": [f"about {state.topic}"]}


_tb = StateGraph(TopicState, context_schema=WriterContext, input_schema=TopicInput, output_schema=TopicOutput)
_tb.add_node("write", write)
_tb.add_edge(START, "write")
_tb.add_edge("write", END)
topic = _tb.compile()


class TypedContext(TypedDict):
    user: str
    thread_id: NotRequired[str]  # the server fills it in, so the config schema leaves it out


def route(state: PipelineState) -> Literal["step_a", "step_b"]:
    return "step_a" if not state.get("items") else "step_b"


_bb = StateGraph(PipelineState, context_schema=TypedContext)
_bb.add_node("step_a", step_a)
_bb.add_node("step_b", step_b)
_bb.add_conditional_edges(START, route)
_bb.add_edge("step_a", END)
_bb.add_edge("step_b", END)
branching = _bb.compile()

_fb = StateGraph(PipelineState)
_fb.add_node("step_a", step_a)
_fb.add_node("explode", explode)
_fb.add_edge(START, "step_a")
_fb.add_edge("step_a", "explode")
_fb.add_edge("explode", END)
failing = _fb.compile()


def pipeline_twin() -> Any:
    """`pipeline` with its state declared as a `typing_extensions.TypedDict` of the same name: what
    pydantic accepts on every Python, so its schemas are the reference for `pipeline`'s."""

    class PipelineState(typing_extensions.TypedDict, total=False):
        items: Annotated[list[str], operator.add]
        delay: float

    builder = StateGraph(PipelineState)
    builder.add_node("step_a", step_a)
    builder.add_node("step_b", step_b)
    builder.add_edge(START, "step_a")
    builder.add_edge("step_a", "step_b")
    builder.add_edge("step_b", END)
    return builder.compile()


class Opaque:
    """A type pydantic cannot describe in JSON schema."""


class OpaqueState(TypedDict):
    label: str
    handle: NotRequired[Opaque]


def label(state: OpaqueState) -> dict[str, str]:
    return {"label": state["label"].upper()}


_ob = StateGraph(OpaqueState)
_ob.add_node("label", label)
_ob.add_edge(START, "label")
_ob.add_edge("label", END)
opaque = _ob.compile()


class Address(TypedDict):
    city: str


class Profile(TypedDict, total=False):
    """A user profile."""

    name: Required[str]
    addresses: list[Address]
    home: Address | None
    tags: Annotated[dict[str, Address], "kept metadata"]

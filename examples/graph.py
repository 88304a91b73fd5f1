"""Example graphs for `make dev` (`langopen dev --config examples/langgraph.json`): no LLM, no network.

- `pipeline`: two nodes in a row. `clean` collapses whitespace, `shout` upper-cases; each appends its
  name to `steps`. Try it with `stream_mode="updates"` to see one event per node.
- `approval`: human in the loop. `review` interrupts with a question; resume the thread with
  `Command(resume="yes")` (SDK: `command={"resume": "yes"}`) and `act` records the outcome.

The platform supplies the checkpointer and store, so the graphs are compiled without them.
"""

import operator
from typing import Annotated

from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from typing_extensions import TypedDict


class PipelineState(TypedDict, total=False):
    text: str
    steps: Annotated[list[str], operator.add]


def clean(state: PipelineState) -> PipelineState:
    return {"text": " ".join(state.get("text", "").split()), "steps": ["clean"]}


def shout(state: PipelineState) -> PipelineState:
    return {"text": state.get("text", "").upper(), "steps": ["shout"]}


_pipeline = StateGraph(PipelineState)
_pipeline.add_node("clean", clean)
_pipeline.add_node("shout", shout)
_pipeline.add_edge(START, "clean")
_pipeline.add_edge("clean", "shout")
_pipeline.add_edge("shout", END)
pipeline = _pipeline.compile(name="pipeline")


class ApprovalState(TypedDict, total=False):
    request: str
    decision: str
    outcome: str


def review(state: ApprovalState) -> ApprovalState:
    decision = interrupt({"question": f"Approve {state.get('request', '')!r}?", "options": ["yes", "no"]})
    return {"decision": str(decision)}


def act(state: ApprovalState) -> ApprovalState:
    approved = state.get("decision") == "yes"
    return {"outcome": f"done: {state.get('request', '')}" if approved else "declined"}


_approval = StateGraph(ApprovalState)
_approval.add_node("review", review)
_approval.add_node("act", act)
_approval.add_edge(START, "review")
_approval.add_edge("review", "act")
_approval.add_edge("act", END)
approval = _approval.compile(name="approval")

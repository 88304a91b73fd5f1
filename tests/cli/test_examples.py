from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from contracts import app_config

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _load_graphs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("langopen_example_graph", EXAMPLES / "graph.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # as functions.graphs does: type hints resolve through it
    spec.loader.exec_module(module)
    return module


def test_example_config_names_both_graphs() -> None:
    config = app_config.load_app_config(EXAMPLES / "langgraph.json")
    assert config.graphs == {"pipeline": "./graph.py:pipeline", "approval": "./graph.py:approval"}


def test_pipeline_runs_both_nodes_in_order() -> None:
    graphs = _load_graphs()
    result = graphs.pipeline.invoke({"text": "  hello \n  world "})
    assert result == {"text": "HELLO WORLD", "steps": ["clean", "shout"]}


def test_approval_waits_for_a_human_then_acts_on_the_answer() -> None:
    graph = _load_graphs().approval.copy(update={"checkpointer": InMemorySaver()})
    thread = {"configurable": {"thread_id": "t1"}}
    first = graph.invoke({"request": "refund #42"}, thread)
    [pending] = first["__interrupt__"]
    assert pending.value == {"question": "Approve 'refund #42'?", "options": ["yes", "no"]}
    assert "outcome" not in first
    done = graph.invoke(Command(resume="yes"), thread)
    assert done["outcome"] == "done: refund #42"

    other = {"configurable": {"thread_id": "t2"}}
    graph.invoke({"request": "refund #43"}, other)
    assert graph.invoke(Command(resume="no"), other)["outcome"] == "declined"

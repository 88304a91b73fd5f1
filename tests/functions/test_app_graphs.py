"""Loading the graphs of a langgraph.json: path and module specs, compiled and uncompiled graphs,
factories (sync, async, context manager), `env`, and the errors for what cannot be served."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from langgraph.pregel import Pregel

from functions.checkpoints import Persistence, open_persistence
from functions.errors import GraphLoadError, GraphNotFoundError
from functions.graphs import GraphRegistry, load_graph_values
from functions.settings import FunctionSettings
from tests.functions.conftest import CONFIG_PATH

GRAPH_MODULE = """
from contextlib import asynccontextmanager, contextmanager
from typing import TypedDict
from langgraph.graph import START, StateGraph

class S(TypedDict):
    n: int

def bump(state: S) -> S:
    return {"n": state["n"] + 1}

def builder() -> StateGraph:
    b = StateGraph(S)
    b.add_node("bump", bump)
    b.add_edge(START, "bump")
    return b

async def async_factory():
    return builder().compile(name="async-made")

@asynccontextmanager
async def cm_factory(config):
    yield builder().compile(name="cm-" + config["configurable"]["who"])

@contextmanager
def sync_cm_factory():
    yield builder()

def bad_factory():
    return 42

graph = builder().compile()
not_a_graph = 42
"""


def write_app(folder: Path, graphs: dict[str, str], env: Any = None) -> Path:
    (folder / "agent.py").write_text(GRAPH_MODULE)
    config = folder / "langgraph.json"
    config.write_text(json.dumps({"dependencies": ["."], "graphs": graphs, "env": env or {}}))
    return config


@pytest.fixture
async def db(pg_dsn: str) -> AsyncIterator[Persistence]:
    async with open_persistence(pg_dsn, max_size=2) as persistence:
        yield persistence


def test_loads_compiled_uncompiled_factories_and_modules() -> None:
    values = load_graph_values(CONFIG_PATH)

    assert isinstance(values["agent"], Pregel)
    assert isinstance(values["uncompiled"], Pregel)  # compiled at load, once
    assert callable(values["made"])
    assert not isinstance(values["made"], Pregel)
    assert isinstance(values["by_module"], Pregel)
    assert str(CONFIG_PATH.parent.resolve()) in sys.path


def test_env_mapping_is_applied_but_real_env_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANGOPEN_TEST_KEEP", "from-env")
    config = write_app(
        tmp_path, {"g": "./agent.py:builder"}, {"LANGOPEN_TEST_NEW": "x", "LANGOPEN_TEST_KEEP": "y"}
    )
    load_graph_values(config)

    assert os.environ["LANGOPEN_TEST_NEW"] == "x"
    assert os.environ["LANGOPEN_TEST_KEEP"] == "from-env"


def test_env_file_is_applied(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("LANGOPEN_TEST_DOTENV=dotenv-value\n")
    load_graph_values(write_app(tmp_path, {"g": "./agent.py:builder"}, ".env"))

    assert os.environ["LANGOPEN_TEST_DOTENV"] == "dotenv-value"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("./missing.py:graph", "no file"),
        ("./agent.py:nothing_here", "no variable 'nothing_here'"),
        ("./agent.py:not_a_graph", "not a graph"),
        ("no_such_module_anywhere:graph", "importing no_such_module_anywhere failed"),
    ],
)
def test_bad_specs_fail_at_load(tmp_path: Path, spec: str, message: str) -> None:
    with pytest.raises(GraphLoadError, match=message):
        load_graph_values(write_app(tmp_path, {"g": spec}))


def test_unreadable_config_fails_at_load(tmp_path: Path) -> None:
    with pytest.raises(GraphLoadError, match="Cannot read"):
        load_graph_values(tmp_path / "langgraph.json")


async def test_registry_attaches_persistence_and_names_graphs(tmp_path: Path, db: Persistence) -> None:
    values = load_graph_values(write_app(tmp_path, {"plain": "./agent.py:graph"}))
    registry = GraphRegistry(values, checkpointer=db.checkpointer, store=db.store)

    graph = await registry.get_graph("plain", {})
    assert graph.checkpointer is db.checkpointer
    assert graph.store is db.store
    assert graph.name == "plain"
    assert await registry.get_graph("plain", {}) is graph  # copied once, not per request
    with pytest.raises(GraphNotFoundError):
        await registry.get_graph("missing", {})


async def test_factories_sync_async_and_context_managers(tmp_path: Path, db: Persistence) -> None:
    specs = {
        "async": "./agent.py:async_factory",
        "cm": "./agent.py:cm_factory",
        "sync_cm": "./agent.py:sync_cm_factory",
        "bad": "./agent.py:bad_factory",
    }
    registry = GraphRegistry(
        load_graph_values(write_app(tmp_path, specs)), checkpointer=db.checkpointer, store=db.store
    )
    config: Any = {"configurable": {"who": "ann", "thread_id": "t"}}

    made = await registry.get_graph("async", config)
    assert made.name == "async-made"
    assert made.checkpointer is db.checkpointer
    async with registry.open_graph("cm", config) as graph:
        assert graph.name == "cm-ann"
        assert await graph.ainvoke({"n": 1}, config) == {"n": 2}
    async with registry.open_graph("sync_cm", config) as graph:
        assert graph.name == "sync_cm"
    with pytest.raises(GraphLoadError, match="context manager"):
        await registry.get_graph("cm", config)
    with pytest.raises(GraphLoadError, match="returned int"):
        await registry.get_graph("bad", config)


def test_settings_read_the_usual_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h:5432/d")
    monkeypatch.setenv("REDIS_URL", "redis://r:6379/2")
    monkeypatch.setenv("LANGOPEN_CONFIG", str(tmp_path / "lg.json"))
    monkeypatch.setenv("PORT", "9123")
    monkeypatch.setenv("LANGOPEN_FUNCTION_RUN_TIMEOUT_SECONDS", "12.5")
    settings = FunctionSettings()

    assert settings.database_url == "postgresql://u@h:5432/d"
    assert settings.redis_url == "redis://r:6379/2"
    assert settings.config_path == tmp_path / "lg.json"
    assert settings.port == 9123
    assert settings.run_timeout_seconds == 12.5
    assert settings.migrate is False


def test_settings_refuse_a_non_postgres_database_url() -> None:
    with pytest.raises(ValueError, match="postgresql"):
        FunctionSettings(database_url="mysql://nope")

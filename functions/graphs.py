"""The graphs named in `langgraph.json`: imported once at startup, handed out per request.

`load_graph_values` imports user code (config folder on `sys.path`, `env` applied first), compiles
uncompiled `StateGraph`s, and keeps factories as they are. `GraphRegistry` attaches LangGraph's
Postgres checkpointer and store: a compiled graph is copied once and reused by every request (a
Pregel is not mutated by running it); a factory is called per request with that request's config.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import re
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, AbstractContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import StateGraph
from langgraph.pregel import Pregel
from langgraph.store.base import BaseStore

from contracts.app_config import GRAPH_SPEC, AppConfig, load_app_config
from functions.errors import GraphLoadError, GraphNotFoundError

DEFAULT_GRAPH_NAME = "LangGraph"  # what StateGraph.compile() names a graph nobody named


def apply_env(config: AppConfig, base: Path) -> None:
    """Put `env` (a mapping, or a .env file relative to the config) into os.environ; real env wins."""
    values: Mapping[str, str | None] = (
        config.env if isinstance(config.env, dict) else dotenv_values(base / config.env)
    )
    for key, value in values.items():
        if value is not None:
            os.environ.setdefault(key, value)


def _extend_sys_path(config: AppConfig, base: Path) -> None:
    # The config folder plus local `dependencies` ("." or "./src") are importable, as in `langgraph dev`.
    folders = [base, *(base / dep for dep in config.dependencies if (base / dep).is_dir())]
    for folder in folders:
        entry = str(folder.resolve())
        if entry not in sys.path:
            sys.path.insert(0, entry)


def _import_file(path: Path) -> Any:
    name = "langopen_user_" + re.sub(r"\W", "_", str(path.with_suffix("")).lstrip("/"))
    loaded = sys.modules.get(name)
    if loaded is not None and getattr(loaded, "__file__", None) == str(path):
        return loaded
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise GraphLoadError(f"Cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up by name
    spec.loader.exec_module(module)
    return module


def _load_value(graph_id: str, spec: str, base: Path) -> Any:
    match = GRAPH_SPEC.match(spec)
    if match is None:
        raise GraphLoadError(f"graphs.{graph_id}: bad spec {spec!r}")
    location, attr = match["path"], match["attr"]
    try:
        if location.endswith(".py") or "/" in location:
            path = (base / location).resolve()
            if not path.is_file():
                raise GraphLoadError(f"graphs.{graph_id}: no file {path}")
            module = _import_file(path)
        else:
            module = importlib.import_module(location)
    except GraphLoadError:
        raise
    except Exception as exc:
        raise GraphLoadError(f"graphs.{graph_id}: importing {location} failed: {exc!r}") from exc
    if not hasattr(module, attr):
        raise GraphLoadError(f"graphs.{graph_id}: {location} has no variable {attr!r}")
    value = getattr(module, attr)
    if isinstance(value, StateGraph):
        return value.compile()
    if isinstance(value, Pregel) or callable(value):
        return value
    raise GraphLoadError(f"graphs.{graph_id}: {spec} is {type(value).__name__}, not a graph or graph factory")


def load_object(spec: str, base: Path) -> Any:
    """What a `path/to/file.py:name` or `module:name` spec names; files resolve against `base`.

    Imports like a graph spec (call after `load_graph_values`, which puts the config folder on
    sys.path). Raises ImportError, FileNotFoundError or AttributeError naming what is missing.
    """
    match = GRAPH_SPEC.match(spec)
    if match is None:
        raise ImportError(f"expected 'path/to/file.py:name' or 'module:name', got {spec!r}")
    location, attr = match["path"], match["attr"]
    if location.endswith(".py") or "/" in location:
        path = (base / location).resolve()
        if not path.is_file():
            raise FileNotFoundError(f"no file {path}")
        module = _import_file(path)
    else:
        module = importlib.import_module(location)
    if not hasattr(module, attr):
        raise AttributeError(f"{location} has no variable {attr!r}")
    return getattr(module, attr)


def load_graph_values(config_path: Path) -> dict[str, Any]:
    """Import every graph of `config_path`: graph id → compiled graph or factory."""
    try:
        config = load_app_config(config_path)
    except (OSError, ValueError) as exc:
        raise GraphLoadError(f"Cannot read {config_path}: {exc}") from exc
    base = config_path.resolve().parent
    apply_env(config, base)
    _extend_sys_path(config, base)
    return {graph_id: _load_value(graph_id, spec, base) for graph_id, spec in config.graphs.items()}


def _factory_arity(factory: Any) -> int:
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return 0
    required = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return min(len(required), 1)


class GraphRegistry:
    """Graph id → graph with the process's checkpointer and store attached."""

    def __init__(
        self, values: Mapping[str, Any], *, checkpointer: BaseCheckpointSaver[Any], store: BaseStore
    ) -> None:
        self._checkpointer = checkpointer
        self._store = store
        self._static: dict[str, Pregel[Any, Any, Any, Any]] = {}
        self._factories: dict[str, tuple[Any, int]] = {}
        for graph_id, value in values.items():
            if isinstance(value, Pregel):
                self._static[graph_id] = self._attach(graph_id, value)
            else:
                self._factories[graph_id] = (value, _factory_arity(value))

    @property
    def graph_ids(self) -> list[str]:
        return [*self._static, *self._factories]

    def __contains__(self, graph_id: object) -> bool:
        return graph_id in self._static or graph_id in self._factories

    def _attach(self, graph_id: str, graph: Pregel[Any, Any, Any, Any]) -> Pregel[Any, Any, Any, Any]:
        update: dict[str, Any] = {"checkpointer": self._checkpointer, "store": self._store}
        if graph.name == DEFAULT_GRAPH_NAME:
            update["name"] = graph_id  # the official server names unnamed graphs after their id
        return graph.copy(update=update)

    async def _make(self, graph_id: str, config: RunnableConfig) -> Any:
        if graph_id not in self._factories:
            raise GraphNotFoundError(f"Graph '{graph_id}' not found", graph_id=graph_id)
        factory, arity = self._factories[graph_id]
        made = factory(config) if arity else factory()
        return (await made) if inspect.isawaitable(made) else made

    def _checked(self, graph_id: str, made: Any) -> Pregel[Any, Any, Any, Any]:
        if isinstance(made, StateGraph):
            made = made.compile()
        if not isinstance(made, Pregel):
            raise GraphLoadError(f"Factory of graph '{graph_id}' returned {type(made).__name__}, not a graph")
        return self._attach(graph_id, made)

    async def get_graph(self, graph_id: str, config: RunnableConfig) -> Pregel[Any, Any, Any, Any]:
        """The graph for one request (a factory is called with `config`); see `open_graph` for
        factories that are context managers, whose graph lives only inside their block."""
        static = self._static.get(graph_id)
        if static is not None:
            return static
        made = await self._make(graph_id, config)
        if isinstance(made, AbstractAsyncContextManager | AbstractContextManager):
            raise GraphLoadError(f"Factory of graph '{graph_id}' is a context manager; use open_graph()")
        return self._checked(graph_id, made)

    @asynccontextmanager
    async def open_graph(
        self, graph_id: str, config: RunnableConfig
    ) -> AsyncIterator[Pregel[Any, Any, Any, Any]]:
        """The graph for one request; a context-manager factory stays entered until the block exits."""
        static = self._static.get(graph_id)
        if static is not None:
            yield static
            return
        made = await self._make(graph_id, config)
        if isinstance(made, AbstractAsyncContextManager):
            async with made as entered:
                yield self._checked(graph_id, entered)
        elif isinstance(made, AbstractContextManager):
            with made as entered:
                yield self._checked(graph_id, entered)
        else:
            yield self._checked(graph_id, made)

"""Thread state reads and writes through the user's graph: get, history, update, bulk update.

Answers have the official server's ThreadState shape (`values, next, tasks, metadata, created_at,
checkpoint, parent_checkpoint, interrupts, checkpoint_id, parent_checkpoint_id`), built from
LangGraph's `StateSnapshot` and made plain JSON with `functions.serde`. Checkpoint configs are
built the way the official server builds them: `thread_id` plus the request's checkpoint fields,
and `graph_id` on writes so LangGraph copies it into the new checkpoint's metadata. `req.config`
(the assistant's config) only matters for choosing the graph, which the caller has done.

A read at a checkpoint that does not exist answers the empty state, as the official server does;
a write from one raises CheckpointNotFoundError rather than starting a detached history. Invalid
updates (unknown or ambiguous `as_node`, empty supersteps, a reducer refusing the value) raise
BadRequestError with LangGraph's message, which the official server answers with 400.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from langchain_core.runnables import RunnableConfig
from langgraph.errors import EmptyInputError, InvalidUpdateError
from langgraph.pregel import Pregel
from langgraph.types import Command, Interrupt, Send, StateSnapshot, StateUpdate

from contracts.runtime import StateGetRequest, StateHistoryRequest, StateUpdateRequest, StateUpdateResult
from functions import modes
from functions.errors import BadRequestError, CheckpointNotFoundError
from functions.serde import to_jsonable

AnyPregel = Pregel[Any, Any, Any, Any]


def _checkpoint(config: RunnableConfig | None) -> dict[str, Any] | None:
    """`{checkpoint_id, thread_id, checkpoint_ns?, checkpoint_map?}`, or None without an id."""
    return modes.to_checkpoint(cast(dict[str, Any] | None, config))


def _interrupt(interrupt: Interrupt) -> dict[str, Any]:
    # Streams add `response_schema: null`; state and thread objects only carry it when set.
    out: dict[str, Any] = {"id": interrupt.id, "value": interrupt.value}
    schema = getattr(interrupt, "response_schema", None)
    if schema is not None:
        out["response_schema"] = schema
    return out


def _thread_state(snapshot: StateSnapshot) -> dict[str, Any]:
    """A StateSnapshot in the official ThreadState shape (not yet JSON-encoded)."""
    tasks = []
    for task in snapshot.tasks:
        # a subgraph task carries its config, or its whole state when read with subgraphs=True
        nested, checkpoint = None, None
        if isinstance(task.state, StateSnapshot):
            nested = _thread_state(task.state)
        elif task.state is not None:
            checkpoint = task.state["configurable"]
        tasks.append(
            {
                "id": task.id,
                "name": task.name,
                "path": task.path,
                "error": task.error,
                "interrupts": [_interrupt(i) for i in task.interrupts],
                "checkpoint": checkpoint,
                "state": nested,
                "result": task.result,
            }
        )
    config, parent = snapshot.config, snapshot.parent_config
    return {
        "values": snapshot.values,
        "next": snapshot.next,
        "tasks": tasks,
        "metadata": snapshot.metadata,
        "created_at": snapshot.created_at,
        "checkpoint": _checkpoint(config),
        "parent_checkpoint": _checkpoint(parent),
        "interrupts": [_interrupt(i) for i in snapshot.interrupts],
        "checkpoint_id": config["configurable"].get("checkpoint_id") if config else None,
        "parent_checkpoint_id": parent["configurable"]["checkpoint_id"] if parent else None,
    }


def thread_state_json(snapshot: StateSnapshot) -> Any:
    """The ThreadState JSON of `snapshot`, as the official server answers GET …/state."""
    return to_jsonable(_thread_state(snapshot))


def _config(thread_id: str, checkpoint: Mapping[str, Any] | None, **defaults: str) -> RunnableConfig:
    fields = {k: v for k, v in (checkpoint or {}).items() if v is not None}
    return {"configurable": {**defaults, **fields, "thread_id": thread_id}}


def _before(before: Mapping[str, Any] | None) -> RunnableConfig | None:
    # The SDK sends a flat Checkpoint; a RunnableConfig-shaped one is accepted too.
    if not before:
        return None
    if isinstance(before.get("configurable"), Mapping):
        return {"configurable": dict(before["configurable"])}
    return {"configurable": dict(before)}


async def get_state(graph: AnyPregel, req: StateGetRequest) -> Any:
    """ThreadState of the thread's latest checkpoint, or of `req.checkpoint` (namespace and/or id)."""
    snapshot = await graph.aget_state(_config(req.thread_id, req.checkpoint), subgraphs=req.subgraphs)
    return thread_state_json(snapshot)


async def get_history(graph: AnyPregel, req: StateHistoryRequest) -> list[Any]:
    """Past ThreadStates, newest first: at most `limit`, older than `before`, matching `metadata`."""
    config = _config(req.thread_id, req.checkpoint, checkpoint_ns="")
    return [
        thread_state_json(snapshot)
        async for snapshot in graph.aget_state_history(
            config, limit=req.limit, before=_before(req.before), filter=req.metadata
        )
    ]


def _command(raw: Mapping[str, Any]) -> Command[Any]:
    """A run-style `{update, resume, goto}` body as a LangGraph Command."""
    goto = raw.get("goto")
    if goto is not None and not isinstance(goto, list):
        goto = [goto]
    update = raw.get("update")
    if isinstance(update, list) and all(
        isinstance(u, list | tuple) and len(u) == 2 and isinstance(u[0], str) for u in update
    ):
        update = [tuple(u) for u in update]
    try:
        sends = [g if isinstance(g, str) else Send(g["node"], g["input"]) for g in goto] if goto else None
    except (KeyError, TypeError) as exc:
        raise BadRequestError(f"Invalid goto in command: {goto!r}") from exc
    return Command(update=update, goto=sends or (), resume=raw.get("resume"))


def _supersteps(raw: list[dict[str, Any]]) -> list[list[StateUpdate]]:
    supersteps: list[list[StateUpdate]] = []
    for superstep in raw:
        updates = superstep.get("updates")
        if not isinstance(updates, list) or not all(isinstance(u, dict) for u in updates):
            raise BadRequestError("Each superstep needs a list of updates")
        step = []
        for update in updates:
            command = update.get("command")
            if command is not None and not isinstance(command, Mapping):
                raise BadRequestError(f"Invalid command in superstep: {command!r}")
            # LangGraph takes a Command wherever it takes values, though StateUpdate is typed narrower
            values: Any = _command(command) if command else update.get("values")
            step.append(StateUpdate(values, update.get("as_node")))
        supersteps.append(step)
    return supersteps


async def _require_checkpoint(graph: AnyPregel, config: RunnableConfig) -> None:
    if not config["configurable"].get("checkpoint_id"):
        return
    found = await graph.aget_state(config)
    if found.created_at is None:
        raise CheckpointNotFoundError(
            f"Checkpoint {config['configurable']['checkpoint_id']} not found",
            checkpoint=dict(config["configurable"]),
        )


async def update_state(graph: AnyPregel, req: StateUpdateRequest) -> StateUpdateResult:
    """Write `values` as `as_node` (or apply `supersteps` in order) from the latest or given
    checkpoint; answer the new checkpoint plus the thread's resulting values, interrupts and next."""
    config = _config(req.thread_id, req.checkpoint, checkpoint_ns="", graph_id=req.graph_id)
    if req.supersteps is not None and (req.values is not None or req.as_node is not None):
        raise BadRequestError("Give either supersteps or values/as_node, not both")
    await _require_checkpoint(graph, config)
    try:
        if req.supersteps is not None:
            written = await graph.abulk_update_state(config, _supersteps(req.supersteps))
        else:
            written = await graph.aupdate_state(config, req.values, as_node=req.as_node)
    except (InvalidUpdateError, EmptyInputError, ValueError) as exc:
        raise BadRequestError(str(exc)) from exc
    latest = await graph.aget_state({"configurable": {"thread_id": req.thread_id}})
    return StateUpdateResult(
        checkpoint=to_jsonable(written["configurable"]),
        values=to_jsonable(latest.values),
        interrupts={
            task.id: [to_jsonable(_interrupt(i)) for i in task.interrupts]
            for task in latest.tasks
            if task.interrupts
        },
        next=list(latest.next),
    )

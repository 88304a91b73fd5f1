"""From LangGraph stream chunks to the SSE events the official server emits (contract §3.2).

`StreamMapper` is built per attempt from the requested `stream_mode`. It asks LangGraph for a few
more modes than requested — `checkpoints` and `tasks`, the two halves of `debug`, which the
official server always streams — to know the last checkpoint of the root graph and the interrupts
of its tasks (`tracked`), which become the run outcome. Only requested modes produce events:
`messages-tuple` as `messages` ([message, metadata]), legacy `messages` as `messages/metadata`
once per message id then `messages/partial` (chunks accumulated) or `messages/complete`, and with
`stream_subgraphs` a subgraph's events as `<mode>|<node>:<task_id>|...`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from langchain_core.messages import BaseMessage, BaseMessageChunk, message_chunk_to_message

from contracts.runtime import StreamMode

TRACKING_MODES = ("checkpoints", "tasks")


def to_checkpoint(config: dict[str, Any] | None) -> dict[str, Any] | None:
    """`{checkpoint_id, thread_id, checkpoint_ns[, checkpoint_map]}` of a checkpoint's config."""
    configurable = (config or {}).get("configurable") or {}
    if not configurable.get("thread_id") or not configurable.get("checkpoint_id"):
        return None
    checkpoint = {"checkpoint_id": configurable["checkpoint_id"], "thread_id": configurable["thread_id"]}
    if "checkpoint_ns" in configurable:
        checkpoint["checkpoint_ns"] = configurable["checkpoint_ns"] or ""
    if "checkpoint_map" in configurable:
        checkpoint["checkpoint_map"] = configurable["checkpoint_map"]
    return checkpoint


def _debug_checkpoint(payload: dict[str, Any]) -> dict[str, Any]:
    # The server adds `checkpoint`/`parent_checkpoint` and turns a task's subgraph `state` config into
    # `checkpoint`. LangGraph shares `payload` with the `checkpoints` event, so build new dicts.
    tasks = []
    for task in payload.get("tasks", []):
        state = task.get("state")
        if isinstance(state, dict) and state.get("configurable"):
            task = {k: v for k, v in task.items() if k != "state"} | {"checkpoint": state["configurable"]}
        tasks.append(task)
    return payload | {
        "checkpoint": to_checkpoint(payload.get("config")),
        "parent_checkpoint": to_checkpoint(payload.get("parent_config")),
        "tasks": tasks,
    }


class StreamMapper:
    """Maps (namespace, mode, chunk) to (event name, payload) and tracks the root's last checkpoint."""

    def __init__(self, requested: Sequence[StreamMode], *, subgraphs: bool) -> None:
        self.requested = frozenset(requested)
        self.subgraphs = subgraphs
        self.tuples = "messages-tuple" in self.requested
        modes = {m for m in self.requested if m not in ("events", "messages-tuple")}
        if self.tuples:
            modes.add("messages")
        self.graph_modes: list[str] = sorted(modes | set(TRACKING_MODES))
        self.checkpoint: dict[str, Any] | None = None
        self._messages: dict[str | None, BaseMessage] = {}

    def _name(self, mode: str, ns: Sequence[str]) -> str:
        return f"{mode}|{'|'.join(ns)}" if self.subgraphs and ns else mode

    def _track(self, mode: str, chunk: dict[str, Any]) -> None:
        if mode == "checkpoints":
            self.checkpoint = chunk | {"tasks": [dict(t) for t in chunk.get("tasks", ())]}
        elif "result" in chunk and self.checkpoint is not None:
            # A task result (mode "tasks") completes the task entry of the checkpoint it ran from.
            for task in self.checkpoint["tasks"]:
                if task["id"] == chunk["id"]:
                    task.update(chunk)
                    break

    def map(self, ns: Sequence[str], mode: str, chunk: Any) -> Iterator[tuple[str, Any]]:
        if not ns and mode in TRACKING_MODES:
            self._track(mode, chunk)
        if mode == "messages":
            if self.tuples:
                yield self._name("messages", ns), chunk
            elif "messages" in self.requested:
                yield from self._legacy_messages(chunk)
        elif mode in self.requested:
            if mode == "debug" and chunk.get("type") == "checkpoint":
                chunk = chunk | {"payload": _debug_checkpoint(chunk["payload"])}
            yield self._name(mode, ns), chunk

    def _legacy_messages(self, chunk: tuple[BaseMessage, dict[str, Any]]) -> Iterator[tuple[str, Any]]:
        message, metadata = chunk
        seen = self._messages.get(message.id)
        if seen is None:
            self._messages[message.id] = message
            yield "messages/metadata", {message.id: {"metadata": metadata}}
        elif isinstance(seen, BaseMessageChunk) and isinstance(message, BaseMessageChunk):
            self._messages[message.id] = seen + message
        else:
            self._messages[message.id] = message
        # Both carry the whole message so far, as a plain message (type "ai", not "AIMessageChunk").
        name = "messages/partial" if isinstance(message, BaseMessageChunk) else "messages/complete"
        yield name, [message_chunk_to_message(self._messages[message.id])]

    def map_event(self, event: dict[str, Any], root_run_id: str) -> Iterator[tuple[str, Any]]:
        """One `astream_events` v2 event: the root graph's own stream chunks are mapped like
        `astream` output; every other event is forwarded as `events` when requested."""
        if "langsmith:hidden" in (event.get("tags") or ()):
            return
        if event["event"] == "on_chain_stream" and event["run_id"] == root_run_id:
            parts = event["data"]["chunk"]
            ns, mode, chunk = parts if self.subgraphs else ((), *parts)
            yield from self.map(ns, mode, chunk)
        elif "events" in self.requested:
            yield "events", event

    def interrupts(self) -> dict[str, list[dict[str, Any]]]:
        """Task id → [{value, id}] of the tracked checkpoint (the thread's pending interrupts)."""
        tasks = self.checkpoint["tasks"] if self.checkpoint else ()
        return {
            t["id"]: [{"value": i["value"], "id": i["id"]} for i in t["interrupts"]]
            for t in tasks
            if t.get("interrupts")
        }

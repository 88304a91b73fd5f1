"""Executing one attempt of a run: stream the graph, publish its events, report how it ended.

Order of one attempt: watch the run's control channel → publish `metadata` and GET the cancel key
in one round trip, while the graph starts: its first checkpoint read goes out meanwhile and then
waits for the answer (checkpoints.RUN_START), so a cancel sent before dispatch ends the attempt
before the graph's first step, and a Redis failure there fails the attempt as a request → run
the graph in a task, racing it against a cancel message, the dispatcher's disconnect and the
deadline → wait for the run's checkpoint writes (queued without waiting unless durability is
`sync`, docs/decisions/0021) → publish `error` if the graph raised or a write failed → flush every
frame → return the `RunOutcome`.

Outcome status, as the official worker sets a run's status: `success` when the graph returned —
also when it paused on `interrupt()` or interrupt_before/after (the pending interrupts are in
`interrupts`; the thread, not the run, becomes `interrupted`) — `interrupted` with `cancel_action`
when a cancel stopped it, `error` when it raised (after an `error` frame), `timeout` past the
deadline. `values`, `interrupts` and `checkpoint_id` come from the root graph's last checkpoint,
as the official worker takes them.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any, cast

import langgraph.version
from langchain_core.runnables import RunnableConfig
from langgraph.pregel import Pregel
from langgraph.types import Command, Send
from redis.asyncio import Redis

from contracts.frames import ERROR_EVENT, METADATA_EVENT
from contracts.queue import Keys
from contracts.runtime import CancelAction, RunError, RunOutcome, RunRequest
from functions import checkpoints, run_writes
from functions.auth import attach_user
from functions.cancel import ControlListener, parse_action
from functions.errors import USER_INTERRUPT, USER_ROLLBACK, GraphNotFoundError, run_error
from functions.graphs import GraphRegistry
from functions.modes import StreamMapper
from functions.publish import StreamPublisher
from functions.serde import dumps, to_jsonable

logger = logging.getLogger(__name__)

DISCONNECTED = RunError(error="Disconnected", message="The dispatcher disconnected; the attempt was stopped")
Graph = Pregel[Any, Any, Any, Any]


def map_command(command: dict[str, Any]) -> Command[Any]:
    """The run's `command` {update, resume, goto} as a LangGraph Command (goto items may be Sends)."""
    goto = command.get("goto")
    if goto is not None and not isinstance(goto, list):
        goto = [goto]
    update = command.get("update")
    if isinstance(update, list) and all(
        isinstance(t, list | tuple) and len(t) == 2 and isinstance(t[0], str) for t in update
    ):
        update = [tuple(t) for t in update]  # [[channel, value], ...] arrives from JSON as lists
    sends = [g if isinstance(g, str) else Send(g["node"], g["input"]) for g in goto] if goto else ()
    return Command(update=update, goto=sends, resume=command.get("resume"))


def build_config(req: RunRequest) -> RunnableConfig:
    """The run's config with the ids the official server puts in `configurable` and `metadata`, and
    the caller (`langgraph_auth_user`) as the user object nodes read (functions.auth)."""
    configurable = {
        **req.config.get("configurable", {}),
        "run_id": req.run_id,
        "thread_id": req.thread_id,
        "graph_id": req.graph_id,
        "assistant_id": req.assistant_id,
    }
    for key in ("checkpoint_id", "checkpoint_ns", "checkpoint_map"):
        if req.checkpoint and req.checkpoint.get(key) is not None:
            configurable[key] = req.checkpoint[key]
    metadata = {
        **req.config.get("metadata", {}),
        "run_attempt": req.attempt,
        "langgraph_version": langgraph.version.__version__,
    }
    # Later attempts get a fresh callback run id so traces of two attempts never collide.
    root_run = uuid.UUID(req.run_id) if req.attempt == 1 else uuid.uuid4()
    config = {**req.config, "configurable": configurable, "metadata": metadata, "run_id": root_run}
    return cast(RunnableConfig, attach_user(config))


class Executor:
    """Runs attempts with the process's graphs, Redis client and control listener."""

    def __init__(
        self,
        *,
        graphs: GraphRegistry,
        redis: Redis,
        control: ControlListener,
        run_timeout_seconds: float | None = None,
        stream_linger_seconds: float = 0.0,
        redis_timeout_seconds: float = 5.0,
    ) -> None:
        self.graphs = graphs
        self.stream_linger_seconds = stream_linger_seconds
        self.redis_timeout_seconds = redis_timeout_seconds
        self.redis = redis
        self.control = control
        self.run_timeout_seconds = run_timeout_seconds

    def _deadline(self, req: RunRequest) -> float | None:
        limits = [t for t in (req.timeout_seconds, self.run_timeout_seconds) if t is not None]
        return min(limits) if limits else None

    async def run(self, req: RunRequest, *, disconnected: asyncio.Future[Any] | None = None) -> RunOutcome:
        """Execute one attempt; every frame is in Redis when this returns."""
        if req.graph_id not in self.graphs:
            raise GraphNotFoundError(f"Graph '{req.graph_id}' not found", graph_id=req.graph_id)
        keys = Keys(req.redis_prefix)
        mapper = StreamMapper(req.stream_mode, subgraphs=req.stream_subgraphs)
        publisher = StreamPublisher(
            self.redis,
            keys,
            run_id=req.run_id,
            thread_id=req.thread_id,
            resumable=req.stream_resumable,
            ttl_seconds=req.resumable_ttl_seconds,
            linger_seconds=self.stream_linger_seconds,
            timeout_seconds=self.redis_timeout_seconds,
        )
        cancelled = await self.control.watch(keys, req.run_id)
        try:
            metadata = dumps({"run_id": req.run_id, "attempt": req.attempt})
            # The cancel check goes out with the metadata frame while the graph starts; the run's
            # first checkpoint read waits for it (checkpoints.RUN_START), so no step runs before it.
            opening = asyncio.ensure_future(
                publisher.open(METADATA_EVENT, metadata, read_key=keys.run_cancel_key(req.run_id))
            )
            try:
                return await self._supervise(req, mapper, publisher, cancelled, disconnected, opening)
            finally:
                if not opening.done():
                    opening.cancel()
                    await asyncio.wait({opening})
        finally:
            self.control.unwatch(keys, req.run_id)
            await publisher.aclose()

    async def _supervise(
        self,
        req: RunRequest,
        mapper: StreamMapper,
        publisher: StreamPublisher,
        cancelled: asyncio.Future[CancelAction],
        disconnected: asyncio.Future[Any] | None,
        opening: asyncio.Future[bytes | None],
    ) -> RunOutcome:
        start = _start_gate(opening)
        # With durability `sync` LangGraph waits for each checkpoint write before the next step, so
        # only then does each write wait for its statement (docs/decisions/0021).
        pending = run_writes.Pending() if req.durability != "sync" else None
        token = run_writes.PENDING.set(pending)  # the run's task starts with both
        start_token = checkpoints.RUN_START.set(start)
        try:
            task = asyncio.create_task(self._stream(req, mapper, publisher), name=f"run {req.run_id}")
        finally:
            checkpoints.RUN_START.reset(start_token)
            run_writes.PENDING.reset(token)
        waiters: set[asyncio.Future[Any]] = {task, cancelled}
        if disconnected is not None:
            waiters.add(disconnected)
        try:
            done, _ = await asyncio.wait(
                waiters, timeout=self._deadline(req), return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            if not task.done():
                task.cancel()
                await asyncio.wait({task})
            publisher.flush()  # the graph's frames are all queued: on their way while the writes settle
            # However it ended, the run's checkpoints are written before the router hears of it.
            unwritten = await _settle(pending)
        await asyncio.wait({opening})
        check = opening.exception()
        action = parse_action(opening.result()) if check is None else None
        if check is not None or action is not None:
            # The run took no step: its first read waited for the check, and failed with
            # StoppedBeforeStartError (retrieved here, so that nothing logs it as lost).
            if not task.cancelled():
                task.exception()
            if check is not None:
                raise check  # Redis failed: the attempt fails as a request, the dispatcher retries
            assert action is not None
            return self._stopped(req, mapper, action)
        if task in done:
            failure = (
                task.exception() if not task.cancelled() else asyncio.CancelledError("run task cancelled")
            )
            failure = failure or unwritten
            if failure is None:
                return self._outcome(req, mapper, "success")
            error = run_error(failure)
            logger.warning("run %s attempt %d failed: %s", req.run_id, req.attempt, error.error)
            publisher.put(ERROR_EVENT, dumps(error.model_dump()))
            return self._outcome(req, mapper, "error", error=error)
        if cancelled in done:
            return self._stopped(req, mapper, cancelled.result())
        if disconnected is not None and disconnected in done:
            return self._outcome(req, mapper, "error", error=DISCONNECTED)
        timeout = RunError(error="TimeoutError", message=f"Run timed out after {self._deadline(req)} seconds")
        return self._outcome(req, mapper, "timeout", error=timeout)

    async def _stream(self, req: RunRequest, mapper: StreamMapper, publisher: StreamPublisher) -> None:
        config = build_config(req)
        async with self.graphs.open_graph(req.graph_id, config) as graph:
            graph_input = await self._input(graph, req, config)
            kwargs: dict[str, Any] = {
                "context": req.context,
                "stream_mode": mapper.graph_modes,
                "interrupt_before": req.interrupt_before,
                "interrupt_after": req.interrupt_after,
                "durability": req.durability,
                "subgraphs": req.stream_subgraphs,
            }
            if "events" in mapper.requested:
                root_run = str(config["run_id"])
                # Typed as AsyncIterator, but both are async generators; aclosing ends them on cancel.
                events_gen = graph.astream_events(graph_input, config, version="v2", **kwargs)
                async with aclosing(cast(AsyncGenerator[Any], events_gen)) as events:
                    async for event in events:
                        for name, payload in mapper.map_event(cast(dict[str, Any], event), root_run):
                            publisher.put(name, dumps(payload))
            else:
                part_gen = cast(AsyncGenerator[Any], graph.astream(graph_input, config, **kwargs))
                async with aclosing(part_gen) as parts:
                    async for part in parts:
                        ns, mode, chunk = part if req.stream_subgraphs else ((), *part)
                        for name, payload in mapper.map(ns, mode, chunk):
                            publisher.put(name, dumps(payload))

    async def _input(self, graph: Graph, req: RunRequest, config: RunnableConfig) -> Any:
        if req.attempt > 1:
            # A retried attempt continues from the checkpoint its run already wrote, if any, so that
            # finished nodes do not run twice. LangGraph resumes by itself when the latest checkpoint
            # carries this run id, but it would apply a `command` a second time.
            latest = await graph.aget_state({"configurable": {"thread_id": req.thread_id}})
            if (latest.metadata or {}).get("run_id") == req.run_id:
                for key in ("checkpoint_id", "checkpoint_ns", "checkpoint_map"):
                    config["configurable"].pop(key, None)
                return None
        if req.command is not None:
            return map_command(req.command)
        return req.input

    def _stopped(self, req: RunRequest, mapper: StreamMapper, action: CancelAction) -> RunOutcome:
        error = USER_ROLLBACK if action == "rollback" else USER_INTERRUPT
        return self._outcome(req, mapper, "interrupted", error=error, cancel_action=action)

    def _outcome(
        self,
        req: RunRequest,
        mapper: StreamMapper,
        status: Any,
        *,
        error: RunError | None = None,
        cancel_action: CancelAction | None = None,
    ) -> RunOutcome:
        checkpoint = mapper.checkpoint
        configurable = ((checkpoint or {}).get("config") or {}).get("configurable") or {}
        return RunOutcome(
            run_id=req.run_id,
            attempt=req.attempt,
            status=status,
            values=to_jsonable(checkpoint["values"]) if checkpoint else None,
            interrupts=to_jsonable(mapper.interrupts()),
            error=error,
            cancel_action=cancel_action,
            checkpoint_id=configurable.get("checkpoint_id"),
            next=list((checkpoint or {}).get("next") or []),
        )


async def _settle(pending: run_writes.Pending | None) -> Exception | None:
    """Wait for a run's queued checkpoint writes; the first one that failed, if any."""
    if pending is None:
        return None
    try:
        await pending.settle()
    except Exception as exc:
        logger.warning("a checkpoint write of a run failed: %r", exc)
        return exc
    return None


def _start_gate(opening: asyncio.Future[bytes | None]) -> asyncio.Future[bool]:
    """checkpoints.RUN_START for a run whose cancel check is `opening`: True when no cancel was
    stored, False when one was or the check failed (the executor then raises its error)."""
    start: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    def opened(done: asyncio.Future[bytes | None]) -> None:
        if done.cancelled():
            start.cancel()
        else:
            start.set_result(done.exception() is None and parse_action(done.result()) is None)

    opening.add_done_callback(opened)
    return start

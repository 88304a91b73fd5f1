"""Thread runs: create (background, stream, wait), list, get, delete, join, join stream, cancel."""

from __future__ import annotations

import asyncio
import json
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request
from starlette.responses import Response

from contracts import frames, ids
from router import errors
from router.api import deps, responses
from router.api import stream as relay
from router.api.auth import Auditor, AuditorDep, PathPrefixDep
from router.api.deps import ServicesDep, check_uuid
from router.models import is_terminal
from router.queue import signals
from router.queue.broker import Subscription
from router.requests import RunCreateStateful, RunsCancel
from router.services import runs as runs_service
from router.services.context import Services
from router.store import runs as runs_store

router = APIRouter(tags=["Thread Runs"], dependencies=[deps.InputChecked])

INVALID_LAST_EVENT_ID = "Invalid last-event-id: must be a valid Redis stream ID"

RunSelectField = Literal[
    "run_id",
    "thread_id",
    "assistant_id",
    "created_at",
    "updated_at",
    "status",
    "metadata",
    "kwargs",
    "multitask_strategy",
    "langsmith_session_name",
]


def _finished_check(services: Services, thread_id: str, run_id: str) -> relay.IsFinished:
    async def is_finished() -> bool:
        row = await runs_store.get(services.pool, run_id, thread_id)
        return row is None or is_terminal(row["status"])

    return is_finished


def _output_fetch(services: Services, thread_id: str, run_id: str) -> Any:
    async def fetch() -> Any:
        return await runs_service.final_output(services, thread_id, run_id)

    return fetch


async def create_subscribed(
    services: Services,
    body: Any,
    thread_id: str | None,
    *,
    run_id: str | None = None,
    local: bool = False,
) -> tuple[runs_service.CreatedRun, AbstractAsyncContextManager[Subscription], Subscription]:
    """Subscribe to a new run's channel while creating the run; the run commits only once the
    subscription is confirmed, so no frame can be missed. The caller closes the subscription
    (`relay.streaming` does, for a response body).

    `local`: the caller only waits for the done frame (see Broker.deliver_local). A run this replica
    dispatches itself publishes its done frame in this process, so its waiter never subscribes on
    Redis (runs_service.create's `done_only`); any other run's waiter subscribes before the run
    commits, or, when the thread turned out to be busy, right after (the run then waits for the
    thread's current run first). Should another replica finish a run started here (its lease lost),
    the waiter sees it end at its next keep-alive check, as it would any missed frame."""
    run_id = run_id or str(ids.uuid7())
    channel = services.keys.run_stream_channel(run_id)
    if local:
        return await _create_waiting(services, body, thread_id, run_id, channel)
    subscription = services.broker.subscribe(channel)
    entered = asyncio.ensure_future(subscription.__aenter__())
    try:
        created = await runs_service.create(
            services, body, thread_id=thread_id, run_id=run_id, subscribe=lambda: entered
        )
        sub = await asyncio.wait_for(asyncio.shield(entered), runs_service.SUBSCRIBE_TIMEOUT_SECONDS)
    except BaseException:
        entered.cancel()
        await asyncio.wait({entered})
        if not entered.cancelled() and entered.exception() is None:
            await subscription.__aexit__(None, None, None)
        raise
    return created, subscription, sub


async def _create_waiting(
    services: Services, body: Any, thread_id: str | None, run_id: str, channel: str
) -> tuple[runs_service.CreatedRun, AbstractAsyncContextManager[Subscription], Subscription]:
    subscription = services.broker.subscribe(channel, local=True, listen=False)
    sub = await subscription.__aenter__()  # no Redis yet: registers the local subscriber
    try:
        created = await runs_service.create(
            services,
            body,
            thread_id=thread_id,
            run_id=run_id,
            subscribe=lambda: services.broker.listen(sub),
            done_only=True,
        )
        if not created.started_here:
            listening = services.broker.listen(sub)
            await asyncio.wait_for(listening, runs_service.SUBSCRIBE_TIMEOUT_SECONDS)
    except BaseException:
        await subscription.__aexit__(None, None, None)
        raise
    return created, subscription, sub


def _disconnect_action(services: Services, created: runs_service.CreatedRun, request: Request) -> Any:
    if created.on_disconnect != "cancel":
        return None
    return _cancel_action(services, created.run["thread_id"], created.run["run_id"], request)


async def stream_new_run(
    services: Services, body: Any, thread_id: str | None, *, prefix: str, request: Request
) -> Response:
    """Create a run and stream it (shared with stateless runs); `prefix`: see relay.run_headers."""
    created, subscription, sub = await create_subscribed(services, body, thread_id)
    tid, run_id = created.run["thread_id"], created.run["run_id"]
    body_iter = relay.sse_frames(
        sub,
        heartbeat=services.settings.heartbeat_seconds,
        replayed=[],
        after=None,
        modes=None,
        is_finished=_finished_check(services, tid, run_id),
    )
    return relay.streaming(
        body_iter,
        subscription,
        media_type=relay.SSE_MEDIA_TYPE,
        headers=relay.run_headers(thread_id, run_id, kind="stream", prefix=prefix),
        on_disconnect=_disconnect_action(services, created, request),
    )


def _wait_response(
    services: Services,
    subscription: AbstractAsyncContextManager[Subscription],
    sub: Subscription,
    thread_id: str,
    run_id: str,
    *,
    on_disconnect: Any,
    prefix: str,
) -> Response:
    """Newline keep-alives until the run ends, then its output (wait and join)."""
    body_iter = relay.wait_output(
        sub,
        heartbeat=services.settings.heartbeat_seconds,
        fetch_output=_output_fetch(services, thread_id, run_id),
        is_finished=_finished_check(services, thread_id, run_id),
    )
    return relay.streaming(
        body_iter,
        subscription,
        media_type="application/json",
        headers=relay.run_headers(thread_id, run_id, kind="join", prefix=prefix),
        on_disconnect=on_disconnect,
    )


async def wait_new_run(
    services: Services, body: Any, thread_id: str | None, *, prefix: str, request: Request
) -> Response:
    """Create a run and answer with its output once it ends (shared with stateless runs)."""
    created, subscription, sub = await create_subscribed(services, body, thread_id, local=True)
    tid, run_id = created.run["thread_id"], created.run["run_id"]
    on_disconnect = _disconnect_action(services, created, request)
    return _wait_response(
        services, subscription, sub, tid, run_id, on_disconnect=on_disconnect, prefix=prefix
    )


@router.post("/threads/{thread_id}/runs")
async def create_run(
    thread_id: str, body: RunCreateStateful, services: ServicesDep, prefix: PathPrefixDep
) -> Response:
    thread_id = check_uuid(thread_id, "thread")
    created = await runs_service.create(services, body, thread_id=thread_id)
    headers = relay.run_headers(thread_id, created.run["run_id"], kind="stream", prefix=prefix)
    return responses.json(created.run, headers=headers)


@router.post("/threads/{thread_id}/runs/stream")
async def stream_run(
    thread_id: str, body: RunCreateStateful, services: ServicesDep, prefix: PathPrefixDep, request: Request
) -> Response:
    return await stream_new_run(
        services, body, check_uuid(thread_id, "thread"), prefix=prefix, request=request
    )


@router.post("/threads/{thread_id}/runs/wait")
async def wait_run(
    thread_id: str, body: RunCreateStateful, services: ServicesDep, prefix: PathPrefixDep, request: Request
) -> Response:
    return await wait_new_run(services, body, check_uuid(thread_id, "thread"), prefix=prefix, request=request)


@router.get("/threads/{thread_id}/runs")
async def list_runs(
    thread_id: str,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=0)] = 10,
    offset: Annotated[int, Query(ge=0)] = 0,
    status: Literal["pending", "running", "error", "success", "timeout", "interrupted"] | None = None,
    select: Annotated[list[RunSelectField] | None, Query()] = None,
) -> Response:
    thread_id = check_uuid(thread_id, "thread")
    runs = await runs_service.list_for_thread(services, thread_id, status=status, limit=limit, offset=offset)
    if select:
        fields = list(dict.fromkeys(select))
        return responses.json([{field: dict[str, Any](run)[field] for field in fields} for run in runs])
    return responses.json(runs)


@router.get("/threads/{thread_id}/runs/{run_id}")
async def get_run(thread_id: str, run_id: str, services: ServicesDep) -> Response:
    run = await runs_service.get(services, check_uuid(thread_id, "thread"), check_uuid(run_id, "run"))
    return responses.json(run)


@router.delete("/threads/{thread_id}/runs/{run_id}")
async def delete_run(thread_id: str, run_id: str, services: ServicesDep, auditor: AuditorDep) -> Response:
    thread_id, run_id = check_uuid(thread_id, "thread"), check_uuid(run_id, "run")
    await runs_service.delete(services, thread_id, run_id)
    await auditor.record("run.delete", target=run_id, details={"thread_id": thread_id})
    return responses.no_content()


@router.get("/threads/{thread_id}/runs/{run_id}/join")
async def join_run(
    thread_id: str,
    run_id: str,
    services: ServicesDep,
    prefix: PathPrefixDep,
    request: Request,
    cancel_on_disconnect: bool = False,
) -> Response:
    thread_id, run_id = check_uuid(thread_id, "thread"), check_uuid(run_id, "run")
    subscription = services.broker.subscribe(services.keys.run_stream_channel(run_id), local=True)
    sub = await subscription.__aenter__()
    try:
        run = await runs_service.get(services, thread_id, run_id)
        if is_terminal(run["status"]):
            await subscription.__aexit__(None, None, None)
            return responses.json(await runs_service.final_output(services, thread_id, run_id))
    except BaseException:
        await subscription.__aexit__(None, None, None)
        raise
    return _wait_response(
        services,
        subscription,
        sub,
        thread_id,
        run_id,
        on_disconnect=_cancel_action(services, thread_id, run_id, request) if cancel_on_disconnect else None,
        prefix=prefix,
    )


def _cancel_action(services: Services, thread_id: str, run_id: str, request: Request) -> Any:
    """What a client's disconnect does when it asked for `cancel`: interrupt the run, and say so in
    the audit log (the caller of the request that disconnected, reason `client disconnected`)."""

    async def cancel() -> None:
        await runs_service.cancel_one(services, thread_id, run_id, action="interrupt")
        details = {"thread_id": thread_id, "action": "interrupt", "reason": "client disconnected"}
        await Auditor(request).record("run.cancel", target=run_id, details=details)

    return cancel


def parse_stream_modes(value: str | None) -> set[str] | None:
    """One mode, or a JSON array string such as `["values","updates"]`."""
    if not value:
        return None
    if value.startswith("["):
        try:
            parsed = json.loads(value)
        except ValueError as exc:
            raise errors.UnprocessableError(f"stream_mode: invalid JSON list {value!r}") from exc
        return {str(v) for v in parsed}
    return {value}


@router.get("/threads/{thread_id}/runs/{run_id}/stream")
async def join_run_stream(
    thread_id: str,
    run_id: str,
    services: ServicesDep,
    prefix: PathPrefixDep,
    request: Request,
    cancel_on_disconnect: bool = False,
    stream_mode: str | None = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> Response:
    thread_id, run_id = check_uuid(thread_id, "thread"), check_uuid(run_id, "run")
    modes = parse_stream_modes(stream_mode)
    if last_event_id is not None:
        last_event_id = signals.normalize_last_event_id(last_event_id)
        if last_event_id is None:
            raise errors.UnprocessableError(INVALID_LAST_EVENT_ID)
    subscription = services.broker.subscribe(services.keys.run_stream_channel(run_id))
    sub = await subscription.__aenter__()
    try:
        run = await runs_service.get(services, thread_id, run_id)
        replayed: list[frames.Frame] = []
        after = None
        if last_event_id is not None and run["kwargs"].get("resumable"):
            replayed = await signals.replay(services.redis, services.keys.run_events(run_id), last_event_id)
            after = (
                frames.parse_stream_id(replayed[-1].id)
                if replayed and replayed[-1].id
                else (frames.parse_stream_id(last_event_id))
            )
        # A finished run has nothing live left: end after the replay (which stops earlier at its
        # stored done frame), also for a resumable run joined without Last-Event-ID.
        finished_now = is_terminal(run["status"])
    except BaseException:
        await subscription.__aexit__(None, None, None)
        raise

    is_finished = _finished_check(services, thread_id, run_id)
    body_iter = relay.sse_frames(
        sub,
        heartbeat=services.settings.heartbeat_seconds,
        replayed=replayed + ([frames.Frame(frames.DONE_EVENT, b"{}")] if finished_now else []),
        after=after,
        modes=modes,
        is_finished=is_finished,
    )
    return relay.streaming(
        body_iter,
        subscription,
        media_type=relay.SSE_MEDIA_TYPE,
        headers=relay.run_headers(thread_id, run_id, kind="stream", prefix=prefix),
        on_disconnect=_cancel_action(services, thread_id, run_id, request) if cancel_on_disconnect else None,
    )


@router.post("/threads/{thread_id}/runs/{run_id}/cancel")
async def cancel_run(
    thread_id: str,
    run_id: str,
    services: ServicesDep,
    auditor: AuditorDep,
    prefix: PathPrefixDep,
    wait: bool = False,
    action: str = "interrupt",
) -> Response:
    thread_id, run_id = check_uuid(thread_id, "thread"), check_uuid(run_id, "run")
    chosen = (
        "rollback" if action == "rollback" else "interrupt"
    )  # the official server treats others as interrupt
    details = {"thread_id": thread_id, "action": chosen}
    await runs_service.authorize_thread(
        services, thread_id, "update", {"thread_id": thread_id, "run_id": run_id, "action": chosen}
    )
    if not wait:
        await runs_service.cancel_one(services, thread_id, run_id, action=chosen)
        await auditor.record("run.cancel", target=run_id, details=details)
        return Response(status_code=202)
    subscription = services.broker.subscribe(services.keys.run_stream_channel(run_id))
    sub = await subscription.__aenter__()
    try:
        run = await runs_service.cancel_one(services, thread_id, run_id, action=chosen)
        await auditor.record("run.cancel", target=run_id, details=details)
        if run is None or is_terminal(run["status"]):
            await subscription.__aexit__(None, None, None)
            return responses.json(
                {}, headers=relay.run_headers(thread_id, run_id, kind="join", prefix=prefix)
            )
    except BaseException:
        await subscription.__aexit__(None, None, None)
        raise

    async def fetch() -> Any:
        return {}

    async def body() -> Any:
        async for chunk in relay.wait_output(
            sub,
            heartbeat=services.settings.heartbeat_seconds,
            fetch_output=fetch,
            is_finished=_finished_check(services, thread_id, run_id),
        ):
            yield chunk if chunk == b"\n" else relay.FinalChunk(b"{}")

    return relay.streaming(
        body(),
        subscription,
        media_type="application/json",
        headers=relay.run_headers(thread_id, run_id, kind="join", prefix=prefix),
    )


@router.post("/runs/cancel")
async def cancel_runs(
    body: RunsCancel, services: ServicesDep, auditor: AuditorDep, action: str = "interrupt"
) -> Response:
    chosen = "rollback" if action == "rollback" else "interrupt"
    cancelled = await runs_service.cancel_many(services, body, action=chosen)
    await auditor.record(
        "runs.cancel",
        target=body.thread_id,
        details={
            "action": chosen,
            "filter": body.model_dump(exclude_none=True),
            "cancelled": [run_id for _, run_id in cancelled],
        },
    )
    return Response(status_code=204)

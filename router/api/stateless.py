"""Stateless runs: each gets a temporary thread, deleted after the run unless `on_completion=keep`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import RootModel
from starlette.responses import Response

from router.api import deps, responses
from router.api import stream as relay
from router.api.auth import PathPrefixDep
from router.api.deps import ServicesDep
from router.api.runs import stream_new_run, wait_new_run
from router.requests import RunBatchItem, RunCreate
from router.services import runs as runs_service

router = APIRouter(tags=["Stateless Runs"], dependencies=[deps.InputChecked])


class RunBatch(RootModel[list[RunBatchItem]]):
    pass


@router.post("/runs")
async def create_run(body: RunCreate, services: ServicesDep, prefix: PathPrefixDep) -> Response:
    created = await runs_service.create(services, body, thread_id=None)
    headers = relay.run_headers(None, created.run["run_id"], kind="stream", prefix=prefix)
    return responses.json(created.run, headers=headers)


@router.post("/runs/stream")
async def stream_run(
    body: RunCreate, services: ServicesDep, prefix: PathPrefixDep, request: Request
) -> Response:
    return await stream_new_run(services, body, None, prefix=prefix, request=request)


@router.post("/runs/wait")
async def wait_run(
    body: RunCreate, services: ServicesDep, prefix: PathPrefixDep, request: Request
) -> Response:
    return await wait_new_run(services, body, None, prefix=prefix, request=request)


@router.post("/runs/batch")
async def create_batch(body: RunBatch, services: ServicesDep) -> Response:
    runs = [(await runs_service.create(services, item, thread_id=None)).run for item in body.root]
    return responses.json(runs)

"""Crons: create (stateless and for a thread), search, count, get, patch, delete."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body
from starlette.responses import Response

from router.api import deps, responses
from router.api.auth import Auditor, AuditorDep
from router.api.deps import ServicesDep, check_uuid
from router.api.schemas import pagination_headers
from router.models import Cron
from router.requests import CronCount, CronCreate, CronPatch, CronSearch
from router.services import crons as crons_service

router = APIRouter(tags=["Crons"], dependencies=[deps.InputChecked])


def _uuid(value: str, what: str) -> str:
    return str(uuid.UUID(check_uuid(value, what)))


@router.post("/threads/{thread_id}/runs/crons")
async def create_thread_cron(
    thread_id: str, body: CronCreate, services: ServicesDep, auditor: AuditorDep
) -> Response:
    cron = await crons_service.create(services, body, thread_id=_uuid(thread_id, "thread"))
    await _record_created(auditor, cron)
    return responses.json(cron)


async def _record_created(auditor: Auditor, cron: Cron) -> None:
    details = {
        "assistant_id": cron["assistant_id"],
        "thread_id": cron["thread_id"],
        "schedule": cron["schedule"],
    }
    await auditor.record("cron.create", target=cron["cron_id"], details=details)


@router.post("/runs/crons")
async def create_cron(body: CronCreate, services: ServicesDep, auditor: AuditorDep) -> Response:
    cron = await crons_service.create(services, body, thread_id=None)
    await _record_created(auditor, cron)
    return responses.json(cron)


@router.post("/runs/crons/search")
async def search_crons(services: ServicesDep, body: Annotated[CronSearch | None, Body()] = None) -> Response:
    body = body or CronSearch()
    items, next_offset = await crons_service.search(services, body)
    return responses.json(items, headers=pagination_headers(len(items), body.offset, next_offset))


@router.post("/runs/crons/count")
async def count_crons(services: ServicesDep, body: Annotated[CronCount | None, Body()] = None) -> Response:
    return responses.json(await crons_service.count(services, body or CronCount()))


@router.get("/runs/crons/{cron_id}")
async def get_cron(cron_id: str, services: ServicesDep) -> Response:
    return responses.json(await crons_service.get(services, _uuid(cron_id, "cron")))


@router.patch("/runs/crons/{cron_id}")
async def patch_cron(cron_id: str, body: CronPatch, services: ServicesDep, auditor: AuditorDep) -> Response:
    cron = await crons_service.patch(services, _uuid(cron_id, "cron"), body)
    changed = sorted(body.model_dump(exclude_unset=True))
    await auditor.record("cron.update", target=cron["cron_id"], details={"fields": changed})
    return responses.json(cron)


@router.delete("/runs/crons/{cron_id}")
async def delete_cron(cron_id: str, services: ServicesDep, auditor: AuditorDep) -> Response:
    cron_id = _uuid(cron_id, "cron")
    await crons_service.delete(services, cron_id)
    await auditor.record("cron.delete", target=cron_id)
    return responses.no_content()

"""The audit trail: one append-only row (migration 0004 refuses UPDATE and DELETE) and one structured
log line per event: who (principal, key id), what (action, target, outcome), when, from where
(client address). Never a key or a secret: callers pass the key's public prefix at most."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from router.store import accounts
from router.store.pool import Executor

log = logging.getLogger("langopen.audit")


@dataclass(frozen=True)
class Actor:
    identity: str
    key_id: str | None
    project_id: str | None
    client: str | None


async def record(
    pool: Executor,
    actor: Actor,
    action: str,
    *,
    target: str | None = None,
    outcome: str = "ok",
    deployment_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    await accounts.append_audit(
        pool,
        action=action,
        outcome=outcome,
        actor=actor.identity,
        key_id=actor.key_id,
        project_id=actor.project_id,
        deployment_id=deployment_id,
        target=target,
        client=actor.client,
        details=details or {},
    )
    log.info(
        "audit action=%s outcome=%s actor=%s key_id=%s project_id=%s deployment_id=%s target=%s client=%s",
        action,
        outcome,
        actor.identity,
        actor.key_id,
        actor.project_id,
        deployment_id,
        target,
        actor.client,
    )

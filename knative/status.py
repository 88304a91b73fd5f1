"""AgentDeployment status, computed without I/O: readiness read from a child's status (Knative
Service in mode `function`, SandboxWarmPool in mode `sandbox`), the `Ready` condition with a stable
`lastTransitionTime`, and the current/previous image bookkeeping rollback relies on."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from contracts import k8s

TRUE, FALSE, UNKNOWN = "True", "False", "Unknown"


@dataclass(frozen=True)
class Readiness:
    status: str
    """`True`, `False` or `Unknown`, as in a Kubernetes condition."""
    reason: str
    message: str
    url: str | None = None


def _condition(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return None


def _generation_seen(obj: Mapping[str, Any]) -> bool:
    generation = (obj.get("metadata") or {}).get("generation")
    observed = (obj.get("status") or {}).get("observedGeneration")
    return generation is None or (observed is not None and observed >= generation)


def service_readiness(ksvc: Mapping[str, Any]) -> Readiness:
    """Readiness of a Knative Service: its `Ready` condition for its latest generation, and its URL."""
    if not _generation_seen(ksvc):
        return Readiness(UNKNOWN, "Deploying", "Knative has not reconciled the latest revision yet")
    cond = _condition(ksvc, k8s.CONDITION_READY)
    if cond is None:
        return Readiness(UNKNOWN, "Deploying", "the Knative Service reports no Ready condition yet")
    url = (ksvc.get("status") or {}).get("url")
    status = cond.get("status", UNKNOWN)
    if status == TRUE and not url:
        return Readiness(UNKNOWN, "Deploying", "the Knative Service is ready but has no URL yet")
    if status == TRUE:
        return Readiness(TRUE, "ServiceReady", "the Knative Service is ready", url=url)
    reason = cond.get("reason") or "ServiceNotReady"
    return Readiness(status, reason, cond.get("message") or "the Knative Service is not ready")


def pool_readiness(pool: Mapping[str, Any]) -> Readiness:
    """Readiness of a SandboxWarmPool: ready once its latest spec is seen and one sandbox is warm (an
    empty pool is ready at once: claims then start sandboxes cold)."""
    if not _generation_seen(pool):
        return Readiness(UNKNOWN, "WarmPoolPending", "Agent Sandbox has not reconciled the warm pool yet")
    wanted = int((pool.get("spec") or {}).get("replicas", 1))
    ready = int((pool.get("status") or {}).get("readyReplicas") or 0)
    if wanted == 0 or ready >= 1:
        return Readiness(TRUE, "WarmPoolReady", f"{ready}/{wanted} warm sandboxes ready")
    return Readiness(FALSE, "WarmPoolFilling", f"{ready}/{wanted} warm sandboxes ready")


def ready_condition(
    readiness: Readiness, previous: Sequence[Mapping[str, Any]], *, generation: int | None, now: datetime
) -> dict[str, Any]:
    """The `Ready` condition; `lastTransitionTime` moves only when the status changes."""
    old = next((c for c in previous if c.get("type") == k8s.CONDITION_READY), None)
    now_text = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    since = (
        now_text if old is None or old.get("status") != readiness.status else old.get("lastTransitionTime")
    )
    cond: dict[str, Any] = {
        "type": k8s.CONDITION_READY,
        "status": readiness.status,
        "reason": readiness.reason,
        "message": readiness.message,
        "lastTransitionTime": since or now_text,
    }
    if generation is not None:
        cond["observedGeneration"] = generation
    return cond


def with_condition(
    previous: Sequence[Mapping[str, Any]], condition: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """`previous` with the condition of `condition`'s type replaced (or added)."""
    others = [dict(c) for c in previous if c.get("type") != condition["type"]]
    return [*others, dict(condition)]


def images_after(status: Mapping[str, Any], image: str) -> dict[str, str]:
    """`currentImage`/`previousImage` once `image` is applied: an image change shifts current to
    previous; re-applying the current image changes nothing."""
    current = status.get(k8s.STATUS_CURRENT_IMAGE)
    out = {k8s.STATUS_CURRENT_IMAGE: image}
    if current and current != image:
        out[k8s.STATUS_PREVIOUS_IMAGE] = current
    elif status.get(k8s.STATUS_PREVIOUS_IMAGE):
        out[k8s.STATUS_PREVIOUS_IMAGE] = status[k8s.STATUS_PREVIOUS_IMAGE]
    return out


def rollback_target(status: Mapping[str, Any]) -> str | None:
    """The image a rollback returns to: the previous one, if there is one."""
    previous = status.get(k8s.STATUS_PREVIOUS_IMAGE)
    return str(previous) if previous else None

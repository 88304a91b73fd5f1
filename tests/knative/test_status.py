from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from knative import status

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def ksvc(
    generation: int, observed: int | None, ready: str | None, url: str | None = None, **cond: str
) -> dict[str, Any]:
    st: dict[str, Any] = {}
    if observed is not None:
        st["observedGeneration"] = observed
    if ready is not None:
        st["conditions"] = [{"type": "Ready", "status": ready, **cond}]
    if url:
        st["url"] = url
    return {"metadata": {"generation": generation}, "status": st}


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (ksvc(1, None, None), ("Unknown", "Deploying", None)),
        (ksvc(2, 1, "True", "http://old"), ("Unknown", "Deploying", None)),
        (ksvc(1, 1, "True"), ("Unknown", "Deploying", None)),
        (ksvc(1, 1, "True", "http://chat.ns.svc"), ("True", "ServiceReady", "http://chat.ns.svc")),
        (
            ksvc(1, 1, "False", reason="RevisionFailed", message="image pull"),
            ("False", "RevisionFailed", None),
        ),
    ],
)
def test_service_readiness(obj: dict[str, Any], expected: tuple[str, str, str | None]) -> None:
    got = status.service_readiness(obj)
    assert (got.status, got.reason, got.url) == expected


@pytest.mark.parametrize(
    ("replicas", "ready", "observed", "expected"),
    [(2, 0, 1, "False"), (2, 1, 1, "True"), (0, 0, 1, "True"), (2, 2, 0, "Unknown")],
)
def test_pool_readiness(replicas: int, ready: int, observed: int, expected: str) -> None:
    pool = {
        "metadata": {"generation": 1},
        "spec": {"replicas": replicas},
        "status": {"readyReplicas": ready, "observedGeneration": observed},
    }
    assert status.pool_readiness(pool).status == expected


def test_transition_time_moves_only_when_status_changes() -> None:
    old = [{"type": "Ready", "status": "True", "lastTransitionTime": "2025-01-01T00:00:00Z"}]
    same = status.ready_condition(status.Readiness("True", "ServiceReady", "ok"), old, generation=3, now=NOW)
    assert same["lastTransitionTime"] == "2025-01-01T00:00:00Z"
    assert same["observedGeneration"] == 3
    flipped = status.ready_condition(
        status.Readiness("False", "RevisionFailed", "x"), old, generation=3, now=NOW
    )
    assert flipped["lastTransitionTime"] == "2026-01-02T03:04:05Z"


def test_with_condition_replaces_only_its_type() -> None:
    old = [{"type": "Ready", "status": "False"}, {"type": "Other", "status": "True"}]
    got = status.with_condition(old, {"type": "Ready", "status": "True"})
    assert sorted((c["type"], c["status"]) for c in got) == [("Other", "True"), ("Ready", "True")]


@pytest.mark.parametrize(
    ("before", "image", "after"),
    [
        ({}, "a", {"currentImage": "a"}),
        ({"currentImage": "a"}, "a", {"currentImage": "a"}),
        ({"currentImage": "a"}, "b", {"currentImage": "b", "previousImage": "a"}),
        ({"currentImage": "b", "previousImage": "a"}, "b", {"currentImage": "b", "previousImage": "a"}),
        ({"currentImage": "b", "previousImage": "a"}, "a", {"currentImage": "a", "previousImage": "b"}),
    ],
)
def test_images_after(before: dict[str, str], image: str, after: dict[str, str]) -> None:
    assert status.images_after(before, image) == after


def test_rollback_target_is_the_previous_image() -> None:
    assert status.rollback_target({"currentImage": "b", "previousImage": "a"}) == "a"
    assert status.rollback_target({"currentImage": "b"}) is None

"""The deployment a piece of work acts for: every tenant-facing query in router.store is scoped by it.

The API's request pipeline (router.api.auth) sets it from the request's host or path prefix once the
caller is authenticated; background workers that act for a row (the cron scheduler, event triggers)
set it from that row with `acting_for`. Work that sets nothing acts for the default deployment, the
one `langopen dev` serves at `/` and the one rows from before tenancy (migration 0004) belong to.
Workers that claim rows across deployments (dispatcher, reaper, webhook deliverer) address them by
their globally unique ids and do not read this.

A context variable rather than a parameter threaded through every service and store function: a
task started while serving a request (a run's stream relay, a wait) inherits it, and no call site
can pass the wrong deployment.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

from contracts import runtime

DEFAULT_DEPLOYMENT_ID = runtime.DEFAULT_DEPLOYMENT_ID
DEFAULT_DEPLOYMENT_NAME = "default"
DEFAULT_PROJECT_ID = "00000000-0000-0000-0000-000000000001"
DEFAULT_ORG_ID = "00000000-0000-0000-0000-000000000001"

_current: contextvars.ContextVar[str] = contextvars.ContextVar("langopen_deployment_id")


def deployment_id() -> str:
    """The deployment the current work acts for."""
    return _current.get(DEFAULT_DEPLOYMENT_ID)


def set_deployment(deployment: str) -> contextvars.Token[str]:
    """Act for `deployment` from now on in this context (a request's task); returns the reset token."""
    return _current.set(deployment)


def reset(token: contextvars.Token[str]) -> None:
    _current.reset(token)


@contextmanager
def acting_for(deployment: str) -> Iterator[None]:
    """Act for `deployment` inside the block (a worker handling one row)."""
    token = _current.set(deployment)
    try:
        yield
    finally:
        _current.reset(token)

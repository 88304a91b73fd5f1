"""`langopen migrate`: the router's tables and LangGraph's checkpoint/store tables, in one database."""

from __future__ import annotations

from functions import checkpoints
from router.store import migrate as router_migrate


async def apply_all(dsn: str) -> list[str]:
    """Apply every migration LangOpen needs; safe to run from several processes at once."""
    applied = await router_migrate.apply(dsn)
    await checkpoints.setup(dsn)
    return applied

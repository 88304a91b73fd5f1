from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg

from cli import migrate

MIGRATIONS = Path(__file__).parents[1] / "router" / "store" / "migrations"


async def test_concurrent_migrations_apply_once(pg_dsn: str) -> None:
    # The template is migrated already; a second and third concurrent run must be no-ops.
    results = await asyncio.gather(migrate.apply_all(pg_dsn), migrate.apply_all(pg_dsn))
    assert list(results) == [[], []]  # gather returns a list (typeshed: a tuple)
    conn = await asyncpg.connect(pg_dsn)
    try:
        versions = await conn.fetch("SELECT version FROM langopen_migrations ORDER BY version")
        tables = {
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
        }
    finally:
        await conn.close()
    shipped = sorted(int(f.name.split("_", 1)[0]) for f in MIGRATIONS.glob("*.sql"))
    assert shipped == list(range(1, len(shipped) + 1))  # numbered without gaps
    assert [r["version"] for r in versions] == shipped
    assert {"assistants", "threads", "runs", "checkpoints", "checkpoint_writes", "store"} <= tables
    assert {"crons", "webhook_deliveries"} <= tables
    assert {"event_subscriptions", "event_deliveries"} <= tables

"""Apply the router's SQL migrations in order, once, even with several replicas starting at once.

Each file in `migrations/` (`NNNN_name.sql`) runs in one transaction that first takes a
transaction-scoped advisory lock, so concurrent starters queue and then find the work done.
"""

from __future__ import annotations

from importlib import resources

import asyncpg

MIGRATION_LOCK_KEY = 0x4C4F_524D  # "LORM"

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS langopen_migrations (
    version    integer PRIMARY KEY,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


def migration_files() -> list[tuple[int, str, str]]:
    """(version, name, sql) for every migration, in order."""
    folder = resources.files("router.store") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.name, entry.read_text()))
    return sorted(found)


async def apply(dsn: str) -> list[str]:
    """Apply pending migrations; return the names applied by this call."""
    applied: list[str] = []
    conn = await asyncpg.connect(dsn)
    try:
        for version, name, sql in migration_files():
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK_KEY)
                await conn.execute(_CREATE_TABLE)
                done = await conn.fetchval("SELECT 1 FROM langopen_migrations WHERE version = $1", version)
                if done:
                    continue
                await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO langopen_migrations (version, name) VALUES ($1, $2)", version, name
                )
                applied.append(name)
    finally:
        await conn.close()
    return applied

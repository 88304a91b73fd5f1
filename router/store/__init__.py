"""Postgres: the router's tables, migrations and queries. Nothing above this package sees asyncpg."""

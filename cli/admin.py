"""`langopen admin …`: bootstrap tenancy and API keys straight in Postgres (DATABASE_URL).

create-org NAME · create-project ORG NAME · create-deployment --project NAME [--function-url URL | --agent-deployment NAME] NAME ·
create-key --project NAME --role ROLE [--name N] [--expires-days D] (prints the key, once) ·
revoke-key ID-OR-PREFIX. Key creation and revocation are written to the audit log.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import math
import os
import socket
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from router.auth import audit, keys
from router.auth.permissions import Role
from router.store import accounts
from router.store import pool as pool_store
from router.store.pool import Executor

EXIT_OK = 0
EXIT_FAILED = 1
COMMAND_TIMEOUT_SECONDS = 30.0


class AdminError(Exception):
    """An admin command could not do what it was asked."""


def _actor() -> audit.Actor:
    return audit.Actor(
        identity=f"cli:{getpass.getuser()}", key_id=None, project_id=None, client=socket.gethostname()
    )


async def _project_id(conn: Executor, name: str) -> str:
    found = await accounts.projects_by_name(conn, name)
    if not found:
        raise AdminError(f"no project named {name!r}")
    if len(found) > 1:
        orgs = ", ".join(r["org_name"] for r in found)
        raise AdminError(f"project name {name!r} is ambiguous (organizations: {orgs})")
    return str(found[0]["project_id"])


def _check_name(kind: str, name: str) -> None:
    if not name.strip() or name != name.strip():
        raise AdminError(f"{kind} name {name!r}: must be non-empty, without leading or trailing spaces")


async def create_org(conn: Executor, name: str) -> str:
    _check_name("organization", name)
    row = await accounts.create_org(conn, name)
    if row is None:
        raise AdminError(f"an organization named {name!r} exists already")
    await audit.record(conn, _actor(), "org.create", target=name)
    return str(row["org_id"])


async def create_project(conn: Executor, org: str, name: str) -> str:
    org_row = await accounts.org_by_name(conn, org)
    if org_row is None:
        raise AdminError(f"no organization named {org!r}")
    _check_name("project", name)
    row = await accounts.create_project(conn, str(org_row["org_id"]), name)
    if row is None:
        raise AdminError(f"organization {org!r} has a project named {name!r} already")
    await audit.record(conn, _actor(), "project.create", target=f"{org}/{name}")
    return str(row["project_id"])


async def create_deployment(
    conn: Executor,
    project: str,
    name: str,
    *,
    function_url: str | None = None,
    agent_deployment: str | None = None,
) -> str:
    """A deployment of `project`; with `function_url` or `agent_deployment` it has its own function
    service (and app), else it runs on the router's own (docs/decisions/0012)."""
    project_id = await _project_id(conn, project)
    if function_url is not None and agent_deployment is not None:
        raise AdminError("--function-url and --agent-deployment: give at most one")
    try:
        row = await accounts.create_deployment(
            conn, project_id, name, function_url=function_url, agent_deployment=agent_deployment
        )
    except asyncpg.CheckViolationError as exc:
        if exc.constraint_name == "deployments_function_url_check":
            raise AdminError(f"--function-url: {function_url!r} is not an http(s) URL") from None
        if exc.constraint_name == "deployments_agent_deployment_check":
            raise AdminError(f"--agent-deployment: {agent_deployment!r} is not a Kubernetes name") from None
        raise AdminError(f"{name!r} is not a valid deployment name (a DNS label)") from None
    if row is None:
        raise AdminError(f"a deployment named {name!r} exists already")
    details: dict[str, Any] = {"project_id": project_id}
    if function_url is not None or agent_deployment is not None:
        details["function"] = function_url or f"agentdeployment/{agent_deployment}"
    await audit.record(conn, _actor(), "deployment.create", target=name, details=details)
    return str(row["deployment_id"])


async def create_key(
    conn: Executor, project: str, role: str, *, name: str = "", expires_in: timedelta | None = None
) -> tuple[str, str]:
    """(key id, the key itself); the key is not kept anywhere."""
    project_id = await _project_id(conn, project)
    new = keys.generate()
    expires_at = datetime.now(UTC) + expires_in if expires_in is not None else None
    row = await accounts.create_key(
        conn,
        project_id=project_id,
        prefix=new.prefix,
        secret_hash=new.secret_hash,
        role=Role(role).value,
        name=name,
        expires_at=expires_at,
    )
    key_id = str(row["key_id"])
    actor = _actor()
    await audit.record(
        conn,
        actor,
        "key.create",
        target=key_id,
        details={"prefix": new.prefix, "role": role, "project_id": project_id},
    )
    return key_id, new.plaintext


async def revoke_key(conn: Executor, key_id_or_prefix: str) -> str:
    row = await accounts.revoke_key(conn, key_id_or_prefix)
    if row is None:
        raise AdminError(f"no key with id or prefix {key_id_or_prefix!r}")
    await audit.record(
        conn, _actor(), "key.revoke", target=str(row["key_id"]), details={"prefix": row["prefix"]}
    )
    return str(row["key_id"])


async def bind_default_deployment(conn: Executor, *, project: str, deployment: str = "default") -> str:
    """Make `deployment` belong to `project` (created in organization `default` if missing)."""
    found = await accounts.projects_by_name(conn, project)
    if not found:
        org = await accounts.org_by_name(conn, "default")
        assert org is not None  # created by migration 0004
        await accounts.create_project(conn, str(org["org_id"]), project)
    project_id = await _project_id(conn, project)
    await accounts.move_deployment(conn, deployment, project_id)
    return project_id


def _expires_days(text: str) -> float:
    """--expires-days: a positive, finite number of days whose expiry date a datetime can hold."""
    try:
        days = float(text)
        if not (math.isfinite(days) and days > 0):
            raise ValueError
        datetime.now(UTC) + timedelta(days=days)
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"expected a positive number of days, got {text!r}") from None
    return days


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "admin",
        help="manage organizations, projects, deployments and API keys",
        description="Bootstrap tenancy and API keys in the database at --database-url.",
    )
    parser.add_argument(
        "--database-url", default=os.environ.get("DATABASE_URL"), help="Postgres DSN (default: $DATABASE_URL)"
    )
    admin = parser.add_subparsers(dest="admin_command", required=True, metavar="ADMIN_COMMAND")
    org = admin.add_parser("create-org", help="create an organization")
    org.add_argument("name")
    project = admin.add_parser("create-project", help="create a project in an organization")
    project.add_argument("org")
    project.add_argument("name")
    deployment = admin.add_parser("create-deployment", help="create a deployment of a project")
    deployment.add_argument("--project", required=True)
    deployment.add_argument(
        "--function-url", default=None, help="its own function service at this URL (default: the router's)"
    )
    deployment.add_argument(
        "--agent-deployment",
        default=None,
        help="its own function service: this AgentDeployment (in a cluster)",
    )
    deployment.add_argument("name")
    key = admin.add_parser("create-key", help="create an API key and print it (shown only once)")
    key.add_argument("--project", required=True)
    key.add_argument("--role", required=True, choices=[r.value for r in Role])
    key.add_argument("--name", default="")
    key.add_argument("--expires-days", type=_expires_days, default=None)
    revoke = admin.add_parser("revoke-key", help="revoke an API key by id or prefix")
    revoke.add_argument("key")


async def _dispatch(conn: Executor, args: argparse.Namespace) -> str:
    command = args.admin_command
    if command == "create-org":
        return await create_org(conn, args.name)
    if command == "create-project":
        return await create_project(conn, args.org, args.name)
    if command == "create-deployment":
        return await create_deployment(
            conn,
            args.project,
            args.name,
            function_url=args.function_url,
            agent_deployment=args.agent_deployment,
        )
    if command == "create-key":
        expires = timedelta(days=args.expires_days) if args.expires_days is not None else None
        key_id, key = await create_key(conn, args.project, args.role, name=args.name, expires_in=expires)
        return f"key_id: {key_id}\nkey: {key}\n(store the key now: it is not shown again)"
    return await revoke_key(conn, args.key)


async def _run(database_url: str, args: argparse.Namespace) -> str:
    async with (
        pool_store.open_pool(
            database_url, min_size=1, max_size=1, command_timeout=COMMAND_TIMEOUT_SECONDS
        ) as pool,
        pool.acquire() as conn,
        conn.transaction(),
    ):
        return await _dispatch(conn, args)


def run(args: argparse.Namespace) -> int:
    if not args.database_url:
        print("error: pass --database-url or set DATABASE_URL", file=sys.stderr)
        return EXIT_FAILED
    try:
        print(asyncio.run(_run(args.database_url, args)))
    except AdminError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK

"""The `langopen` command: argument parsing, then one module per subcommand.

langopen dev      serve the app in langgraph.json locally (cli/dev.py)
langopen migrate  apply the database migrations (cli/migrate.py)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from importlib import metadata
from pathlib import Path

from cli import admin, dev
from cli import migrate as cli_migrate

DEFAULT_PORT = 2024  # the port `langgraph dev` uses, so SDK examples work unchanged


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="langopen",
        description="LangOpen: the LangGraph Agent Server API on Postgres and Redis.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {metadata.version('langopen')}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    dev_parser = commands.add_parser(
        "dev",
        help="run the API server, dispatcher and function runtime locally",
        description="Run the Agent Server API for a langgraph.json on this machine. Uses DATABASE_URL and "
        "REDIS_URL when set, otherwise starts an embedded PostgreSQL and Redis keeping their data in "
        "--data-dir. The function runtime starts on the first request and stops when idle.",
    )
    dev_parser.add_argument(
        "--config",
        type=Path,
        default=Path("langgraph.json"),
        help="path to langgraph.json (default: %(default)s)",
    )
    dev_parser.add_argument(
        "--host", default="127.0.0.1", help="interface to listen on (default: %(default)s)"
    )
    dev_parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="API port (default: %(default)s)")
    dev_parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="folder of the embedded PostgreSQL and Redis (default: .langopen/ beside langgraph.json)",
    )
    dev_parser.add_argument(
        "--no-browser",
        action="store_true",
        help="accepted for compatibility with `langgraph dev`; LangOpen never opens a browser",
    )

    dev_parser.add_argument(
        "--auth",
        action="store_true",
        help="require API keys (X-Api-Key), as the production router always does",
    )
    dev_parser.add_argument(
        "--project",
        default="default",
        help="with --auth: the project the served deployment belongs to (default: %(default)s)",
    )
    admin.add_parser(commands)

    migrate_parser = commands.add_parser(
        "migrate",
        help="apply the database migrations (router tables, LangGraph checkpoints and store)",
        description="Apply every pending migration; safe to run from several processes at once.",
    )
    migrate_parser.add_argument(
        "--database-url", default=os.environ.get("DATABASE_URL"), help="Postgres DSN (default: $DATABASE_URL)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "dev":
        options = dev.DevOptions(
            config_path=args.config,
            host=args.host,
            port=args.port,
            data_dir=args.data_dir,
            auth=args.auth,
            auth_project=args.project,
        )
        return dev.run(options, dev.DevSettings())
    if args.command == "admin":
        return admin.run(args)
    return _migrate(args.database_url)


def _migrate(database_url: str | None) -> int:
    if not database_url:
        print("error: pass --database-url or set DATABASE_URL", file=sys.stderr)
        return dev.EXIT_USAGE
    applied = asyncio.run(cli_migrate.apply_all(database_url))
    print("applied: " + ", ".join(applied) if applied else "up to date: no migration pending")
    return dev.EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

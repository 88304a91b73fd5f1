"""`python -m functions.main [--host H] [--port N] [--migrate]`: serve the function runtime.

Reads FunctionSettings from the environment (flags override host, port and migrate) and runs the
app under uvicorn with uvloop and httptools. It never runs migrations unless told to: `langopen
migrate` (cli.migrate.apply_all) owns the schema.
"""

from __future__ import annotations

import argparse
import logging

import uvicorn

from functions.app import create_app
from functions.settings import FunctionSettings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m functions.main", description=__doc__)
    parser.add_argument("--host", help="interface to listen on (default: settings, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="TCP port (default: settings, env PORT, 8080)")
    parser.add_argument("--migrate", action="store_true", help="create LangGraph's tables before serving")
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in {"host": args.host, "port": args.port}.items() if v is not None}
    if args.migrate:
        overrides["migrate"] = True
    settings = FunctionSettings(**overrides)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        timeout_keep_alive=int(settings.keep_alive_seconds),
        timeout_graceful_shutdown=round(settings.shutdown_grace_seconds),
    )


if __name__ == "__main__":
    main()

"""`python -m router`: the router deployable (API + dispatcher + reaper) against a function service
at LANGOPEN_FUNCTION_URL (in a cluster, the deployment's Knative Service)."""

from __future__ import annotations

import argparse
import logging

import uvicorn

from router.dispatch.targets import StaticTarget
from router.main import create_app
from router.settings import RouterSettings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m router")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2024)
    args = parser.parse_args(argv)
    settings = RouterSettings()
    if not settings.function_url:
        parser.error("LANGOPEN_FUNCTION_URL must name the function service")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(settings, function_target=StaticTarget(settings.function_url))
    uvicorn.run(app, host=args.host, port=args.port, loop="uvloop", http="httptools", log_level="warning")


if __name__ == "__main__":
    main()

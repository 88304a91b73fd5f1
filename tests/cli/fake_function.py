"""A stand-in for `python -m functions.main` in activator tests: an ASGI app with /healthz and /env.

Run as `python fake_function.py --host H --port P`. Behaviour knobs (environment):
FAKE_FUNCTION_STARTS_FILE (append our pid at start), FAKE_FUNCTION_READY_AFTER (seconds before
/healthz answers 200, or "never"), FAKE_FUNCTION_EXIT_CODE (exit at once with this code),
FAKE_FUNCTION_IGNORE_SIGTERM (once started, ignore SIGTERM: only SIGKILL stops it).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

STARTED_AT = time.monotonic()


def _ready() -> bool:
    ready_after = os.environ.get("FAKE_FUNCTION_READY_AFTER", "0")
    return ready_after != "never" and time.monotonic() - STARTED_AT >= float(ready_after)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    body: dict[str, object]
    if scope["path"] == "/healthz":
        status, body = (200, {"ok": True}) if _ready() else (503, {"ok": False})
    elif scope["path"] == "/env":
        keys = ("DATABASE_URL", "REDIS_URL", "LANGOPEN_CONFIG")
        status, body = 200, {"pid": os.getpid(), "cwd": os.getcwd(), **{k: os.environ.get(k) for k in keys}}
    else:
        status, body = 404, {}
    await send(
        {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]}
    )
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            if os.environ.get("FAKE_FUNCTION_IGNORE_SIGTERM"):
                signal.signal(signal.SIGTERM, signal.SIG_IGN)  # after uvicorn installed its own handler
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    if "FAKE_FUNCTION_EXIT_CODE" in os.environ:
        sys.exit(int(os.environ["FAKE_FUNCTION_EXIT_CODE"]))
    starts_file = os.environ.get("FAKE_FUNCTION_STARTS_FILE")
    if starts_file:
        with open(starts_file, "a") as out:
            out.write(f"{os.getpid()}\n")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", lifespan="on")


if __name__ == "__main__":
    main()

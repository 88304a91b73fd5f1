"""The user's custom app (`http.app`) of the custom-routes tests: plain routes, a streaming route
released by another request, a route that shadows a built-in one (`GET /info`) and one that does not
(`GET /assistants/search`: the built-in POST keeps answering POST)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

state: dict[str, Any] = {}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    state["started"] = True
    state["release"] = asyncio.Event()
    yield


app = FastAPI(lifespan=lifespan)


@app.get("/hello")
async def hello() -> dict[str, Any]:
    return {"hello": "world", "lifespan_ran": state.get("started", False)}


@app.post("/echo/{name}")
async def echo(name: str, request: Request) -> JSONResponse:
    return JSONResponse(
        {
            "name": name,
            "query": dict(request.query_params),
            "body": (await request.body()).decode(),
            "headers": {k: v for k, v in request.headers.items() if k.startswith("x-") or k == "host"},
            "method": request.method,
        },
        status_code=201,
        headers={"x-from-user-app": "yes"},
    )


@app.get("/teapot")
async def teapot() -> JSONResponse:
    return JSONResponse({"short": "and stout"}, status_code=418)


@app.get("/sse")
async def sse() -> StreamingResponse:
    release: asyncio.Event = state["release"]
    release.clear()

    async def frames() -> AsyncIterator[bytes]:
        yield b"event: first\ndata: 1\n\n"
        await asyncio.wait_for(release.wait(), 20)
        yield b"event: second\ndata: 2\n\n"

    return StreamingResponse(frames(), media_type="text/event-stream")


@app.post("/sse/release")
async def release_sse() -> dict[str, bool]:
    state["release"].set()
    return {"released": True}


@app.get("/info")
async def shadowing_info() -> dict[str, str]:
    return {"served_by": "user app"}


@app.get("/assistants/search")
async def assistants_search_get() -> dict[str, str]:
    return {"served_by": "user app"}


@app.get("/slash/")
async def with_slash() -> dict[str, str]:
    return {"slash": "yes"}

"""Forward a custom-route request to the user's app in the function service, streaming both ways
out (docs/decisions/0008).

The request goes out with its method, path, query string and body; headers minus hop-by-hop ones,
plus `X-Forwarded-For/-Proto/-Host` and the `HTTP_APP_HEADER` marker (a client's own marker is dropped).
The answer comes back chunk by chunk as the function service writes it (an SSE stream stays a
stream), with its status and headers minus hop-by-hop ones; bodies are passed through undecoded.

Only connecting has a timeout (`CONNECT_TIMEOUT_SECONDS`): a custom route may stream for as long as
it likes, and the caller stops it by closing the response when the client goes away.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp

from contracts import http_app
from router import errors
from router.dispatch.targets import FunctionTarget

CONNECT_TIMEOUT_SECONDS = 5.0
IDLE_KEEPALIVE_SECONDS = 15.0  # inside the function service's keep-alive, as router.dispatch.client
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        http_app.HTTP_APP_HEADER,
    }
)


@dataclass(frozen=True)
class ProxyRequest:
    method: str
    path_qs: str
    """Raw path and query string, as the client sent them."""
    headers: list[tuple[str, str]]
    body: bytes
    client_host: str | None
    scheme: str


@dataclass(frozen=True)
class ProxyResponse:
    status: int
    headers: list[tuple[str, str]]
    chunks: AsyncIterator[bytes]


def _end_to_end(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    named = {
        token.strip().lower()
        for name, value in headers
        if name.lower() == "connection"
        for token in value.split(",")
    }
    return [(n, v) for n, v in headers if n.lower() not in HOP_BY_HOP and n.lower() not in named]


def _outgoing_headers(req: ProxyRequest) -> list[tuple[str, str]]:
    headers = [(n, v) for n, v in _end_to_end(req.headers) if n.lower() != "content-length"]
    host = next((v for n, v in req.headers if n.lower() == "host"), None)
    forwarded_for = next((v for n, v in req.headers if n.lower() == "x-forwarded-for"), None)
    headers = [(n, v) for n, v in headers if n.lower() not in ("x-forwarded-for", "x-forwarded-proto")]
    if req.client_host:
        chain = f"{forwarded_for}, {req.client_host}" if forwarded_for else req.client_host
        headers.append(("X-Forwarded-For", chain))
    headers.append(("X-Forwarded-Proto", req.scheme))
    if host is not None and not any(n.lower() == "x-forwarded-host" for n, _ in headers):
        headers.append(("X-Forwarded-Host", host))
    headers.append((http_app.HTTP_APP_HEADER, "1"))
    return headers


class HttpAppProxy:
    """Sends custom-route requests to the function service reached through `target`."""

    def __init__(self, target: FunctionTarget) -> None:
        self._target = target
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        # Created on first use: a ClientSession belongs to the running loop.
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=IDLE_KEEPALIVE_SECONDS)
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,
                skip_auto_headers=("User-Agent", "Accept-Encoding"),
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @asynccontextmanager
    async def forward(self, req: ProxyRequest) -> AsyncIterator[ProxyResponse]:
        """The function service's answer; its body streams while the context is open, and leaving
        the context closes the upstream connection (the user's app sees the client go away)."""
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT_SECONDS)
        async with self._target.use() as url:
            try:
                response = await self._http().request(
                    req.method,
                    url + req.path_qs,
                    headers=_outgoing_headers(req),
                    data=req.body if req.body else None,
                    timeout=timeout,
                    allow_redirects=False,
                    skip_auto_headers=("Content-Type",),
                )
            except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
                raise errors.FunctionNotReachedError(
                    f"function service unreachable (no connection): {exc!r}"
                ) from exc
            except (TimeoutError, aiohttp.ClientError) as exc:
                raise errors.FunctionUnavailableError(f"function service unreachable: {exc!r}") from exc
            try:
                raw = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.raw_headers]
                headers = _end_to_end(raw)
                yield ProxyResponse(response.status, headers, _chunks(response))
            finally:
                response.close()


async def _chunks(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    try:
        async for chunk in response.content.iter_any():
            yield chunk
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise errors.FunctionUnavailableError(f"custom route stream broke: {exc!r}") from exc

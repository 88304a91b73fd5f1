"""Outgoing webhook calls and the `webhooks.url` policy of `langgraph.json`.

A URL is checked when a run or cron names it (scheme, length, port, domain, literal addresses; no
DNS), and again at delivery, where every address its host resolves to must pass. The call then goes
to the checked address, the name kept in the Host header and TLS SNI, so a DNS answer that changes
in between cannot redirect it. Redirects are not followed.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from contracts.app_config import WebhookUrlPolicy
from router import errors

SIGNATURE_HEADER = "X-LangOpen-Signature"
DELIVERY_HEADER = "X-LangOpen-Delivery"
USER_AGENT = "langopen-webhooks/1"
RESOLVE_TIMEOUT_SECONDS = 5.0
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int


@dataclass(frozen=True)
class Attempt:
    """How one call went: `ok` on a 2xx; `permanent` when retrying cannot help (policy refusal)."""

    ok: bool
    status_code: int | None = None
    error: str | None = None
    permanent: bool = False


def _refuse(reason: str) -> errors.WebhookUrlRefusedError:
    return errors.WebhookUrlRefusedError(f"webhook: {reason}")


def refusal_for_address(ip: IpAddress, policy: WebhookUrlPolicy) -> str | None:
    """Why the policy refuses to call `ip`, or None."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return (
            f"loopback address {ip} is refused (webhooks.url.disable_loopback)"
            if (policy.disable_loopback)
            else None
        )
    if policy.disable_private_ips and (
        ip.is_private or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified
    ):
        return f"private or reserved address {ip} is refused (webhooks.url.disable_private_ips)"
    return None


def _is_allowed_domain(host: str, domains: list[str]) -> bool:
    return any(host == d or (d.startswith("*.") and host.endswith(d[1:])) for d in domains)


def _check_host(host: str, policy: WebhookUrlPolicy) -> None:
    """Loopback names and literal addresses, as far as they can be judged without DNS."""
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        if policy.disable_loopback:
            raise _refuse(f"loopback host {host} is refused (webhooks.url.disable_loopback)")
        return
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        return
    if (reason := refusal_for_address(literal, policy)) is not None:
        raise _refuse(reason)


def check_url(url: str, policy: WebhookUrlPolicy) -> Target:
    """The target of `url` if the policy allows it (without DNS); else WebhookUrlRefusedError."""
    if len(url) > policy.max_url_length:
        raise _refuse(f"URL longer than {policy.max_url_length} characters")
    if url.startswith("/"):
        raise _refuse("relative (in-process) webhook URLs are not supported by this server")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise _refuse(f"invalid URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise _refuse("the URL must be http:// or https://")
    if policy.require_https and scheme != "https":
        raise _refuse("the URL must be https:// (webhooks.url.require_https)")
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        raise _refuse("the URL has no host")
    port = port or (443 if scheme == "https" else 80)
    if policy.allowed_ports and port not in policy.allowed_ports:
        raise _refuse(f"port {port} is not allowed (webhooks.url.allowed_ports)")
    if policy.allowed_domains and not _is_allowed_domain(host, policy.allowed_domains):
        raise _refuse(f"host {host} is not allowed (webhooks.url.allowed_domains)")
    _check_host(host, policy)
    return Target(scheme=scheme, host=host, port=port)


def sign(body: bytes, secret: str) -> str:
    """The signature header's value: `sha256=` + hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def resolve_allowed(target: Target, policy: WebhookUrlPolicy) -> str:
    """An address of the target's host that the policy allows; every address must pass."""
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT_SECONDS
        )
    except (OSError, TimeoutError) as exc:
        raise _refuse(f"cannot resolve {target.host}: {exc}") from exc
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not addresses:
        raise _refuse(f"{target.host} resolves to no address")
    for ip in addresses:
        if (reason := refusal_for_address(ip, policy)) is not None:
            raise _refuse(f"{target.host} resolves to a refused address: {reason}")
    return str(addresses[0])


class WebhookClient:
    """POSTs webhook bodies under the policy, with static headers and an optional signature."""

    def __init__(
        self,
        policy: WebhookUrlPolicy,
        *,
        headers: dict[str, str],
        secret: str | None,
        timeout_seconds: float,
    ) -> None:
        self._policy = policy
        self._headers = headers
        self._secret = secret
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(timeout_seconds), follow_redirects=False)

    async def aclose(self) -> None:
        await self._client.aclose()

    def _headers_for(self, target: Target, body: bytes, delivery_id: str) -> dict[str, str]:
        default_port = 443 if target.scheme == "https" else 80
        host = f"[{target.host}]" if ":" in target.host else target.host
        headers = {
            **self._headers,
            "Host": host if target.port == default_port else f"{host}:{target.port}",
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            DELIVERY_HEADER: delivery_id,
        }
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = sign(body, self._secret)
        return headers

    async def post(self, url: str, body: bytes, *, delivery_id: str) -> Attempt:
        try:
            target = check_url(url, self._policy)
            address = await resolve_allowed(target, self._policy)
        except errors.WebhookUrlRefusedError as exc:
            return Attempt(ok=False, error=exc.message, permanent=True)
        pinned = httpx.URL(url).copy_with(host=address)
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        try:
            response = await self._client.post(
                pinned,
                content=body,
                headers=self._headers_for(target, body, delivery_id),
                extensions=extensions,
            )
        except httpx.HTTPError as exc:
            return Attempt(ok=False, error=f"{type(exc).__name__}: {exc}"[:1000])
        if 200 <= response.status_code < 300:
            return Attempt(ok=True, status_code=response.status_code)
        return Attempt(
            ok=False,
            status_code=response.status_code,
            error=f"HTTP {response.status_code}: {response.text[:500]}",
        )

"""The `webhooks` section of langgraph.json: URL policy (no DNS and resolved), header templates,
the signature, and the retry backoff."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

import pytest

from contracts.app_config import AppConfig, WebhooksConfig, WebhookUrlPolicy
from router import errors
from router.dispatch import webhooks


def refused(url: str, **policy: object) -> str:
    with pytest.raises(errors.WebhookUrlRefusedError) as info:
        webhooks.check_url(url, WebhookUrlPolicy.model_validate(policy))
    assert info.value.message.startswith("webhook: ")
    return info.value.message


def test_default_policy_allows_public_http_and_https() -> None:
    policy = WebhookUrlPolicy()
    assert webhooks.check_url("https://hooks.example.com/x", policy) == webhooks.Target(
        "https", "hooks.example.com", 443
    )
    assert webhooks.check_url("http://93.184.216.34:8080/x", policy).port == 8080


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x",
        "http://localhost:8000/x",
        "http://[::1]/x",
        "http://app.localhost/x",
        "http://[::ffff:127.0.0.1]/",
    ],
)
def test_default_policy_refuses_loopback(url: str) -> None:
    assert "disable_loopback" in refused(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/x",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest",
        "http://[fd00::1]/",
        "http://0.0.0.0/",
    ],
)
def test_default_policy_refuses_private_and_reserved(url: str) -> None:
    assert "disable_private_ips" in refused(url)


def test_relaxed_policy_allows_loopback_and_private() -> None:
    policy = WebhookUrlPolicy(disable_loopback=False, disable_private_ips=False)
    assert webhooks.check_url("http://127.0.0.1:9/x", policy).host == "127.0.0.1"
    assert webhooks.check_url("http://10.0.0.1/x", policy).host == "10.0.0.1"


def test_scheme_https_length_ports_and_relative_urls() -> None:
    assert "http://" in refused("ftp://example.com/x")
    assert "require_https" in refused("http://example.com/x", require_https=True)
    assert "longer than 20" in refused("https://example.com/" + "x" * 20, max_url_length=20)
    assert "allowed_ports" in refused("https://example.com:8443/x", allowed_ports=[443])
    assert "relative" in refused("/threads")
    assert "no host" in refused("http:///x")


def test_allowed_domains_exact_and_wildcard_subdomains_only() -> None:
    policy = {"allowed_domains": ["hooks.example.com", "*.corp.example"]}
    webhooks.check_url("https://hooks.example.com/x", WebhookUrlPolicy.model_validate(policy))
    webhooks.check_url("https://a.b.corp.example/x", WebhookUrlPolicy.model_validate(policy))
    assert "allowed_domains" in refused("https://corp.example/x", **policy)
    assert "allowed_domains" in refused("https://evil.com/x", **policy)
    with pytest.raises(ValueError, match="allowed_domains"):
        WebhookUrlPolicy(allowed_domains=["a*.example.com"])


def test_address_checks_unwrap_ipv4_mapped_ipv6() -> None:
    policy = WebhookUrlPolicy()
    assert webhooks.refusal_for_address(ipaddress.ip_address("::ffff:10.0.0.1"), policy) is not None
    assert webhooks.refusal_for_address(ipaddress.ip_address("93.184.216.34"), policy) is None


async def test_resolution_refuses_a_name_that_resolves_to_loopback() -> None:
    target = webhooks.Target("http", "localhost", 80)
    with pytest.raises(errors.WebhookUrlRefusedError, match="refused address"):
        await webhooks.resolve_allowed(target, WebhookUrlPolicy(allowed_domains=["localhost"]))
    relaxed = WebhookUrlPolicy(disable_loopback=False)
    assert ipaddress.ip_address(await webhooks.resolve_allowed(target, relaxed)).is_loopback


async def test_a_refused_url_is_a_permanent_failure_without_a_call() -> None:
    client = webhooks.WebhookClient(WebhookUrlPolicy(), headers={}, secret=None, timeout_seconds=1.0)
    try:
        attempt = await client.post("http://127.0.0.1:9/x", b"{}", delivery_id="d")
    finally:
        await client.aclose()
    assert attempt.permanent
    assert not attempt.ok


def test_signature_is_hmac_sha256_of_the_body() -> None:
    body = b'{"run_id":"r"}'
    assert webhooks.sign(body, "k") == "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()


def test_header_templates_read_only_prefixed_env_vars() -> None:
    config = WebhooksConfig(headers={"Authorization": "Bearer ${{ env.LG_WEBHOOK_TOKEN }}", "X": "plain"})
    assert config.resolved_headers({"LG_WEBHOOK_TOKEN": "t"}) == {"Authorization": "Bearer t", "X": "plain"}
    with pytest.raises(ValueError, match="is not set"):
        config.resolved_headers({})
    leaky = WebhooksConfig(headers={"A": "${{ env.DATABASE_URL }}"})
    with pytest.raises(ValueError, match="does not start with"):
        leaky.resolved_headers({"DATABASE_URL": "secret"})


def test_app_config_defaults_and_unknown_policy_keys() -> None:
    config = AppConfig.model_validate({"graphs": {"a": "g.py:graph"}})
    assert config.webhooks.url.disable_loopback
    assert config.webhooks.url.disable_private_ips
    with pytest.raises(ValueError, match="bogus"):
        AppConfig.model_validate({"graphs": {"a": "g.py:graph"}, "webhooks": {"url": {"bogus": 1}}})

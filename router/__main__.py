"""`python -m router`: the router deployable (API + dispatcher + reaper). Its function service is the
one at LANGOPEN_FUNCTION_URL, or in a cluster (LANGOPEN_FUNCTION_TARGET=knative|sandbox) the Knative
Service or the warm-pool sandboxes of AgentDeployment LANGOPEN_AGENT_DEPLOYMENT."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import uvicorn

from router import errors
from router.dispatch import knative, sandbox
from router.dispatch.targets import FunctionTarget, StaticTarget
from router.main import create_app
from router.settings import RouterSettings

POD_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def build_target(settings: RouterSettings, agent_deployment: str | None = None) -> FunctionTarget:
    """The FunctionTarget `settings.function_target` names (for `agent_deployment`, default the router's
    own). Raises ValueError when it cannot be built."""
    if settings.function_target == "url":
        if agent_deployment is not None:
            raise ValueError("an AgentDeployment target needs LANGOPEN_FUNCTION_TARGET knative or sandbox")
        if not settings.function_url:
            raise ValueError("LANGOPEN_FUNCTION_URL must name the function service")
        return StaticTarget(settings.function_url)
    agent_deployment = agent_deployment or settings.agent_deployment
    assert agent_deployment is not None  # RouterSettings checks it
    namespace = settings.kube_namespace
    if namespace is None:
        if not POD_NAMESPACE_FILE.exists():
            raise ValueError("LANGOPEN_KUBE_NAMESPACE is needed outside a pod")
        namespace = POD_NAMESPACE_FILE.read_text().strip()
    connection = knative.KubeConnection(settings.kubeconfig)
    if settings.function_target == "knative":
        return knative.KnativeTarget(
            connection,
            namespace=namespace,
            name=agent_deployment,
            resolve_timeout_seconds=settings.target_resolve_timeout_seconds,
        )
    return sandbox.SandboxTarget(
        connection,
        namespace=namespace,
        deployment=agent_deployment,
        port=settings.sandbox_port,
        release=settings.sandbox_release,
        idle_seconds=settings.sandbox_idle_seconds,
        bind_timeout_seconds=settings.target_resolve_timeout_seconds,
    )


def main(argv: list[str] | None = None, *, require_auth: bool = True) -> None:
    """Serve the router. It always requires API keys; only the test suite's entry point
    (tests/e2e/router_open.py) passes `require_auth=False`."""
    parser = argparse.ArgumentParser(prog="python -m router")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2024)
    args = parser.parse_args(argv)
    settings = RouterSettings()
    try:
        target = build_target(settings)
    except ValueError as exc:
        parser.error(str(exc))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    def make_target(url: str | None, agent_deployment: str | None) -> FunctionTarget:
        """A deployment's own function service (docs/decisions/0012), reached like the router's."""
        if url is not None:
            return StaticTarget(url)
        try:
            return build_target(settings, agent_deployment)
        except ValueError as exc:
            raise errors.UnprocessableError(str(exc)) from exc

    app = create_app(settings, function_target=target, make_target=make_target, require_auth=require_auth)
    uvicorn.run(app, host=args.host, port=args.port, loop="uvloop", http="httptools", log_level="warning")


if __name__ == "__main__":
    main()

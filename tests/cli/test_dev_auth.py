"""`langopen dev --auth` end to end: the installed command serving examples/langgraph.json on a migrated
test database, keys made with `langopen admin`, and the answers of POST /threads to no key, a wrong
key, a key of the right project and role, a viewer key, a revoked key and a key of another project."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
from pathlib import Path

import httpx
import pytest

from cli import dev
from cli import main as cli_main
from tests.cli.test_dev import START_TIMEOUT_SECONDS, DevProcess, _clean_env

ROOT = Path(__file__).resolve().parents[2]
LANGOPEN = ROOT / ".venv" / "bin" / "langopen"
CONFIG = ROOT / "examples" / "langgraph.json"
KEY = re.compile(r"key: (lo_[0-9a-f]{12}_[A-Za-z0-9_-]{43})$", re.MULTILINE)
MISSING = {"detail": "Missing authentication headers"}
INVALID = {"detail": "Invalid token"}


class AuthDevProcess(DevProcess):
    """`.venv/bin/langopen dev --auth [--project NAME]` on examples/langgraph.json; test_dev's
    DevProcess waits for readiness and stops it."""

    def __init__(self, workdir: Path, *, env: dict[str, str], project: str | None = None) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.output = workdir / "dev.out"
        argv = [
            str(LANGOPEN),
            "dev",
            "--config",
            str(CONFIG),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        argv += ["--auth"] + (["--project", project] if project is not None else [])
        with self.output.open("wb") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)


@pytest.fixture
def dev_env(pg_dsn: str, redis_url: str, redis_prefix: str) -> dict[str, str]:
    return _clean_env(DATABASE_URL=pg_dsn, REDIS_URL=redis_url, LANGOPEN_REDIS_PREFIX=redis_prefix)


def admin_cli(dsn: str, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """stdout of `langopen admin ARGS…` run in this process (it must succeed)."""
    capsys.readouterr()
    assert cli_main.main(["admin", "--database-url", dsn, *args]) == 0
    out, err = capsys.readouterr()
    assert err == "", err
    return out


def new_key(dsn: str, capsys: pytest.CaptureFixture[str], project: str, role: str) -> str:
    found = KEY.search(admin_cli(dsn, capsys, "create-key", "--project", project, "--role", role))
    assert found
    return found.group(1)


def create_thread(url: str, key: str | None) -> httpx.Response:
    headers = {"X-Api-Key": key} if key is not None else {}
    return httpx.post(f"{url}/threads", json={}, headers=headers, timeout=30)


@pytest.mark.e2e
@pytest.mark.timeout(240)
def test_dev_auth_requires_a_usable_key_with_the_permission(
    tmp_path: Path, pg_dsn: str, dev_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    server = AuthDevProcess(tmp_path, env=dev_env)
    try:
        server.wait_ready()
        created = subprocess.run(
            [str(LANGOPEN), "admin", "create-key", "--project", "default", "--role", "developer"],
            env=dev_env,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT_SECONDS,
            check=False,
        )
        assert (created.returncode, created.stderr) == (0, ""), created
        found = KEY.search(created.stdout)
        assert found, created.stdout
        developer = found.group(1)
        viewer = new_key(pg_dsn, capsys, "default", "viewer")
        revoked = new_key(pg_dsn, capsys, "default", "developer")
        prefix, _, secret = developer.removeprefix("lo_").partition("_")
        wrong = f"lo_{prefix}_{secret[::-1]}"  # the developer key's prefix, another secret

        missing = create_thread(server.url, None)
        assert (missing.status_code, missing.json()) == (401, MISSING)
        for bad in (wrong, "not-a-key"):
            refused = create_thread(server.url, bad)
            assert (refused.status_code, refused.json()) == (401, INVALID), bad

        thread = create_thread(server.url, developer)
        assert thread.status_code == 200, thread.text
        assert thread.json()["thread_id"]
        forbidden = create_thread(server.url, viewer)
        assert forbidden.status_code == 403, forbidden.text
        assert forbidden.json() == {"detail": "Forbidden: role 'viewer' lacks permission 'threads:write'"}
        read = httpx.get(f"{server.url}/threads/{thread.json()['thread_id']}", headers={"X-Api-Key": viewer})
        assert read.status_code == 200, read.text  # the viewer may read

        assert create_thread(server.url, revoked).status_code == 200  # usable until revoked
        admin_cli(pg_dsn, capsys, "revoke-key", revoked.split("_")[1])
        after = create_thread(server.url, revoked)
        assert (after.status_code, after.json()) == (401, INVALID)
    finally:
        code = server.stop(signal.SIGINT)
    assert code == dev.EXIT_OK, server.text()
    assert "API keys required; the default deployment belongs to project default" in server.text()


@pytest.mark.e2e
@pytest.mark.timeout(240)
def test_dev_auth_project_serves_only_that_projects_keys(
    tmp_path: Path, pg_dsn: str, dev_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    admin_cli(pg_dsn, capsys, "create-project", "default", "other")
    server = AuthDevProcess(tmp_path, env=dev_env, project="other")
    try:
        server.wait_ready()
        of_default = new_key(pg_dsn, capsys, "default", "developer")
        of_other = new_key(pg_dsn, capsys, "other", "developer")

        refused = create_thread(server.url, of_default)
        assert refused.status_code == 403, refused.text
        assert refused.json() == {"detail": "Forbidden: this key's project does not own deployment 'default'"}
        accepted = create_thread(server.url, of_other)
        assert accepted.status_code == 200, accepted.text
    finally:
        code = server.stop(signal.SIGTERM)
    assert code == dev.EXIT_OK, server.text()
    assert "the default deployment belongs to project other" in server.text()


@pytest.mark.timeout(120)
def test_dev_auth_with_an_ambiguous_project_fails_with_a_message(
    pg_dsn: str, dev_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    admin_cli(pg_dsn, capsys, "create-org", "acme")
    admin_cli(pg_dsn, capsys, "create-project", "acme", "default")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    argv = [str(LANGOPEN), "dev", "--config", str(CONFIG), "--port", str(port), "--auth"]
    done = subprocess.run(argv, env=dev_env, capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == dev.EXIT_FAILED, done
    assert (
        "error: --project: project name 'default' is ambiguous (organizations: default, acme)" in done.stderr
    )
    assert "Traceback" not in done.stderr
    assert "- API:" not in done.stdout

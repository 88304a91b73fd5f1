from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cli import dev
from cli import main as cli_main
from tests.cli.conftest import tcp_sockets_of, unix_sockets_of

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
START_TIMEOUT_SECONDS = 90.0
STOP_TIMEOUT_SECONDS = 60.0


@pytest.fixture
def app_dir(shared_dir: Path) -> Path:
    """A copy of the example app in a folder the embedded servers' account can reach."""
    target = shared_dir / "app"
    shutil.copytree(EXAMPLES, target, ignore=shutil.ignore_patterns(".langopen", "__pycache__"))
    return target


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli_main.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "dev" in out
    assert "migrate" in out


def test_dev_help_says_no_browser_is_ever_opened(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli_main.main(["dev", "--help"])
    assert "never opens a browser" in capsys.readouterr().out


def test_a_port_in_use_fails_before_anything_starts(
    app_dir: Path, busy_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["dev", "--config", str(app_dir / "langgraph.json"), "--port", str(busy_port), "--no-browser"]
    assert cli_main.main(argv) == dev.EXIT_FAILED
    assert f"port {busy_port} on 127.0.0.1 is already in use" in capsys.readouterr().err
    assert not (app_dir / ".langopen").exists()


def test_an_invalid_config_is_a_usage_error(app_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = app_dir / "langgraph.json"
    config.write_text(json.dumps({"graphs": {"g": "no-colon-here"}}))
    assert cli_main.main(["dev", "--config", str(config)]) == dev.EXIT_USAGE
    assert "is not a valid langgraph.json" in capsys.readouterr().err
    assert not (app_dir / ".langopen").exists()


def test_a_missing_config_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main.main(["dev", "--config", str(tmp_path / "langgraph.json")]) == dev.EXIT_USAGE
    assert "not found" in capsys.readouterr().err


def test_migrate_needs_a_database_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert cli_main.main(["migrate"]) == dev.EXIT_USAGE
    assert "--database-url" in capsys.readouterr().err


def test_migrate_reports_an_up_to_date_database(pg_dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main.main(["migrate", "--database-url", pg_dsn]) == dev.EXIT_OK
    assert "up to date" in capsys.readouterr().out


class DevProcess:
    """`langopen dev` in a subprocess, its output collected in a file."""

    def __init__(self, app_dir: Path, *, env: dict[str, str], data_dir: Path | None = None) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.output = app_dir / "dev.out"
        argv = [sys.executable, "-m", "cli.main", "dev", "--config", str(app_dir / "langgraph.json")]
        argv += ["--port", str(self.port), "--no-browser"]
        if data_dir is not None:
            argv += ["--data-dir", str(data_dir)]
        with self.output.open("wb") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while f"- API: {self.url}" not in self.text():
            assert self.proc.poll() is None, f"langopen dev exited early:\n{self.text()}"
            assert time.monotonic() < deadline, f"langopen dev not ready:\n{self.text()}"
            time.sleep(0.1)

    def stop(self, sig: signal.Signals) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise


def _clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("LANGOPEN_") and k not in ("DATABASE_URL", "REDIS_URL")
    }
    return {**env, "LANGOPEN_DEV_FUNCTION_IDLE_SECONDS": "30", **extra}


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.e2e
@pytest.mark.timeout(240)
def test_dev_serves_the_example_on_embedded_services_and_stops_them_in_order(
    app_dir: Path, shared_dir: Path
) -> None:
    # A data folder too deep to hold a socket (107 bytes at most on Linux): the sockets live in the temp dir.
    data_dir = app_dir / ("deep-" * 12) / "state"
    temp_dir = shared_dir / "tmp"
    temp_dir.mkdir(mode=0o755)
    server = DevProcess(app_dir, env=_clean_env(TMPDIR=str(temp_dir)), data_dir=data_dir)
    try:
        server.wait_ready()
        assert httpx.get(f"{server.url}/ok", timeout=10).status_code == 200
        postmaster = (data_dir / "postgres" / "postmaster.pid").read_text().split("\n")
        postgres_pid, postgres_sockets = int(postmaster[0]), Path(postmaster[4])
        redis_pid_text, _, redis_socket = (data_dir / "redis.pid").read_text().strip().partition(" ")
        redis_pid = int(redis_pid_text)
        assert len(str(data_dir / "postgres" / ".s.PGSQL.5432")) > 107
        assert postgres_sockets.parent == temp_dir
        assert Path(redis_socket).parent.parent == temp_dir
        assert set(unix_sockets_of(postgres_pid)) == {str(postgres_sockets / ".s.PGSQL.5432")}
        assert set(unix_sockets_of(redis_pid)) == {redis_socket}
        assert tcp_sockets_of(postgres_pid) == []
        assert tcp_sockets_of(redis_pid) == []
        run = httpx.post(
            f"{server.url}/runs/wait",
            json={"assistant_id": "pipeline", "input": {"text": " end  to end "}},
            timeout=120,
        )
        assert run.status_code == 200, run.text
        assert run.json() == {"text": "END TO END", "steps": ["clean", "shout"]}
    finally:
        code = server.stop(signal.SIGINT)
    output = server.text()
    assert code == 0, output
    assert not _is_running(postgres_pid)
    assert not _is_running(redis_pid)
    assert not (data_dir / "postgres" / "postmaster.pid").exists()  # a clean PostgreSQL shutdown
    assert list(temp_dir.iterdir()) == []  # the socket folders are gone
    order = ["function process", "embedded Redis stopped", "embedded PostgreSQL stopped"]
    positions = [output.rindex(marker) for marker in order]
    assert positions == sorted(positions), output


@pytest.mark.e2e
@pytest.mark.timeout(240)
def test_dev_uses_database_url_and_redis_url_when_set(app_dir: Path, pg_dsn: str, redis_url: str) -> None:
    env = _clean_env(
        DATABASE_URL=pg_dsn, REDIS_URL=redis_url, LANGOPEN_REDIS_PREFIX=f"langopen-test:{os.getpid()}"
    )
    server = DevProcess(app_dir, env=env)
    try:
        server.wait_ready()
        assert httpx.get(f"{server.url}/ok", timeout=10).status_code == 200
        found = httpx.post(f"{server.url}/assistants/search", json={}, timeout=10).json()
        assert {assistant["graph_id"] for assistant in found} == {"pipeline", "approval"}
    finally:
        code = server.stop(signal.SIGTERM)
    assert code == 0, server.text()
    assert not (app_dir / ".langopen").exists()


def test_an_address_not_on_this_machine_is_an_error(
    app_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["dev", "--config", str(app_dir / "langgraph.json"), "--host", "192.0.2.1"]  # TEST-NET-1
    assert cli_main.main(argv) == dev.EXIT_FAILED
    assert "cannot listen on 192.0.2.1:2024" in capsys.readouterr().err


def test_an_unreachable_database_fails_startup_with_a_hint(
    app_dir: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = int(sock.getsockname()[1])
    monkeypatch.setenv("DATABASE_URL", f"postgresql://postgres@127.0.0.1:{closed}/postgres")
    monkeypatch.setenv("REDIS_URL", redis_url)
    argv = ["dev", "--config", str(app_dir / "langgraph.json"), "--port", "0"]
    assert cli_main.main(argv) == dev.EXIT_FAILED
    assert "could not migrate the database" in capsys.readouterr().err
    assert not (app_dir / ".langopen").exists()


@pytest.mark.e2e
@pytest.mark.timeout(240)
def test_a_signal_during_startup_stops_what_was_started(app_dir: Path) -> None:
    data_dir = app_dir / "state"
    server = DevProcess(app_dir, env=_clean_env(), data_dir=data_dir)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while "creating the embedded PostgreSQL cluster" not in server.text():
        assert server.proc.poll() is None, server.text()
        assert time.monotonic() < deadline, server.text()
        time.sleep(0.02)
    code = server.stop(signal.SIGTERM)
    output = server.text()
    assert code == 0, output
    assert "SIGTERM received" in output
    assert "- API:" not in output
    assert not (data_dir / "postgres" / "postmaster.pid").exists()
    assert not (data_dir / "redis.pid").exists()

from __future__ import annotations

import asyncio
import os
import pwd
import socket
import stat
import subprocess
from pathlib import Path

import asyncpg
import pytest
import redis

from cli import embedded

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="only root runs the servers as another user")


def _pg(dsn: str, sql: str) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            return await conn.fetch(sql)
        finally:
            await conn.close()

    return asyncio.run(run())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _can_traverse(user: str, folder: Path) -> bool:
    probe = ["/bin/sh", "-c", 'test -x "$1"', "sh", str(folder)]
    return subprocess.run(probe, user=user, extra_groups=[], check=False).returncode == 0


def _started_pid(server: embedded.EmbeddedPostgres | embedded.EmbeddedRedis) -> int:
    assert server.pid is not None
    return server.pid


def test_postgres_keeps_data_across_restarts(
    shared_dir: Path, service_user: embedded.ServiceUser | None
) -> None:
    data = shared_dir / "data"
    first = embedded.EmbeddedPostgres(data, user=service_user)
    dsn = first.start()
    pid = _started_pid(first)
    try:
        assert dsn.startswith("postgresql://postgres:")
        assert "@127.0.0.1:" in dsn
        _pg(dsn, "CREATE TABLE kept (v text)")
        _pg(dsn, "INSERT INTO kept VALUES ('hello')")
    finally:
        first.stop()
    assert not _alive(pid)

    second = embedded.EmbeddedPostgres(data, user=service_user)
    dsn = second.start()
    try:
        assert [r["v"] for r in _pg(dsn, "SELECT v FROM kept")] == ["hello"]
    finally:
        second.stop()


def test_postgres_requires_its_password(shared_dir: Path, service_user: embedded.ServiceUser | None) -> None:
    server = embedded.EmbeddedPostgres(shared_dir / "data", user=service_user)
    dsn = server.start()
    try:
        password = server.password_path.read_text().strip()
        assert stat.S_IMODE(server.password_path.stat().st_mode) == 0o600
        with pytest.raises(asyncpg.InvalidPasswordError):
            _pg(dsn.replace(password, "wrong"), "SELECT 1")
    finally:
        server.stop()


@needs_root
def test_postgres_runs_as_the_service_user_under_root(
    shared_dir: Path, service_user: embedded.ServiceUser | None
) -> None:
    assert service_user is not None
    server = embedded.EmbeddedPostgres(shared_dir / "data", user=service_user)
    server.start()
    try:
        assert Path(f"/proc/{server.pid}").stat().st_uid == service_user.uid
        assert (shared_dir / "data" / "postgres").stat().st_uid == service_user.uid
    finally:
        server.stop()


def test_postgres_stops_a_server_left_running_by_an_earlier_process(
    shared_dir: Path, service_user: embedded.ServiceUser | None
) -> None:
    # `earlier` plays a langopen dev that was SIGKILLed: its server outlived it.
    earlier = embedded.EmbeddedPostgres(shared_dir / "data", user=service_user)
    earlier.start()
    leftover = _started_pid(earlier)
    later = embedded.EmbeddedPostgres(shared_dir / "data", user=service_user)
    try:
        dsn = later.start()
        assert earlier._proc is not None
        assert earlier._proc.wait(5) == 0  # fast shutdown, not a kill
        assert later.pid != leftover
        assert _pg(dsn, "SELECT 1 AS one")[0]["one"] == 1
    finally:
        later.stop()
        earlier.stop()


def test_postgres_redoes_an_interrupted_initdb(
    shared_dir: Path, service_user: embedded.ServiceUser | None
) -> None:
    data = shared_dir / "data"
    (data / "postgres.init").mkdir(parents=True)
    (data / "postgres.init" / "half-written").write_text("x")
    server = embedded.EmbeddedPostgres(data, user=service_user)
    try:
        server.start()
        assert (data / "postgres" / "PG_VERSION").exists()
        assert not (data / "postgres.init").exists()
    finally:
        server.stop()


def test_postgres_refuses_a_cluster_whose_password_file_is_gone(
    shared_dir: Path, service_user: embedded.ServiceUser | None
) -> None:
    server = embedded.EmbeddedPostgres(shared_dir / "data", user=service_user)
    server.start()
    server.stop()
    server.password_path.unlink()
    with pytest.raises(embedded.EmbeddedServiceError, match=r"postgres\.password is missing"):
        server.start()


def test_redis_serves_with_a_password_and_restarts(
    shared_dir: Path, service_user: embedded.ServiceUser | None
) -> None:
    server = embedded.EmbeddedRedis(shared_dir / "data", user=service_user)
    url = server.start()
    pid = _started_pid(server)
    try:
        client = redis.Redis.from_url(url, socket_timeout=5)
        assert client.set("k", "v")
        assert client.get("k") == b"v"
        client.close()
        host_port = url.rsplit("@", 1)[1].split("/")[0]
        anonymous = redis.Redis.from_url(f"redis://{host_port}/0", socket_timeout=5)
        with pytest.raises(redis.AuthenticationError):
            anonymous.get("k")
        anonymous.close()
    finally:
        server.stop()
    assert not _alive(pid)
    assert not server.pid_path.exists()

    url = server.start()
    try:
        client = redis.Redis.from_url(url, socket_timeout=5)
        assert client.ping()
        assert client.get("k") is None  # nothing is persisted
        client.close()
    finally:
        server.stop()


def test_redis_stops_a_server_left_running_by_an_earlier_process(
    shared_dir: Path, service_user: embedded.ServiceUser | None
) -> None:
    earlier = embedded.EmbeddedRedis(shared_dir / "data", user=service_user)
    earlier.start()
    later = embedded.EmbeddedRedis(shared_dir / "data", user=service_user)
    try:
        later.start()
        assert earlier._proc is not None
        assert earlier._proc.wait(5) == 0
    finally:
        later.stop()
        earlier.stop()


def test_data_folder_is_locked_to_one_process(shared_dir: Path) -> None:
    first = embedded.DataFolder(shared_dir / "data")
    second = embedded.DataFolder(shared_dir / "data")
    first.lock()
    try:
        with pytest.raises(embedded.DataFolderBusyError, match=f"pid {os.getpid()}"):
            second.lock()
    finally:
        first.unlock()
    second.lock()
    second.unlock()
    assert (shared_dir / "data" / ".gitignore").read_text().endswith("*\n")


@needs_root
def test_grants_search_permission_to_the_service_user_alone(
    shared_dir: Path, service_user: embedded.ServiceUser | None
) -> None:
    assert service_user is not None
    private = shared_dir / "private"
    private.mkdir(mode=0o700)
    inner = private / "inner"
    inner.mkdir(mode=0o755)
    assert not _can_traverse(service_user.name, inner)

    embedded.ensure_reachable(service_user, inner)

    assert _can_traverse(service_user.name, inner)
    assert not _can_traverse("nobody", inner)
    assert stat.S_IMODE(private.stat().st_mode) & 0o007 == 0  # no access for others


@needs_root
def test_postgres_starts_in_a_private_folder_of_root(
    shared_dir: Path, service_user: embedded.ServiceUser | None
) -> None:
    private = shared_dir / "private"
    private.mkdir(mode=0o700)
    server = embedded.EmbeddedPostgres(private / "data", user=service_user)
    try:
        dsn = server.start()
        assert _pg(dsn, "SELECT 1 AS one")[0]["one"] == 1
    finally:
        server.stop()


def test_free_port_is_bindable() -> None:
    port = embedded.free_port()
    with socket.socket() as sock:
        sock.bind((embedded.LOOPBACK, port))


def test_urls_are_refused_while_not_running(
    shared_dir: Path, service_user: embedded.ServiceUser | None
) -> None:
    with pytest.raises(embedded.EmbeddedServiceError, match="PostgreSQL is not running"):
        _ = embedded.EmbeddedPostgres(shared_dir, user=service_user).dsn
    with pytest.raises(embedded.EmbeddedServiceError, match="Redis is not running"):
        _ = embedded.EmbeddedRedis(shared_dir, user=service_user).url


def test_postgres_start_failure_reports_the_server_log(
    shared_dir: Path, service_user: embedded.ServiceUser | None
) -> None:
    server = embedded.EmbeddedPostgres(shared_dir / "data", user=service_user)
    server.start()
    server.stop()
    with (server.pgdata / "postgresql.auto.conf").open("a") as conf:
        conf.write("max_connections = 'many'\n")
    with pytest.raises(
        embedded.EmbeddedServiceError, match=r"(?s)PostgreSQL exited with code 1:.*max_connections"
    ):
        server.start()


def test_a_port_lost_to_another_process_is_retried(
    shared_dir: Path, service_user: embedded.ServiceUser | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as taken:
        taken.bind((embedded.LOOPBACK, 0))
        taken.listen()
        busy = int(taken.getsockname()[1])
        ports = iter([busy, busy])
        real_free_port = embedded.free_port
        monkeypatch.setattr(embedded, "free_port", lambda: next(ports, None) or real_free_port())
        postgres = embedded.EmbeddedPostgres(shared_dir / "data", user=service_user)
        redis_server = embedded.EmbeddedRedis(shared_dir / "data", user=service_user)
        try:
            assert f":{busy}/" not in postgres.start()
            ports = iter([busy])
            assert f":{busy}/" not in redis_server.start()
        finally:
            redis_server.stop()
            postgres.stop()


def test_postgres_not_ready_in_time_is_stopped(
    shared_dir: Path, service_user: embedded.ServiceUser | None
) -> None:
    first = embedded.EmbeddedPostgres(shared_dir / "data", user=service_user)
    first.start()  # create the cluster, so that only the start itself is timed
    first.stop()
    hasty = embedded.EmbeddedPostgres(shared_dir / "data", user=service_user, start_timeout_seconds=0.0)
    with pytest.raises(embedded.EmbeddedServiceError, match="PostgreSQL not ready after 0 s"):
        hasty.start()
    assert not (shared_dir / "data" / "postgres" / "postmaster.pid").exists()


def test_redis_gives_up_after_losing_the_port_race_every_time(
    shared_dir: Path, service_user: embedded.ServiceUser | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as taken:
        taken.bind((embedded.LOOPBACK, 0))
        taken.listen()
        busy = int(taken.getsockname()[1])
        monkeypatch.setattr(embedded, "free_port", lambda: busy)
        server = embedded.EmbeddedRedis(shared_dir / "data", user=service_user)
        with pytest.raises(embedded.EmbeddedServiceError, match="lost the race for a free port 3 times"):
            server.start()
    assert server.pid is None


@needs_root
def test_grants_merge_with_an_existing_acl(
    shared_dir: Path, service_user: embedded.ServiceUser | None
) -> None:
    assert service_user is not None
    private = shared_dir / "private"
    private.mkdir(mode=0o700)
    embedded.ensure_reachable(service_user, private)
    nobody = pwd.getpwnam("nobody")
    embedded.ensure_reachable(embedded.ServiceUser("nobody", nobody.pw_uid, nobody.pw_gid), private)
    assert _can_traverse(service_user.name, private)
    assert _can_traverse("nobody", private)


@needs_root
def test_creates_the_service_user_when_missing() -> None:
    name = f"lo-test-{os.getpid() % 100000}"
    try:
        user = embedded.service_user(name)
        assert user is not None
        entry = pwd.getpwnam(name)
        assert (user.uid, user.gid) == (entry.pw_uid, entry.pw_gid)
        assert user.uid != 0
        assert embedded.service_user(name) == user  # found, not created twice
    finally:
        subprocess.run(["userdel", name], check=False, capture_output=True)


@needs_root
def test_refuses_root_as_the_service_user() -> None:
    with pytest.raises(embedded.EmbeddedServiceError, match="uid 0"):
        embedded.service_user("root")

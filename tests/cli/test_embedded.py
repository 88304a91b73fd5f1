from __future__ import annotations

import asyncio
import os
import pwd
import socket
import stat
import subprocess
import tempfile
from pathlib import Path

import asyncpg
import psycopg
import pytest
import redis
import redis.asyncio

from cli import embedded
from tests.cli.conftest import tcp_sockets_of, unix_sockets_of

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


def _socket_dir(server: embedded.EmbeddedPostgres | embedded.EmbeddedRedis) -> Path:
    assert server.socket_path is not None
    return server.socket_path.parent


def _assert_private_socket_dir(folder: Path, user: embedded.ServiceUser | None) -> None:
    info = folder.stat()
    assert stat.S_IMODE(info.st_mode) == 0o700
    assert info.st_uid == (user.uid if user is not None else os.getuid())
    assert folder.name.startswith("langopen-")


def test_postgres_keeps_data_across_restarts(
    shared_dir: Path, socket_parent: Path, service_user: embedded.ServiceUser | None
) -> None:
    data = shared_dir / "data"
    first = embedded.EmbeddedPostgres(data, user=service_user)
    dsn = first.start()
    pid = _started_pid(first)
    first_socket_dir = _socket_dir(first)
    try:
        assert dsn.startswith("postgresql://postgres:")
        assert dsn.endswith(f"@/postgres?host={first_socket_dir}&port=5432")
        _pg(dsn, "CREATE TABLE kept (v text)")
        _pg(dsn, "INSERT INTO kept VALUES ('hello')")
    finally:
        first.stop()
    assert not _alive(pid)
    assert not first_socket_dir.exists()

    second = embedded.EmbeddedPostgres(data, user=service_user)
    dsn = second.start()
    try:
        assert _socket_dir(second) != first_socket_dir  # a new folder at every start
        assert [r["v"] for r in _pg(dsn, "SELECT v FROM kept")] == ["hello"]
    finally:
        second.stop()
    assert list(socket_parent.iterdir()) == []


def test_postgres_listens_on_a_private_unix_socket_and_not_on_tcp(
    shared_dir: Path, socket_parent: Path, service_user: embedded.ServiceUser | None
) -> None:
    server = embedded.EmbeddedPostgres(shared_dir / "data", user=service_user)
    server.start()
    try:
        pid = _started_pid(server)
        folder = _socket_dir(server)
        assert folder.parent == socket_parent
        _assert_private_socket_dir(folder, service_user)
        assert set(unix_sockets_of(pid)) == {str(folder / ".s.PGSQL.5432")}
        assert tcp_sockets_of(pid) == []
    finally:
        server.stop()


def test_postgres_dsn_works_with_asyncpg_psycopg_and_psql(
    shared_dir: Path, service_user: embedded.ServiceUser | None
) -> None:
    server = embedded.EmbeddedPostgres(shared_dir / "data", user=service_user)
    dsn = server.start()
    try:
        # Over the socket, PostgreSQL reports no client address and port -1.
        query = "SELECT client_port FROM pg_stat_activity WHERE pid = pg_backend_pid()"
        assert _pg(dsn, query)[0]["client_port"] == -1

        async def with_async_psycopg() -> object:
            async with await psycopg.AsyncConnection.connect(dsn) as conn:
                row = await (await conn.execute(query)).fetchone()
                return row[0] if row else None

        assert asyncio.run(with_async_psycopg()) == -1
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SELECT current_user").fetchone() == ("postgres",)
        psql = embedded.postgres_home() / "bin" / "psql"
        result = subprocess.run(
            [str(psql), dsn, "-Atc", query], capture_output=True, text=True, check=False, timeout=30
        )
        assert (result.returncode, result.stdout.strip()) == (0, "-1"), result.stderr
    finally:
        server.stop()


def test_postgres_requires_its_password(shared_dir: Path, service_user: embedded.ServiceUser | None) -> None:
    server = embedded.EmbeddedPostgres(shared_dir / "data", user=service_user)
    dsn = server.start()
    try:
        password = server.password_path.read_text().strip()
        assert stat.S_IMODE(server.password_path.stat().st_mode) == 0o600
        with pytest.raises(asyncpg.InvalidPasswordError):
            _pg(dsn.replace(password, "wrong"), "SELECT 1")
        # `local` connections need the password as much as TCP ones did (initdb --auth=scram-sha-256).
        with pytest.raises(psycopg.OperationalError, match="no password supplied"):
            psycopg.connect(dsn.replace(f":{password}@", "@"), connect_timeout=10).close()
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
    leftover_socket_dir = _socket_dir(earlier)
    later = embedded.EmbeddedPostgres(shared_dir / "data", user=service_user)
    try:
        dsn = later.start()
        assert earlier._proc is not None
        assert earlier._proc.wait(5) == 0  # fast shutdown, not a kill
        assert later.pid != leftover
        assert not leftover_socket_dir.exists()
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
    shared_dir: Path, socket_parent: Path, service_user: embedded.ServiceUser | None
) -> None:
    server = embedded.EmbeddedRedis(shared_dir / "data", user=service_user)
    url = server.start()
    pid = _started_pid(server)
    first_socket_dir = _socket_dir(server)
    try:
        client = redis.Redis.from_url(url, socket_timeout=5)
        assert client.set("k", "v")
        assert client.get("k") == b"v"
        client.close()
        anonymous = redis.Redis(unix_socket_path=str(server.socket_path), socket_timeout=5)
        with pytest.raises(redis.AuthenticationError):
            anonymous.get("k")
        anonymous.close()
    finally:
        server.stop()
    assert not _alive(pid)
    assert not server.pid_path.exists()
    assert not first_socket_dir.exists()

    url = server.start()
    try:
        client = redis.Redis.from_url(url, socket_timeout=5)
        assert client.ping()
        assert client.get("k") is None  # nothing is persisted
        client.close()
    finally:
        server.stop()
    assert list(socket_parent.iterdir()) == []


def test_redis_listens_on_a_private_unix_socket_and_not_on_tcp(
    shared_dir: Path, socket_parent: Path, service_user: embedded.ServiceUser | None
) -> None:
    server = embedded.EmbeddedRedis(shared_dir / "data", user=service_user)
    url = server.start()
    try:
        pid = _started_pid(server)
        folder = _socket_dir(server)
        assert folder.parent == socket_parent
        assert url.startswith("unix://:")
        assert url.endswith(f"@{folder}/redis.sock?db=0")
        _assert_private_socket_dir(folder, service_user)
        assert stat.S_IMODE((folder / "redis.sock").stat().st_mode) == 0o700
        assert set(unix_sockets_of(pid)) == {str(folder / "redis.sock")}
        assert tcp_sockets_of(pid) == []
        assert server.pid_path.read_text() == f"{pid} {folder / 'redis.sock'}\n"
    finally:
        server.stop()


def test_the_tcp_probe_sees_a_listener() -> None:
    # The check the tests above rely on to show no TCP listener, shown to find one.
    with socket.socket() as sock:
        sock.bind((embedded.LOOPBACK, 0))
        sock.listen()
        port = int(sock.getsockname()[1])
        assert f"0100007F:{port:04X}" in tcp_sockets_of(os.getpid())


def test_redis_url_works_with_the_sync_and_asyncio_clients(
    shared_dir: Path, service_user: embedded.ServiceUser | None
) -> None:
    server = embedded.EmbeddedRedis(shared_dir / "data", user=service_user)
    url = server.start()
    try:
        # As the router and the function process build their clients; db 1 as a per-database URL would.
        client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5.0)
        assert client.set("k", "sync")
        client.close()
        other_db = redis.Redis.from_url(url.replace("?db=0", "?db=1"), socket_timeout=5)
        assert other_db.get("k") is None
        other_db.close()

        async def with_asyncio() -> bytes | str | None:
            aclient = redis.asyncio.Redis.from_url(url, socket_timeout=None, socket_connect_timeout=5.0)
            try:
                return await aclient.get("k")
            finally:
                await aclient.aclose()

        assert asyncio.run(with_asyncio()) == b"sync"
    finally:
        server.stop()


def test_servers_in_a_data_folder_too_deep_for_a_socket_path_start(
    shared_dir: Path, service_user: embedded.ServiceUser | None
) -> None:
    data = shared_dir / ("deep-" * 12) / ("folder-" * 10) / ".langopen"
    assert len(str(data / "postgres" / ".s.PGSQL.5432")) > 107
    postgres = embedded.EmbeddedPostgres(data, user=service_user)
    redis_server = embedded.EmbeddedRedis(data, user=service_user)
    try:
        assert _pg(postgres.start(), "SELECT 1 AS one")[0]["one"] == 1
        client = redis.Redis.from_url(redis_server.start(), socket_timeout=5)
        assert client.ping()
        client.close()
    finally:
        redis_server.stop()
        postgres.stop()


def test_a_temp_dir_too_deep_for_a_socket_path_gives_way_to_tmp(
    shared_dir: Path, monkeypatch: pytest.MonkeyPatch, service_user: embedded.ServiceUser | None
) -> None:
    deep = shared_dir / ("t" * 100)
    deep.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(deep))
    folder = embedded.make_socket_dir("redis", "redis.sock", service_user)
    try:
        assert folder.parent == Path("/tmp")
        _assert_private_socket_dir(folder, service_user)
    finally:
        embedded.remove_socket_dir(folder)
    assert not folder.exists()
    monkeypatch.setattr(tempfile, "tempdir", str(shared_dir))
    folder = embedded.make_socket_dir("redis", "redis.sock", service_user)
    assert folder.parent == shared_dir
    embedded.remove_socket_dir(folder)


def test_only_socket_folders_are_removed(shared_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    others = [shared_dir / "langopen-data", shared_dir / "langopen-pg-too-long-a-name", shared_dir / "tmp"]
    for other in others:
        other.mkdir()
        embedded.remove_socket_dir(other)
    monkeypatch.chdir(shared_dir)
    (shared_dir / "langopen-pg-relative").mkdir()
    embedded.remove_socket_dir(Path("langopen-pg-relative"))
    assert all(folder.exists() for folder in [*others, shared_dir / "langopen-pg-relative"])
    (shared_dir / "langopen-redis-abcd_123").mkdir()
    embedded.remove_socket_dir(shared_dir / "langopen-redis-abcd_123")
    assert not (shared_dir / "langopen-redis-abcd_123").exists()
    embedded.remove_socket_dir(shared_dir / "langopen-redis-abcd_123")  # already gone: nothing to do


def test_redis_stops_a_server_left_running_by_an_earlier_process(
    shared_dir: Path, service_user: embedded.ServiceUser | None
) -> None:
    earlier = embedded.EmbeddedRedis(shared_dir / "data", user=service_user)
    earlier.start()
    leftover_socket_dir = _socket_dir(earlier)
    later = embedded.EmbeddedRedis(shared_dir / "data", user=service_user)
    try:
        later.start()
        assert earlier._proc is not None
        assert earlier._proc.wait(5) == 0
        assert not leftover_socket_dir.exists()
    finally:
        later.stop()
        earlier.stop()


def test_socket_folders_of_servers_that_died_with_langopen_are_removed(
    shared_dir: Path, socket_parent: Path, service_user: embedded.ServiceUser | None
) -> None:
    # Killed together with a `langopen dev`: no server to stop, only the socket folders and pid files.
    data = shared_dir / "data"
    postgres = embedded.EmbeddedPostgres(data, user=service_user)
    redis_server = embedded.EmbeddedRedis(data, user=service_user)
    postgres.start()
    redis_server.start()
    pg_folder, redis_folder = _socket_dir(postgres), _socket_dir(redis_server)
    for proc in (postgres._proc, redis_server._proc):
        assert proc is not None
        proc.kill()
        proc.wait(5)
    assert pg_folder.exists()
    assert redis_folder.exists()
    postgres = embedded.EmbeddedPostgres(data, user=service_user)
    redis_server = embedded.EmbeddedRedis(data, user=service_user)
    try:
        postgres.start()
        redis_server.start()
        assert not pg_folder.exists()
        assert not redis_folder.exists()
        assert sorted(socket_parent.iterdir()) == sorted([_socket_dir(postgres), _socket_dir(redis_server)])
    finally:
        redis_server.stop()
        postgres.stop()


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
    shared_dir: Path, socket_parent: Path, service_user: embedded.ServiceUser | None
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
    assert list(socket_parent.iterdir()) == []


def test_postgres_not_ready_in_time_is_stopped(
    shared_dir: Path, socket_parent: Path, service_user: embedded.ServiceUser | None
) -> None:
    first = embedded.EmbeddedPostgres(shared_dir / "data", user=service_user)
    first.start()  # create the cluster, so that only the start itself is timed
    first.stop()
    hasty = embedded.EmbeddedPostgres(shared_dir / "data", user=service_user, start_timeout_seconds=0.0)
    with pytest.raises(embedded.EmbeddedServiceError, match="PostgreSQL not ready after 0 s"):
        hasty.start()
    assert not (shared_dir / "data" / "postgres" / "postmaster.pid").exists()
    assert list(socket_parent.iterdir()) == []


def test_redis_not_ready_in_time_is_stopped(
    shared_dir: Path,
    socket_parent: Path,
    service_user: embedded.ServiceUser | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A real Redis can listen before the first readiness check, even with no time allowed (seen in CI), so
    # the server here is one that never listens: the timeout is then the only way out.
    silent = shared_dir / "bin" / "redis-server"
    silent.parent.mkdir(mode=0o755)
    silent.write_text("#!/bin/sh\nexec sleep 60\n")
    silent.chmod(0o755)
    monkeypatch.setattr(embedded, "redis_server_binary", lambda: silent)
    hasty = embedded.EmbeddedRedis(shared_dir / "data", user=service_user, start_timeout_seconds=0.0)
    with pytest.raises(embedded.EmbeddedServiceError, match="Redis not ready after 0 s"):
        hasty.start()
    assert hasty.pid is None
    assert not hasty.pid_path.exists()
    assert list(socket_parent.iterdir()) == []


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

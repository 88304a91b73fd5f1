"""Fixtures for the `langopen` command's tests: folders the embedded servers' account can reach, and what
sockets a server holds (read from /proc, so that a TCP listener cannot hide)."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli import embedded

SERVICE_USER = "langopen"
TCP_TABLES = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))
UNIX_TABLE = Path("/proc/net/unix")


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A fresh folder under the system temp dir with mode 0755.

    pytest's own `tmp_path` sits below `/tmp/pytest-of-<user>` (mode 0700), which the unprivileged account
    the embedded servers use under root could reach only through an ACL grant on pytest's folder.
    """
    path = Path(tempfile.mkdtemp(prefix="langopen-test-"))
    path.chmod(0o755)
    try:
        yield path
        leaked = _processes_inside(path)
        for pid in leaked:
            os.kill(pid, signal.SIGKILL)
        assert not leaked, f"the test left processes running in {path}: {leaked}"
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def socket_parent(shared_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temp dir the embedded servers' socket folders go to, private to the test (empty when it ends)."""
    parent = shared_dir / "tmp"
    parent.mkdir(mode=0o755)
    monkeypatch.setattr(tempfile, "tempdir", str(parent))
    return parent


def _processes_inside(folder: Path) -> list[int]:
    """Pids of processes whose working directory is in `folder` (the embedded servers run there)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cwd = (entry / "cwd").readlink()
            except OSError:  # gone meanwhile, or a kernel thread
                continue
            if cwd.is_relative_to(folder):
                found.append(int(entry.name))
    return found


def _session_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # pid (comm) state ppid pgrp session …; comm may hold spaces and parentheses, so split after its end.
    return int(stat.rsplit(")", 1)[1].split()[3])


def _socket_inodes_of_session(pid: int) -> set[str]:
    """Inodes of the sockets open in every process of `pid`'s session (a server and its children)."""
    session = _session_of(pid)
    assert session is not None, f"pid {pid} is not running"
    inodes: set[str] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or _session_of(int(entry.name)) != session:
            continue
        try:
            fds = list((entry / "fd").iterdir())
        except OSError:  # gone meanwhile
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:  # closed meanwhile (listing /proc/self/fd lists the listing's own descriptor)
                continue
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    return inodes


def tcp_sockets_of(pid: int) -> list[str]:
    """Local addresses (hex, as /proc/net/tcp shows them) of the TCP sockets `pid`'s session holds."""
    inodes = _socket_inodes_of_session(pid)
    found = []
    for table in TCP_TABLES:
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                found.append(fields[1])
    return found


def unix_sockets_of(pid: int) -> list[str]:
    """Paths of the Unix sockets `pid`'s session holds (a listener's accepted connections bear its path too)."""
    inodes = _socket_inodes_of_session(pid)
    found = []
    for line in UNIX_TABLE.read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 8 and fields[6] in inodes:
            found.append(fields[7])
    return found


@pytest.fixture(scope="session")
def service_user() -> embedded.ServiceUser | None:
    return embedded.service_user(SERVICE_USER)

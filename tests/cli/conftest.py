"""Fixtures for the `langopen` command's tests: folders the embedded servers' account can reach."""

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


@pytest.fixture(scope="session")
def service_user() -> embedded.ServiceUser | None:
    return embedded.service_user(SERVICE_USER)

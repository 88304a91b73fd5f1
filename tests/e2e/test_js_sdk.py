"""The JavaScript SDK suite (tests/js, `@langchain/langgraph-sdk` under Node's own test runner) against
the session's LangOpen stack: one pytest test per `*.test.mjs` file, failing with Node's output.

`npm ci` runs first when tests/js/node_modules is missing (a fresh clone; CI installs it in
`.ci/run`). The only reason to skip is a machine without `node`."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.e2e.stack import ROOT, Stack

pytestmark = pytest.mark.e2e

JS_DIR = ROOT / "tests" / "js"
SDK_PACKAGE = JS_DIR / "node_modules" / "@langchain" / "langgraph-sdk" / "package.json"
SUITES = sorted(path.name for path in JS_DIR.glob("*.test.mjs"))
NPM_CI_TIMEOUT_SECONDS = 300
SUITE_TIMEOUT_SECONDS = 240
# Node's runner cancels a single test after this long, well inside the suite's own timeout.
TEST_TIMEOUT_MS = 60_000
# The spec reporter's summary lines, e.g. "<info sign> pass 12" and "<info sign> fail 0".
SUMMARY = re.compile(r"^\S+ (pass|fail) (\d+)$", re.MULTILINE)


def node_binary() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the JavaScript SDK suite needs Node.js 20 or newer")
    return node


@pytest.fixture(scope="session")
def js_dependencies() -> None:
    """tests/js/node_modules from package-lock.json; installed once, under a lock, so xdist workers
    of one session never run `npm ci` over each other."""
    node_binary()
    lock_path = Path(tempfile.gettempdir()) / f"langopen-npm-ci-{os.getuid()}.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not SDK_PACKAGE.exists():
                npm = shutil.which("npm")
                assert npm is not None, "node is installed but npm is not: cannot install tests/js"
                result = subprocess.run(
                    [npm, "ci", "--no-audit", "--no-fund", "--prefix", str(JS_DIR)],
                    capture_output=True,
                    text=True,
                    timeout=NPM_CI_TIMEOUT_SECONDS,
                    check=False,
                )
                assert result.returncode == 0, f"npm ci failed:\n{result.stdout}\n{result.stderr}"
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def test_the_suite_files_are_found() -> None:
    assert "runs.test.mjs" in SUITES, f"no JS suites under {JS_DIR}: {SUITES}"


@pytest.mark.timeout(SUITE_TIMEOUT_SECONDS + 30)
@pytest.mark.parametrize("suite", SUITES)
def test_js_sdk_suite(suite: str, stack: Stack, js_dependencies: None) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}  # the SDK reads these
    env["LANGOPEN_API_URL"] = stack.url
    env["NO_COLOR"] = "1"
    try:
        result = subprocess.run(
            [
                node_binary(),
                "--test",
                "--test-reporter=spec",
                f"--test-timeout={TEST_TIMEOUT_MS}",
                suite,
            ],
            cwd=JS_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=SUITE_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        partial = b"".join(part for part in (exc.stdout, exc.stderr) if isinstance(part, bytes))
        pytest.fail(f"node --test {suite} did not finish in {SUITE_TIMEOUT_SECONDS}s:\n{partial.decode()}")
    output = f"{result.stdout}\n{result.stderr}"
    if result.returncode != 0:
        pytest.fail(f"node --test {suite} failed (exit {result.returncode}):\n{output}\n{stack.logs()}")
    counts = {name: int(count) for name, count in SUMMARY.findall(result.stdout)}
    assert counts.get("fail") == 0, output
    assert counts.get("pass", 0) > 0, f"no test ran:\n{output}"

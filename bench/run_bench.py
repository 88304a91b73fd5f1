"""Benchmark driver: LangOpen vs the official ``langgraph dev`` server, through langgraph-sdk.

Phases, per target (the server is started fresh for each target unless a URL is given):

* sequential: one ``get_sync_client``; ``--warmup`` unmeasured iterations, then ``--n`` measured ones.
* concurrent: ``--clients`` asyncio tasks, each with its own ``get_client``; ``--concurrent-warmup``
  unmeasured iterations each, then all start together and do ``--per-client`` measured iterations.

One iteration = ``threads.create()`` + ``runs.wait(thread_id, "agent", input={"n": i})``; the output must
equal ``{"n": (i + 1) * 2, "trace": ["a", "b"]}``. Percentiles are nearest-rank.

Usage (from the repository root): ``bench/run.sh [--target both] ...`` or ``.venv/bin/python -m bench.run_bench``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import math
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import Any

if __package__ in (None, ""):  # `python bench/run_bench.py`: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from langgraph_sdk import get_client, get_sync_client

from bench import langopen, official
from bench._server import REPO_DIR, RESULTS_DIR, ServerError, ServerHandle, check_ok, fetch_info

ASSISTANT_ID = "agent"
TARGETS = ("official", "langopen")


def expected_output(i: int) -> dict[str, Any]:
    return {"n": (i + 1) * 2, "trace": ["a", "b"]}


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (the smallest value with at least p% of the samples at or below it)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100.0 * len(ordered)))
    return ordered[rank - 1]


def _r(x: float | None, nd: int = 2) -> float | None:
    return None if x is None else round(x, nd)


@dataclass
class PhaseResult:
    phase: str
    planned: int
    clients: int
    call_ms: list[float] = field(default_factory=list)
    iter_ms: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    aborted: str | None = None

    def record_error(self, msg: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(msg[:500])

    @property
    def ok(self) -> int:
        return len(self.iter_ms)

    @property
    def runs_per_s(self) -> float | None:
        return self.ok / self.wall_s if self.wall_s > 0 else None

    def summary(self) -> dict[str, Any]:
        return {
            "runs_ok": self.ok,
            "runs_planned": self.planned,
            "errors": self.errors,
            "clients": self.clients,
            "wall_s": _r(self.wall_s, 3),
            "runs_per_s": _r(self.runs_per_s),
            "call_p50_ms": _r(percentile(self.call_ms, 50)),
            "call_p95_ms": _r(percentile(self.call_ms, 95)),
            "iter_p50_ms": _r(percentile(self.iter_ms, 50)),
            "iter_p95_ms": _r(percentile(self.iter_ms, 95)),
            "call_max_ms": _r(max(self.call_ms, default=None)),
            "iter_max_ms": _r(max(self.iter_ms, default=None)),
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            **self.summary(),
            "aborted": self.aborted,
            "error_samples": self.error_samples,
            "samples": {
                "call_ms": [round(x, 3) for x in self.call_ms],
                "iter_ms": [round(x, 3) for x in self.iter_ms],
            },
        }


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def run_sequential(url: str, n: int, warmup: int, max_errors: int) -> PhaseResult:
    res = PhaseResult(phase="sequential", planned=n, clients=1)
    with get_sync_client(url=url, api_key=None) as client:
        for i in range(warmup):
            thread = client.threads.create()
            out = client.runs.wait(thread["thread_id"], ASSISTANT_ID, input={"n": i})
            if out != expected_output(i):
                raise RuntimeError(f"warm-up {i}: unexpected output {out!r}")
        loop_start = time.perf_counter()
        for i in range(n):
            t0 = time.perf_counter()
            try:
                thread = client.threads.create()
                t1 = time.perf_counter()
                out = client.runs.wait(thread["thread_id"], ASSISTANT_ID, input={"n": i})
                t2 = time.perf_counter()
            except Exception as exc:
                res.record_error(f"iteration {i}: {_describe(exc)}")
            else:
                if out == expected_output(i):
                    res.call_ms.append((t2 - t1) * 1000)
                    res.iter_ms.append((t2 - t0) * 1000)
                else:
                    res.record_error(f"iteration {i}: unexpected output {out!r}")
            if res.errors > max_errors:
                res.aborted = f"more than {max_errors} errors"
                break
        res.wall_s = time.perf_counter() - loop_start
    return res


async def _concurrent(url: str, clients: int, per_client: int, warmup: int, max_errors: int) -> PhaseResult:
    res = PhaseResult(phase="concurrent", planned=clients * per_client, clients=clients)
    barrier = asyncio.Barrier(clients)
    starts: list[float] = []
    ends: list[float] = []

    async def worker(cid: int) -> None:
        async with get_client(url=url, api_key=None) as client:
            for w in range(warmup):
                i = -(cid * max(warmup, 1) + w) - 1  # negative inputs: distinct from the measured ones
                thread = await client.threads.create()
                out = await client.runs.wait(thread["thread_id"], ASSISTANT_ID, input={"n": i})
                if out != expected_output(i):
                    raise RuntimeError(f"client {cid} warm-up: unexpected output {out!r}")
            await barrier.wait()
            starts.append(time.perf_counter())
            for j in range(per_client):
                if res.errors > max_errors:
                    res.aborted = f"more than {max_errors} errors"
                    break
                i = cid * per_client + j
                t0 = time.perf_counter()
                try:
                    thread = await client.threads.create()
                    t1 = time.perf_counter()
                    out = await client.runs.wait(thread["thread_id"], ASSISTANT_ID, input={"n": i})
                    t2 = time.perf_counter()
                except Exception as exc:
                    res.record_error(f"client {cid} iteration {j}: {_describe(exc)}")
                    continue
                if out == expected_output(i):
                    res.call_ms.append((t2 - t1) * 1000)
                    res.iter_ms.append((t2 - t0) * 1000)
                else:
                    res.record_error(f"client {cid} iteration {j}: unexpected output {out!r}")
            ends.append(time.perf_counter())

    await asyncio.gather(*(worker(c) for c in range(clients)))
    res.wall_s = max(ends) - min(starts) if starts and ends else 0.0
    return res


def run_concurrent(url: str, clients: int, per_client: int, warmup: int, max_errors: int) -> PhaseResult:
    return asyncio.run(_concurrent(url, clients, per_client, warmup, max_errors))


# ---------------------------------------------------------------------------------------------- targets


@contextmanager
def _external(name: str, url: str) -> Iterator[ServerHandle]:
    if not check_ok(url):
        raise ServerError(f"{name}: GET {url}/ok did not return 200")
    yield ServerHandle(name=name, url=url, started_by_us=False, info=fetch_info(url))


def server_for(target: str, args: argparse.Namespace, stamp: str) -> AbstractContextManager[ServerHandle]:
    log_path = RESULTS_DIR / f"{stamp}-{target}.log"
    if target == "official":
        if args.official_url:
            return _external(target, args.official_url.rstrip("/"))
        return official.start(
            log_path=log_path,
            n_jobs_per_worker=args.n_jobs_per_worker,
            startup_timeout=args.startup_timeout,
        )
    if args.langopen_url:
        return _external(target, args.langopen_url.rstrip("/"))
    return langopen.start(
        log_path=log_path,
        command=args.langopen_cmd,
        startup_timeout=args.startup_timeout,
        fresh=not args.langopen_keep_data,
    )


def bench_target(target: str, args: argparse.Namespace, stamp: str) -> dict[str, Any]:
    out: dict[str, Any] = {"target": target}
    try:
        with server_for(target, args, stamp) as server:
            out["server"] = server.as_json()
            if args.phase in ("sequential", "both"):
                print(f"[{target}] sequential: {args.warmup} warm-up + {args.n} runs", flush=True)
                seq = run_sequential(server.url, args.n, args.warmup, args.max_errors)
                out["sequential"] = seq.as_json()
                _print_phase(target, seq)
            if args.phase in ("concurrent", "both"):
                print(
                    f"[{target}] concurrent: {args.clients} clients x ({args.concurrent_warmup} warm-up"
                    f" + {args.per_client} runs)",
                    flush=True,
                )
                conc = run_concurrent(
                    server.url, args.clients, args.per_client, args.concurrent_warmup, args.max_errors
                )
                out["concurrent"] = conc.as_json()
                _print_phase(target, conc)
    except Exception as exc:  # one failing target must not hide the other's numbers
        out["error"] = _describe(exc)
        print(f"[{target}] FAILED: {out['error']}", file=sys.stderr, flush=True)
    return out


# ---------------------------------------------------------------------------------------------- report


def _fmt(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.2f}"
    return str(x)


def _print_phase(target: str, r: PhaseResult) -> None:
    s = r.summary()
    print(
        f"[{target}] {r.phase}: {s['runs_ok']}/{s['runs_planned']} ok, {s['errors']} errors, "
        f"{_fmt(s['runs_per_s'])} runs/s, call p50/p95 {_fmt(s['call_p50_ms'])}/{_fmt(s['call_p95_ms'])} ms, "
        f"iter p50/p95 {_fmt(s['iter_p50_ms'])}/{_fmt(s['iter_p95_ms'])} ms",
        flush=True,
    )


COLUMNS = [
    ("runs_per_s", "runs/s"),
    ("call_p50_ms", "call p50 ms"),
    ("call_p95_ms", "call p95 ms"),
    ("iter_p50_ms", "iter p50 ms"),
    ("iter_p95_ms", "iter p95 ms"),
]


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    lines = []
    for k, row in enumerate(rows):
        lines.append(
            "  ".join(
                cell.ljust(w) if c < 2 else cell.rjust(w)
                for c, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def ratios(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """LangOpen / official for every metric of every phase both targets completed."""
    out: dict[str, dict[str, float | None]] = {}
    lo, off = results.get("langopen", {}), results.get("official", {})
    for phase in ("sequential", "concurrent"):
        if phase not in lo or phase not in off:
            continue
        out[phase] = {}
        for key, _ in COLUMNS:
            a, b = lo[phase].get(key), off[phase].get(key)
            out[phase][key] = round(a / b, 3) if a is not None and b else None
    return out


def report(results: dict[str, dict[str, Any]], ratio: dict[str, dict[str, float | None]]) -> str:
    rows = [["target", "phase", "runs", "errors", "wall s", *(h for _, h in COLUMNS)]]
    for target, res in results.items():
        if "error" in res and not any(p in res for p in ("sequential", "concurrent")):
            rows.append([target, "FAILED", "-", "-", "-", *("-" for _ in COLUMNS)])
        for phase in ("sequential", "concurrent"):
            if phase not in res:
                continue
            s = res[phase]
            label = phase if phase == "sequential" else f"concurrent x{s['clients']}"
            runs = f"{s['runs_ok']}/{s['runs_planned']}"
            rows.append(
                [target, label, runs, str(s["errors"]), _fmt(s["wall_s"]), *(_fmt(s[k]) for k, _ in COLUMNS)]
            )
    text = _table(rows)
    if ratio:
        rrows = [["LangOpen / official", "phase", *(h for _, h in COLUMNS)]]
        for phase, vals in ratio.items():
            rrows.append(["ratio", phase, *(("-" if v is None else f"{v:.3f}") for v in vals.values())])
        text += "\n\n" + _table(rrows)
        text += "\n(ratio > 1 on runs/s = LangOpen faster; ratio < 1 on latencies = LangOpen faster)"
    return text


def _git(*cmd: str) -> str | None:
    try:
        return subprocess.run(
            ["git", *cmd], cwd=REPO_DIR, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def environment() -> dict[str, Any]:
    status = _git("status", "--porcelain")
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "langgraph_sdk": metadata.version("langgraph-sdk"),
        "langopen_git_commit": _git("rev-parse", "HEAD"),
        "langopen_git_dirty": None if status is None else bool(status),
    }


# ---------------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--target", choices=["official", "langopen", "both"], default="both")
    p.add_argument("--phase", choices=["sequential", "concurrent", "both"], default="both")
    p.add_argument("--n", type=int, default=200, help="measured sequential iterations (default 200)")
    p.add_argument(
        "--warmup", type=int, default=10, help="unmeasured sequential warm-up iterations (default 10)"
    )
    p.add_argument("--clients", type=int, default=32, help="concurrent clients (default 32)")
    p.add_argument("--per-client", type=int, default=20, help="measured iterations per client (default 20)")
    p.add_argument(
        "--concurrent-warmup", type=int, default=1, help="unmeasured iterations per client (default 1)"
    )
    p.add_argument("--max-errors", type=int, default=10, help="abort a phase after this many errors")
    p.add_argument("--langopen-url", help="bench an already running LangOpen instead of starting one")
    p.add_argument("--official-url", help="bench an already running official server instead of starting one")
    p.add_argument(
        "--langopen-cmd",
        help=f"LangOpen start command template (default ${langopen.COMMAND_ENV_VAR} or {langopen.DEFAULT_COMMAND!r})",
    )
    p.add_argument(
        "--langopen-keep-data",
        action="store_true",
        help="do not delete bench/app/.langopen (LangOpen's embedded PostgreSQL) before starting LangOpen",
    )
    p.add_argument("--n-jobs-per-worker", type=int, default=10, help="official server's --n-jobs-per-worker")
    p.add_argument("--startup-timeout", type=float, default=180.0, help="seconds to wait for GET /ok")
    p.add_argument("--json-out", type=Path, help="result file (default bench/results/<timestamp>.json)")
    args = p.parse_args(argv)
    if min(args.n, args.clients, args.per_client) < 1 or min(args.warmup, args.concurrent_warmup) < 0:
        p.error("--n, --clients, --per-client must be >= 1 and warm-ups >= 0")
    return args


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds the `with` blocks, so started servers are stopped


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    handler: Callable[[int, FrameType | None], None] = _terminate
    signal.signal(signal.SIGTERM, handler)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    targets = list(TARGETS) if args.target == "both" else [args.target]

    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    results = {t: bench_target(t, args, stamp) for t in targets}
    ratio = ratios(results)
    doc = {
        "timestamp": started,
        "config": {
            "targets": targets,
            "phase": args.phase,
            "sequential": {"n": args.n, "warmup": args.warmup},
            "concurrent": {
                "clients": args.clients,
                "per_client": args.per_client,
                "warmup_per_client": args.concurrent_warmup,
            },
            "official_n_jobs_per_worker": args.n_jobs_per_worker,
            "percentiles": "nearest-rank",
        },
        "environment": environment(),
        "results": results,
        "ratio_langopen_over_official": ratio,
    }
    out_path: Path = args.json_out or RESULTS_DIR / f"{stamp}.json"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(doc, indent=2) + "\n")

    print()
    print(report(results, ratio))
    print(f"\nJSON: {out_path}")
    failed = any(
        "error" in r or any(r.get(p, {}).get("errors") for p in ("sequential", "concurrent"))
        for r in results.values()
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

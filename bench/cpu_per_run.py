"""CPU per run of every process behind a running LangOpen, read from /proc around one bench phase.

Run against a server you started (`langopen dev --config bench/app/langgraph.json --port 8123`):

    .venv/bin/python -m bench.cpu_per_run --url http://127.0.0.1:8123 --phase sequential --n 300
    .venv/bin/python -m bench.cpu_per_run --url http://127.0.0.1:8123 --phase concurrent --per-client 20

Processes are grouped by command line: `router` (`langopen dev`, router and dispatcher), `function`
(`functions.main`), `postgres`, `redis`; `client` is this process (the langgraph-sdk driver). The
client runs the same code in every build, so the ratio of the servers' CPU to the client's cancels
out how fast the machine happens to be: compare builds by that ratio when the machine is noisy.
Only run it with nothing else using those command lines (other stacks' function processes count too).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from bench import run_bench

GROUPS = (("langopen dev", "router"), ("functions.main", "function"), ("postgres", "postgres"))
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _group(cmdline: str) -> str | None:
    for needle, name in GROUPS:
        if needle in cmdline:
            return name
    return "redis" if "redis-server" in cmdline else None


def cpu_seconds() -> dict[tuple[str, int], float]:
    """utime + stime of every process in a group, by (group, pid)."""
    out: dict[tuple[str, int], float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        group = _group(cmdline)
        if group is not None:
            out[(group, int(entry.name))] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cpu_per_run", description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--phase", choices=("sequential", "concurrent"), default="sequential")
    parser.add_argument("--n", type=int, default=300, help="sequential iterations (default 300)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--per-client", type=int, default=20)
    args = parser.parse_args()
    run_bench.run_sequential(args.url, 10, 10, 10)  # warm: the function process may start on demand
    before, client_before = cpu_seconds(), time.process_time()
    if args.phase == "sequential":
        result = run_bench.run_sequential(args.url, args.n, 0, 10)
    else:
        result = run_bench.run_concurrent(args.url, args.clients, args.per_client, 1, 10)
    after, client_after = cpu_seconds(), time.process_time()
    totals: dict[str, float] = {"client": client_after - client_before}
    for (group, pid), seconds in after.items():
        totals[group] = totals.get(group, 0.0) + seconds - before.get((group, pid), 0.0)
    runs = max(result.ok, 1)
    per_run = {group: round(seconds / runs * 1000, 2) for group, seconds in sorted(totals.items())}
    servers = sum(v for k, v in per_run.items() if k != "client")
    print(json.dumps(result.summary()))
    print(
        json.dumps({"cpu_ms_per_run": per_run, "servers_over_client": round(servers / per_run["client"], 2)})
    )


if __name__ == "__main__":
    main()

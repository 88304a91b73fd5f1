"""Compare two running LangOpen builds iteration by iteration, for changes smaller than the machine's
drift.

`bench/run.sh` measures one server after the other; on these shared 2-core machines the speed of the
whole box drifts by 20 % or more between minutes, which hides a change of a few percent. This driver
sends the same sequential workload (`threads.create` + `runs.wait` on bench/app's graph, output
checked) to two servers in alternation, A B B A A B …, so that both see the same machine at the same
time, and prints the nearest-rank p25/p50/p75 of the `runs.wait` call for each.

Start the two builds yourself (each from its own checkout, with its own database and Redis prefix or
database), then:

    .venv/bin/python -m bench.interleave --a http://127.0.0.1:8201 --b http://127.0.0.1:8202 --n 600
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # `python bench/interleave.py`: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from langgraph_sdk import get_sync_client

from bench.run_bench import ASSISTANT_ID, expected_output, percentile


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.interleave", description=__doc__)
    parser.add_argument("--a", required=True, help="URL of build A")
    parser.add_argument("--b", required=True, help="URL of build B")
    parser.add_argument("--n", type=int, default=600, help="measured iterations per build (default 600)")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured iterations per build (default 20)")
    args = parser.parse_args(argv)
    calls: dict[str, list[float]] = {"a": [], "b": []}
    with get_sync_client(url=args.a, api_key=None) as a, get_sync_client(url=args.b, api_key=None) as b:
        clients = {"a": a, "b": b}
        for i in range(args.warmup + args.n):
            for name in ("a", "b") if i % 2 == 0 else ("b", "a"):
                client = clients[name]
                thread = client.threads.create()
                t0 = time.perf_counter()
                out = client.runs.wait(thread["thread_id"], ASSISTANT_ID, input={"n": i})
                elapsed_ms = (time.perf_counter() - t0) * 1000
                if out != expected_output(i):
                    print(f"{name}: iteration {i}: unexpected output {out!r}", file=sys.stderr)
                    return 1
                if i >= args.warmup:
                    calls[name].append(elapsed_ms)
    summary = {
        name: {f"call_p{p}_ms": round(percentile(values, p) or 0.0, 2) for p in (25, 50, 75)}
        for name, values in calls.items()
    }
    print(json.dumps({"a_url": args.a, "b_url": args.b, "n": args.n, **summary}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

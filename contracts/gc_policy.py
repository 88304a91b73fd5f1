"""The cyclic garbage collector's settings while a LangOpen process serves requests, shared by the
router and the function runtime so that both run under the same, measured policy.

Both processes import a large graph of long-lived objects at startup (FastAPI/Starlette and
pydantic models in the router; LangGraph, pydantic and psycopg in the function runtime) and then
allocate many short-lived containers per request. With CPython's defaults the collector walked all
of it again and again: measured on bench/app's 2-node graph, collections took 7-8 % of the CPU of
each process (router: 0.25 s of 3.3 s over ~700 runs of `bench.cpu_per_run`; function: 0.87 s over
2000 runs of `bench.function_cpu`).

`serving()` therefore, once everything is imported and opened:

* `gc.freeze()`s what exists at that point (modules, routes, compiled graphs, pools): the collector
  no longer walks it. Those objects live as long as the process anyway; reference counting still
  frees anything of theirs that is dropped, only a reference cycle among them would now stay until
  shutdown (where `gc.unfreeze()` hands them back).
* raises the generation-0 threshold from 700 to `GEN0_THRESHOLD` allocations, so young collections
  run about seven times less often. The garbage a cycle can hold meanwhile is bounded by those few
  thousand container objects (kilobytes to a few megabytes), and nothing a client sees depends on
  when a cycle is collected.

Both settings are process-wide and restored when the block exits. No I/O: it belongs here with the
other things the two deployables share.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

GEN0_THRESHOLD = 5000
"""Allocations (minus deallocations) of container objects between two young collections (CPython's
default: 700)."""


@contextmanager
def serving() -> Iterator[None]:
    """Freeze the objects alive now and collect young objects less often, until the block exits."""
    previous = gc.get_threshold()
    gc.collect()  # what startup left as cyclic garbage is freed, not frozen
    gc.freeze()
    if previous[0]:  # 0: automatic collection is off; leave it so
        gc.set_threshold(max(previous[0], GEN0_THRESHOLD), *previous[1:])
    try:
        yield
    finally:
        gc.set_threshold(*previous)
        gc.unfreeze()

"""Prometheus metrics. Labels are bounded (graph, status): never run, thread or assistant ids."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RUNS_CREATED = Counter("langopen_runs_created_total", "Runs created.", ["graph_id"])
RUNS_FINISHED = Counter(
    "langopen_runs_finished_total", "Runs that reached a final status.", ["graph_id", "status"]
)
RUN_ATTEMPTS_RETRIED = Counter(
    "langopen_run_attempts_retried_total",
    "Attempts handed out again after a crash or lost lease.",
    ["reason"],
)
RUNS_IN_FLIGHT = Gauge("langopen_runs_in_flight", "Runs this router process is executing now.")
RUN_DURATION = Histogram(
    "langopen_run_duration_seconds",
    "From claim to recorded outcome, per attempt.",
    ["graph_id", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)

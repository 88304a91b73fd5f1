"""Redis key and channel names, built only here (one prefix, one version).

Redis carries no run data: a sentinel list wakes dispatchers, a string plus a channel carry cancel
requests, channels carry live stream frames, and a Redis Stream per resumable run keeps its events
for `resumable_ttl_seconds`.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PREFIX = "langopen:v1"
WAKE_SENTINEL = b"1"
CANCEL_KEY_TTL_SECONDS = 3600  # a cancel request outlives any reasonable dispatch delay


@dataclass(frozen=True)
class Keys:
    """Key builders for one Redis key prefix (tests use their own prefix)."""

    prefix: str = DEFAULT_PREFIX

    def auth_failures(self, kind: str, subject: str) -> str:
        """Counter of failed authentications of one client address (`kind` "client") or one key
        prefix (`kind` "key") in the current window; expires with the window."""
        return f"{self.prefix}:auth:fail:{kind}:{subject}"

    def wake_list(self) -> str:
        """A list holding only sentinels; any dispatcher that pops one looks for runnable runs."""
        return f"{self.prefix}:runs:wake"

    def run_stream_channel(self, run_id: str) -> str:
        """Pub/sub channel of a run's live stream frames (see contracts.frames)."""
        return f"{self.prefix}:run:{run_id}:stream"

    def run_events(self, run_id: str) -> str:
        """Redis Stream holding the frames of a resumable run, for replay with Last-Event-ID."""
        return f"{self.prefix}:run:{run_id}:events"

    def run_control_channel(self, run_id: str) -> str:
        """Pub/sub channel carrying cancel actions (`interrupt` / `rollback`) to the executing function."""
        return f"{self.prefix}:run:{run_id}:control"

    def run_cancel_key(self, run_id: str) -> str:
        """String holding a pending cancel action, so a function that starts later still sees it."""
        return f"{self.prefix}:run:{run_id}:cancel"

    def thread_stream_channel(self, thread_id: str) -> str:
        """Pub/sub channel of every frame of every run on a thread (join thread stream)."""
        return f"{self.prefix}:thread:{thread_id}:stream"

    def thread_events(self, thread_id: str) -> str:
        """Redis Stream of a thread's resumable frames (replay on the thread join stream)."""
        return f"{self.prefix}:thread:{thread_id}:events"

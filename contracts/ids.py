"""Identifier helpers shared by the router and the function runtime.

Run and thread ids are UUIDv7 (time-ordered), as the official server issues them. System assistants
get the official uuid5 id so that clients which hard-code it keep working.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from typing import NewType

RunId = NewType("RunId", str)
ThreadId = NewType("ThreadId", str)
AssistantId = NewType("AssistantId", str)

SYSTEM_ASSISTANT_NAMESPACE = uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8")

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def system_assistant_id(graph_id: str) -> str:
    """The id the official server gives the system assistant of `graph_id`."""
    return str(uuid.uuid5(SYSTEM_ASSISTANT_NAMESPACE, graph_id))


def uuid7() -> uuid.UUID:
    """A UUIDv7 whose value strictly increases within this process (RFC 9562, method 1 counter)."""
    global _last_ms, _counter
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            _counter += 1
            if _counter > 0xFFF:
                _last_ms += 1
                _counter = 0
            ms = _last_ms
        else:
            _last_ms = ms
            _counter = int.from_bytes(os.urandom(2), "big") & 0x3FF
        rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
        value = (ms & ((1 << 48) - 1)) << 80
        value |= 0x7 << 76
        value |= _counter << 64
        value |= 0b10 << 62
        value |= rand_b
    return uuid.UUID(int=value)


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return False
    return True

"""Stream frames as they travel through Redis, and their SSE encoding.

A frame is one SSE event: a name, compact JSON data, and (for resumable runs) the Redis Stream id.
On pub/sub a frame is `<id>\\n<event>\\n<data>` (id empty when the run is not resumable); in a Redis
Stream the fields are `e` (event) and `d` (data) and the id is the entry id.

SSE framing matches the official server byte for byte: CRLF line ends, `event`, then `data`, then
`id` (only when there is one), a blank line; heartbeats are the comment `: heartbeat`.
"""

from __future__ import annotations

from dataclasses import dataclass

HEARTBEAT = b": heartbeat\r\n\r\n"
HEARTBEAT_SECONDS = 5.0

DONE_EVENT = "__done__"  # router-internal end-of-run marker; never sent to clients as is
"""Published by the router after it has recorded a run's outcome. Data: {"status": ...}."""

METADATA_EVENT = "metadata"
ERROR_EVENT = "error"


@dataclass(frozen=True, slots=True)
class Frame:
    event: str
    data: bytes
    id: str | None = None

    def encode_pubsub(self) -> bytes:
        return b"%s\n%s\n%s" % ((self.id or "").encode(), self.event.encode(), self.data)

    @classmethod
    def decode_pubsub(cls, raw: bytes) -> Frame:
        id_, event, data = raw.split(b"\n", 2)
        return cls(event=event.decode(), data=data, id=id_.decode() or None)

    def is_done(self) -> bool:
        return self.event == DONE_EVENT

    def base_mode(self) -> str:
        """`updates|child:1` → `updates`; `messages/partial` → `messages`."""
        return self.event.split("|", 1)[0].split("/", 1)[0]


def encode_sse(event: str, data: bytes, id: str | None = None) -> bytes:
    event = event.replace("\r", "").replace("\n", "")
    out = b"event: " + event.encode() + b"\r\ndata: " + data + b"\r\n"
    if id is not None:
        out += b"id: " + id.replace("\r", "").replace("\n", "").encode() + b"\r\n"
    return out + b"\r\n"


def parse_stream_id(value: str) -> tuple[int, int]:
    """Order key of a Redis Stream id (`ms-seq`); `-1`, `0` and `-` sort before every real id."""
    if value in ("-1", "-", "0", ""):
        return (-1, -1)
    ms, _, seq = value.partition("-")
    return (int(ms), int(seq or 0))

"""Named SQL blocks, loaded once from `sql/*.sql` (no SQL is built in Python).

A block starts with `-- name: <name>` and runs until the next such line. Names are unique across files.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import LiteralString

_NAME = re.compile(r"^--\s*name:\s*(\S+)\s*$", re.MULTILINE)


@cache
def _load() -> dict[str, str]:
    blocks: dict[str, str] = {}
    folder = resources.files("router.store") / "sql"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".sql"):
            continue
        text = entry.read_text()
        parts = _NAME.split(text)
        for name, body in zip(parts[1::2], parts[2::2], strict=True):
            if name in blocks:
                raise RuntimeError(f"duplicate SQL block name {name!r} in {entry.name}")
            blocks[name] = body.strip().rstrip(";")
    return blocks


def q(name: str) -> LiteralString:
    """The SQL text of block `name`."""
    return _load()[name]

"""API keys: `lo_<prefix>_<secret>`. The prefix is the key's public id (it may appear in logs and the
audit log); the secret is 32 random bytes, of which only the SHA-256 digest is stored. A fast hash is
enough for a secret with 256 bits of entropy (no dictionary to attack), and digests are compared in
constant time."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

KEY_SCHEME = "lo"
PREFIX_BYTES = 6
SECRET_BYTES = 32
_KEY = re.compile(r"^lo_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class NewKey:
    prefix: str
    secret_hash: bytes
    plaintext: str
    """Shown once, to whoever created the key; never stored nor logged."""


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def generate() -> NewKey:
    prefix = secrets.token_hex(PREFIX_BYTES)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    return NewKey(prefix=prefix, secret_hash=hash_secret(secret), plaintext=f"{KEY_SCHEME}_{prefix}_{secret}")


def split(key: str) -> tuple[str, str] | None:
    """(prefix, secret) of a well-formed key, or None."""
    found = _KEY.match(key)
    return (found.group(1), found.group(2)) if found else None


def prefix_of(key: str) -> str | None:
    """The public prefix of something that looks like a key (for rate limiting), else None."""
    parts = split(key)
    return parts[0] if parts else None


def matches(secret: str, secret_hash: bytes) -> bool:
    """Whether `secret` hashes to `secret_hash`, compared in constant time."""
    return hmac.compare_digest(hash_secret(secret), secret_hash)

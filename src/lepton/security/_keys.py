"""API keys: random, recognisable (``lp_`` prefix, so secret scanners find leaked ones),
shown once, stored only as a hash, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets

PREFIX = "lp_"


def generate_key(prefix: str = PREFIX) -> str:
    """A new key with 256 bits of randomness, e.g. ``lp_4hK...``."""
    return prefix + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The stored form of a key. Keys are long random strings, so one SHA-256 suffices (no
    password stretching needed: there is nothing to brute-force)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_matches(presented: str | bytes | None, stored_hash: str) -> bool:
    """Constant-time comparison of a presented key with a stored hash."""
    if not presented:
        return False
    raw = presented if isinstance(presented, bytes) else presented.encode("utf-8")
    return hmac.compare_digest(hashlib.sha256(raw).hexdigest(), stored_hash)


def bearer(header: bytes | str | None) -> bytes | None:
    """The token of an ``Authorization: Bearer TOKEN`` header, or None."""
    if not header:
        return None
    raw = header if isinstance(header, bytes) else header.encode("latin-1")
    scheme, _, token = raw.partition(b" ")
    return token.strip() or None if scheme.lower() == b"bearer" else None

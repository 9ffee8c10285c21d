"""Security: API keys, users and per-project roles, passwords and dashboard sessions, the
audit chain, rate limits, envelope encryption at rest and secrets. Loaded lazily:
``cryptography`` only when encryption is used."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lepton.security._keys import PREFIX, bearer, generate_key, hash_key, key_matches

if TYPE_CHECKING:
    from lepton.security._audit import AuditLog
    from lepton.security._crypto import EncryptedArtifactStore, MasterKey, load_master_key
    from lepton.security._ratelimit import RateLimiter
    from lepton.security._secrets import SecretStore
    from lepton.security._sessions import Session
    from lepton.security._users import Principal, Security

_LAZY = {
    "AuditLog": "lepton.security._audit",
    "EncryptedArtifactStore": "lepton.security._crypto",
    "MasterKey": "lepton.security._crypto",
    "load_master_key": "lepton.security._crypto",
    "RateLimiter": "lepton.security._ratelimit",
    "SecretStore": "lepton.security._secrets",
    "Session": "lepton.security._sessions",
    "Principal": "lepton.security._users",
    "Security": "lepton.security._users",
}

__all__ = [
    "PREFIX",
    "AuditLog",
    "EncryptedArtifactStore",
    "MasterKey",
    "Principal",
    "RateLimiter",
    "SecretStore",
    "Security",
    "Session",
    "bearer",
    "generate_key",
    "hash_key",
    "key_matches",
    "load_master_key",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'lepton.security' has no attribute {name!r}")

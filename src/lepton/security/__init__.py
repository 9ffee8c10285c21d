"""Security: API keys (and, with the team server, users, roles, audit and encryption)."""

from lepton.security._keys import PREFIX, bearer, generate_key, hash_key, key_matches

__all__ = ["PREFIX", "bearer", "generate_key", "hash_key", "key_matches"]

"""Passwords of dashboard users: stretched with scrypt, compared in constant time.

Unlike API keys (256 random bits, one SHA-256 is enough), people choose passwords that can be
guessed, so each guess against a stolen hash must be expensive: scrypt with n=2**14, r=8, p=1
costs about 16 MiB and a few tens of milliseconds. The parameters are stored with the hash, so
they can be raised later without breaking the hashes already stored.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from functools import cache

from lepton.errors import InvalidParameterError

SCHEME = "scrypt"
N, R, P = 2**14, 8, 1
SALT_BYTES = 16
HASH_BYTES = 32
MIN_LENGTH = 10
MAX_LENGTH = 1024  # longer is no safer, and every byte is hashed on each sign-in


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    # scrypt needs 128 * n * r bytes of memory; leave room above OpenSSL's 32 MiB default
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        maxmem=256 * n * r * p + (1 << 20),
        dklen=HASH_BYTES,
    )


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def hash_password(password: str) -> str:
    """The stored form of ``password``: ``scrypt$n$r$p$salt$hash`` (base64), new salt each time.

    >>> hash_password("correct horse battery").startswith("scrypt$16384$8$1$")
    True
    """
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(password, salt, N, R, P)
    return f"{SCHEME}${N}${R}${P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` is the one ``stored`` was made from (False for a malformed hash)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != SCHEME:
            return False
        expected = base64.b64decode(digest, validate=True)
        actual = _scrypt(password, base64.b64decode(salt, validate=True), int(n), int(r), int(p))
    except (ValueError, binascii.Error):  # a wrong shape, or parameters scrypt refuses
        return False
    return hmac.compare_digest(actual, expected)


@cache
def dummy_hash() -> str:
    """A hash no password is known to match: checking against it when a user does not exist
    takes as long as a real check, so the time of an answer does not tell who exists."""
    return hash_password(secrets.token_urlsafe(32))


def check_password_strength(password: str) -> str:
    """``password`` when it is long enough to be a password; InvalidParameterError otherwise."""
    if len(password) < MIN_LENGTH:
        raise InvalidParameterError(
            f"The password is too short ({len(password)} characters): use at least "
            f"{MIN_LENGTH}. A few unrelated words make a long password that is easy to remember."
        )
    if len(password) > MAX_LENGTH:
        raise InvalidParameterError(
            f"The password is too long ({len(password)} characters): use at most {MAX_LENGTH}."
        )
    return password

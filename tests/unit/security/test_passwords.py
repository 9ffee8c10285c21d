"""Password hashing: scrypt with its parameters and a fresh salt in the stored form, checks in
constant time, and the strength rule."""

from __future__ import annotations

import base64

import pytest

from lepton.errors import InvalidParameterError
from lepton.security._passwords import (
    check_password_strength,
    dummy_hash,
    hash_password,
    verify_password,
)

PASSWORD = "correct horse battery"


def test_hash_is_scrypt_with_its_parameters_and_a_fresh_salt() -> None:
    stored = hash_password(PASSWORD)
    scheme, n, r, p, salt, digest = stored.split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1")
    assert len(base64.b64decode(salt)) == 16 and len(base64.b64decode(digest)) == 32
    assert PASSWORD not in stored
    assert hash_password(PASSWORD) != stored  # a new salt each time


def test_verify_accepts_the_password_and_nothing_else() -> None:
    stored = hash_password(PASSWORD)
    assert verify_password(PASSWORD, stored)
    for wrong in ("correct horse batterY", "correct horse battery ", "", "ünïcödé pässwörd"):
        assert not verify_password(wrong, stored)
    assert not verify_password(PASSWORD, dummy_hash())
    assert dummy_hash() == dummy_hash()  # made once


def test_verify_reads_the_parameters_from_the_stored_form() -> None:
    """Hashes made with other parameters (e.g. before they were raised) still verify."""
    import hashlib

    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(PASSWORD.encode(), salt=salt, n=2**10, r=8, p=1, dklen=32)
    b64 = base64.b64encode
    stored = f"scrypt$1024$8$1${b64(salt).decode()}${b64(digest).decode()}"
    assert verify_password(PASSWORD, stored)
    assert not verify_password("something else entirely", stored)


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "plain-text-password",
        "bcrypt$12$abc$def$ghi$jkl",
        "scrypt$16384$8$1$not base64!$AAAA",
        "scrypt$3$8$1$AAAA$AAAA",  # n must be a power of 2: scrypt refuses it
        "scrypt$x$8$1$AAAA$AAAA",
    ],
)
def test_verify_is_false_for_a_malformed_hash(stored: str) -> None:
    assert verify_password(PASSWORD, stored) is False


def test_strength_needs_ten_characters() -> None:
    assert check_password_strength("0123456789") == "0123456789"
    with pytest.raises(InvalidParameterError, match=r"too short \(9 characters\): use at least 10"):
        check_password_strength("012345678")
    with pytest.raises(InvalidParameterError, match="too long .* at most 1024"):
        check_password_strength("x" * 1025)

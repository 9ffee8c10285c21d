"""The on-disk format of an encrypted object: AES-256-GCM in fixed-size segments, so objects of
any size stream through in constant memory and every segment is checked before it is returned.

Layout::

    header   = MAGIC (8) | version (1) | segment size (4, big-endian) | nonce prefix (8, random)
    segments = ciphertext of each plaintext segment + its 16-byte tag; all full but the last

Segment ``i`` is sealed with nonce ``prefix | i`` (4-byte counter) and additional data binding
the header, the object key, ``i`` and whether it is the last segment. So a segment moved to
another position or object, a dropped tail (the new last segment was not sealed as last), an
appended segment and a changed header all fail authentication. An empty object is one empty
last segment (its tag alone), so even it cannot be truncated unnoticed.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
from typing import TYPE_CHECKING, BinaryIO

from lepton._optional import require
from lepton.errors import IntegrityError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"\x89LEPENC\n"  # non-ASCII first byte: never the start of a text file
VERSION = 1
SEGMENT = 1 << 20
TAG = 16
_HEADER = struct.Struct(">8sBI8s")
HEADER_SIZE = _HEADER.size
_MAX_SEGMENT = 64 << 20  # refuse absurd sizes from a damaged header before allocating them
_MAX_SEGMENTS = 1 << 32  # the nonce counter is 4 bytes


def aesgcm(key: bytes) -> AESGCM:
    """An AES-256-GCM cipher for ``key`` (imports ``cryptography`` only when used)."""
    require("cryptography", purpose="encrypt data at rest")
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key)


def read_exact(stream: BinaryIO, size: int) -> bytes:
    """``size`` bytes, fewer only at the end of the stream (network streams return less)."""
    parts, left = [], size
    while left > 0:
        chunk = stream.read(left)
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def _nonce(prefix: bytes, index: int) -> bytes:
    return prefix + index.to_bytes(4, "big")


def _aad(header: bytes, object_key: str, index: int, last: bool) -> bytes:
    key = object_key.encode("utf-8")
    return header + struct.pack(">I", len(key)) + key + struct.pack(">Q?", index, last)


def encrypted_size(plain_size: int, segment_size: int = SEGMENT) -> int:
    """The stored size of a ``plain_size``-byte object."""
    segments = max(1, -(-plain_size // segment_size))
    return HEADER_SIZE + plain_size + segments * TAG


def plain_size(stored_size: int, segment_size: int) -> int:
    """The plaintext size of a stored object (the inverse of :func:`encrypted_size`)."""
    body = stored_size - HEADER_SIZE
    segments = max(1, -(-body // (segment_size + TAG)))
    return body - segments * TAG


def encrypt_stream(
    src: BinaryIO, dst: BinaryIO, data_key: bytes, object_key: str, segment_size: int = SEGMENT
) -> tuple[str, int]:
    """Encrypt ``src`` into ``dst``; return the sha256 and size of the plaintext."""
    if not 0 < segment_size <= _MAX_SEGMENT:
        raise ValueError(f"segment_size must be in 1..{_MAX_SEGMENT}, got {segment_size}")
    cipher = aesgcm(data_key)
    prefix = os.urandom(8)
    header = _HEADER.pack(MAGIC, VERSION, segment_size, prefix)
    dst.write(header)
    digest, size, index = hashlib.sha256(), 0, 0
    current = read_exact(src, segment_size)
    while True:
        # one segment of read-ahead: a segment is sealed as last only when nothing follows
        following = read_exact(src, segment_size) if len(current) == segment_size else b""
        last = not following
        if index >= _MAX_SEGMENTS:
            raise ValueError("object too large for its segment size")
        digest.update(current)
        size += len(current)
        dst.write(
            cipher.encrypt(_nonce(prefix, index), current, _aad(header, object_key, index, last))
        )
        if last:
            return digest.hexdigest(), size
        current, index = following, index + 1


def parse_header(header: bytes, object_key: str) -> tuple[int, bytes]:
    """The segment size and nonce prefix of a stored header (IntegrityError when damaged)."""
    if len(header) < HEADER_SIZE or not header.startswith(MAGIC):
        raise IntegrityError(
            f"Object {object_key!r} is not a complete encrypted object (its header is missing "
            "or damaged). Restore it from a backup, or write it again."
        )
    _magic, version, segment_size, prefix = _HEADER.unpack(header[:HEADER_SIZE])
    if version != VERSION or not 0 < segment_size <= _MAX_SEGMENT:
        raise IntegrityError(
            f"Object {object_key!r} has an encryption header this Lepton cannot read "
            f"(format {version}, segment size {segment_size}): it is damaged, or was written "
            "by a newer Lepton. Upgrade Lepton, or restore the object from a backup."
        )
    return segment_size, prefix


class DecryptingReader(io.RawIOBase):
    """The plaintext of an encrypted object, read segment by segment from ``raw``.

    Each segment is authenticated before any of its bytes are returned; a failure raises
    :class:`IntegrityError`. ``raw`` must be positioned just after the header.
    """

    def __init__(self, raw: BinaryIO, header: bytes, data_key: bytes, object_key: str) -> None:
        super().__init__()
        self._raw = raw
        self._header = header[:HEADER_SIZE]
        self._segment_size, self._prefix = parse_header(header, object_key)
        self._cipher = aesgcm(data_key)
        self._key = object_key
        self._index = 0
        self._ahead = b""  # one byte read past a full segment, to learn whether it was the last
        self._buffer = memoryview(b"")
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, out: memoryview | bytearray) -> int:  # type: ignore[override]
        while not self._buffer and not self._done:
            self._buffer = memoryview(self._next_segment())
        count = min(len(out), len(self._buffer))
        out[:count] = self._buffer[:count]
        self._buffer = self._buffer[count:]
        return count

    def _next_segment(self) -> bytes:
        full = self._segment_size + TAG
        chunk = self._ahead + read_exact(self._raw, full - len(self._ahead))
        if len(chunk) == full:
            self._ahead = read_exact(self._raw, 1)
            last = not self._ahead
        else:
            self._ahead, last = b"", True
        if len(chunk) < TAG:
            raise IntegrityError(
                f"Object {self._key!r} is truncated (segment {self._index} is incomplete). "
                "Restore it from a backup, or write it again."
            )
        from cryptography.exceptions import InvalidTag

        try:
            plain = self._cipher.decrypt(
                _nonce(self._prefix, self._index),
                chunk,
                _aad(self._header, self._key, self._index, last),
            )
        except InvalidTag:
            raise IntegrityError(
                f"Object {self._key!r} failed authentication at segment {self._index}: it was "
                "changed, truncated, reordered or copied from another key after it was "
                "written. Restore it from a backup, or write it again."
            ) from None
        self._index += 1
        self._done = last
        return plain

    def close(self) -> None:
        if not self.closed:
            try:
                self._raw.close()
            finally:
                super().close()


class PrependedReader(io.RawIOBase):
    """``head`` followed by the rest of ``raw``: gives back bytes read to sniff a header."""

    def __init__(self, head: bytes, raw: BinaryIO) -> None:
        super().__init__()
        self._head = memoryview(head)
        self._raw = raw

    def readable(self) -> bool:
        return True

    def readinto(self, out: memoryview | bytearray) -> int:  # type: ignore[override]
        if self._head:
            count = min(len(out), len(self._head))
            out[:count] = self._head[:count]
            self._head = self._head[count:]
            return count
        chunk = self._raw.read(len(out))
        out[: len(chunk)] = chunk
        return len(chunk)

    def close(self) -> None:
        if not self.closed:
            try:
                self._raw.close()
            finally:
                super().close()

"""Envelope encryption at rest: every stored object has its own random AES-256 data key, and the
data keys are wrapped (encrypted) by one master key that never touches the store.

The master key is 32 random bytes written as base64url text, found in this order:
``LEPTON_MASTER_KEY`` (the text), ``LEPTON_MASTER_KEY_FILE`` (a file holding it), then
``<home>/master.key``. ``lepton keys generate`` makes one; ``lepton server start`` creates
``<home>/master.key`` on its first start when none is configured.

Rotating the master key (``lepton keys rotate``) re-wraps the data keys and the secrets in one
transaction and leaves the payloads alone, so it takes seconds whatever the size of the store.
Stop the server first and restart it with the new key: a server still holding the old key
would wrap new objects with it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any, BinaryIO

from lepton.errors import (
    AlreadyExistsError,
    ArtifactNotFoundError,
    ConfigError,
    IntegrityError,
    StoreError,
)
from lepton.security._segments import (
    HEADER_SIZE,
    MAGIC,
    SEGMENT,
    DecryptingReader,
    PrependedReader,
    aesgcm,
    encrypt_stream,
    read_exact,
)
from lepton.store._artifacts import ArtifactStore, ObjectInfo, check_key, hash_stream

KEY_BYTES = 32
ENV_KEY = "LEPTON_MASTER_KEY"
ENV_KEY_FILE = "LEPTON_MASTER_KEY_FILE"
KEY_FILE = "master.key"
_BASE64URL = re.compile(r"^[A-Za-z0-9_-]+={0,2}$")
_EXPECTED = (
    f"a master key is {KEY_BYTES} random bytes written as base64url text (43 characters, "
    "e.g. from `lepton keys generate`)"
)


class MasterKey:
    """The key that wraps every data key and secret. Its ``id`` (a fingerprint) is stored next
    to what it wraps, so a wrong key is named instead of producing garbage."""

    def __init__(self, material: bytes, source: str = "") -> None:
        if len(material) != KEY_BYTES:
            raise ConfigError(
                f"The master key{_from(source)} is {len(material)} bytes; {_EXPECTED}."
            )
        self._material = bytes(material)
        self.source = source
        self.id = hashlib.sha256(self._material).hexdigest()[:16]

    def __repr__(self) -> str:  # never the key itself: reprs end up in logs and tracebacks
        return f"MasterKey(id={self.id!r})"

    @classmethod
    def generate(cls) -> MasterKey:
        return cls(os.urandom(KEY_BYTES), "generated")

    @classmethod
    def from_text(cls, text: str, source: str = "") -> MasterKey:
        """Parse base64url text (padding optional, surrounding whitespace ignored)."""
        text = text.strip()
        if not _BASE64URL.match(text):
            raise ConfigError(f"The master key{_from(source)} is not base64url text; {_EXPECTED}.")
        try:
            bare = text.rstrip("=")
            material = base64.urlsafe_b64decode(bare + "=" * (-len(bare) % 4))
        except (binascii.Error, ValueError):
            raise ConfigError(
                f"The master key{_from(source)} is not valid base64url; {_EXPECTED}."
            ) from None
        return cls(material, source)

    def to_text(self) -> str:
        return base64.urlsafe_b64encode(self._material).decode("ascii").rstrip("=")

    # wrapping: AES-256-GCM with the master key, bound to what is wrapped (``context``)
    def wrap(self, secret: bytes, context: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + aesgcm(self._material).encrypt(nonce, secret, context)

    def unwrap(self, wrapped: bytes, context: bytes, what: str) -> bytes:
        """Decrypt what :meth:`wrap` made; ``what`` names it in the error (e.g. "The data key
        of object 'runs/1/model.bin'")."""
        from cryptography.exceptions import InvalidTag

        try:
            return aesgcm(self._material).decrypt(wrapped[:12], wrapped[12:], context)
        except (InvalidTag, ValueError):
            raise IntegrityError(
                f"{what} does not authenticate under master key {self.id}: the stored row was "
                "changed, damaged or copied from another row. Restore the database from a backup."
            ) from None


def _from(source: str) -> str:
    return f" from {source}" if source else ""


def load_master_key(home: Path) -> MasterKey | None:
    """The configured master key, or None when encryption at rest is off.

    Raises:
        ConfigError: the key is malformed, or ``LEPTON_MASTER_KEY_FILE`` names no readable file.
    """
    text = os.environ.get(ENV_KEY, "").strip()
    if text:
        return MasterKey.from_text(text, ENV_KEY)
    named = os.environ.get(ENV_KEY_FILE, "").strip()
    if named:
        path = Path(named).expanduser()
        try:
            return MasterKey.from_text(path.read_text(encoding="ascii"), f"{ENV_KEY_FILE}={path}")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"{ENV_KEY_FILE}={path} cannot be read ({exc}); it must name a file holding "
                f"the master key ({_EXPECTED}). Fix the path or unset {ENV_KEY_FILE}."
            ) from None
    path = Path(home) / KEY_FILE
    if path.is_file():
        try:
            return MasterKey.from_text(path.read_text(encoding="ascii"), str(path))
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path} cannot be read ({exc}); {_EXPECTED}.") from None
    return None


def create_master_key_file(path: str | os.PathLike[str]) -> MasterKey:
    """Write a new master key to ``path`` (mode 0600, atomically, never over an existing file).

    Raises:
        AlreadyExistsError: ``path`` exists (replacing a master key makes the data unreadable).
    """
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = MasterKey.generate()
    fd, tmp = tempfile.mkstemp(prefix=".master-key-", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(key.to_text() + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.link(tmp, path)  # unlike rename, refuses to replace an existing key
    except FileExistsError:
        raise AlreadyExistsError(
            f"{path} already exists; a master key is never overwritten (the data it protects "
            "would become unreadable). Pick another path, or rotate with `lepton keys rotate`."
        ) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    key.source = str(path)
    return key


def _data_key_context(key: str) -> bytes:
    return b"lepton-data-key\x00" + key.encode("utf-8")


def _wrong_key(what: str, expected: str, key: MasterKey) -> ConfigError:
    return ConfigError(
        f"{what} is encrypted under master key {expected}, but the configured master key is "
        f"{key.id}. Configure the key with fingerprint {expected} ({ENV_KEY}, {ENV_KEY_FILE} "
        f"or <home>/{KEY_FILE}); after `lepton keys rotate`, use the new key."
    )


class EncryptedArtifactStore(ArtifactStore):
    """An artifact store whose objects are AES-256-GCM encrypted before they reach ``inner``.

    Sizes and sha256 digests reported by ``put_file``, ``list`` and ``sha256`` are those of the
    plaintext, so the hashes the workspace records keep verifying downloads. Objects written
    before encryption was turned on (no data key) are read as they are.
    """

    def __init__(
        self,
        inner: ArtifactStore,
        meta: Any,
        master_key: MasterKey,
        segment_size: int = SEGMENT,
    ) -> None:
        self.inner = inner
        self.meta = meta
        self.master_key = master_key
        self.segment_size = segment_size
        self.url = inner.url

    def __repr__(self) -> str:
        return f"EncryptedArtifactStore({self.inner.url!r}, master key {self.master_key.id})"

    # data keys ---------------------------------------------------------------------------------
    def _row(self, key: str) -> dict[str, Any] | None:
        from sqlalchemy import select

        from lepton.store._schema import object_keys

        with self.meta.read() as conn:
            row = conn.execute(select(object_keys).where(object_keys.c.key == key)).first()
        return dict(row._mapping) if row else None

    def _unwrap(self, key: str, row: dict[str, Any]) -> bytes:
        if row["master_key_id"] != self.master_key.id:
            raise _wrong_key(f"Object {key!r}", row["master_key_id"], self.master_key)
        return self.master_key.unwrap(
            bytes(row["wrapped_key"]), _data_key_context(key), f"The data key of object {key!r}"
        )

    def _data_key(self, key: str) -> bytes:
        """The data key of ``key``, created (and stored wrapped) when it has none yet.

        The key row is written before the payload and kept across overwrites: an overwrite then
        swaps only the payload, which the inner store does atomically, so a reader sees the old
        or the new object whole, a crash leaves at worst an unused key row, and two processes
        writing the same key agree on its data key.
        """
        from sqlalchemy import insert, select
        from sqlalchemy.exc import IntegrityError as RowExists

        from lepton.store._schema import object_keys

        row = self._row(key)
        if row is None:
            data_key = os.urandom(32)
            try:
                with self.meta.write() as conn:
                    exists = conn.execute(
                        select(object_keys.c.key).where(object_keys.c.key == key)
                    ).first()
                    if exists is None:
                        conn.execute(
                            insert(object_keys).values(
                                key=key,
                                master_key_id=self.master_key.id,
                                wrapped_key=self.master_key.wrap(data_key, _data_key_context(key)),
                                created_at=time.time(),
                            )
                        )
                        return data_key
            except RowExists:  # another process inserted it first (PostgreSQL): use theirs
                pass
            row = self._row(key)
            if row is None:  # inserted by another writer and deleted again at once
                raise StoreError(
                    f"The data key of {key!r} was deleted while this object was being "
                    "written (a concurrent delete). Write it again."
                )
        return self._unwrap(key, row)

    # ArtifactStore -----------------------------------------------------------------------------
    def put_file(self, key: str, path: str | os.PathLike[str]) -> ObjectInfo:
        with open(path, "rb") as src:
            return self._put_stream(key, src)

    def put(self, key: str, data: bytes | BinaryIO) -> ObjectInfo:
        # overridden so that plaintext bytes never land in a temp file
        import io

        if isinstance(data, bytes | bytearray | memoryview):
            return self._put_stream(key, io.BytesIO(bytes(data)))
        return self._put_stream(key, data)

    def _put_stream(self, key: str, src: BinaryIO) -> ObjectInfo:
        check_key(key)
        data_key = self._data_key(key)
        fd, tmp = tempfile.mkstemp(prefix="lepton-enc-")  # holds ciphertext only
        try:
            with os.fdopen(fd, "wb") as out:
                digest, size = encrypt_stream(src, out, data_key, key, self.segment_size)
            self.inner.put_file(key, tmp)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        return ObjectInfo(key, size, digest)

    def open(self, key: str) -> BinaryIO:
        import io

        check_key(key)
        row = self._row(key)
        data_key = self._unwrap(key, row) if row is not None else None
        raw = self.inner.open(key)
        try:
            head = read_exact(raw, HEADER_SIZE)
            if data_key is None:
                if head.startswith(MAGIC):
                    raise IntegrityError(
                        f"Object {key!r} is encrypted but its data key is missing from the "
                        "database (object_keys): the database is older than the artifact store "
                        "or was edited. Restore the database from a backup taken after this "
                        "object was written."
                    )
                reader: io.RawIOBase = PrependedReader(head, raw)  # from before encryption
            else:
                reader = DecryptingReader(raw, head, data_key, key)
        except BaseException:
            raw.close()
            raise
        return io.BufferedReader(reader, 1 << 20)  # type: ignore[return-value]

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    def list(self, prefix: str = "") -> list[ObjectInfo]:
        """Objects under ``prefix`` with their plaintext size and sha256 (each one is read)."""
        found = []
        for stored in self.inner.list(prefix):
            with self.open(stored.key) as stream:
                digest, size = hash_stream(stream)
            found.append(ObjectInfo(stored.key, size, digest))
        return found

    def delete(self, key: str) -> None:
        from sqlalchemy import delete

        from lepton.store._schema import object_keys

        self.inner.delete(key)  # payload first: a key row without payload is harmless
        with self.meta.write() as conn:
            conn.execute(delete(object_keys).where(object_keys.c.key == key))

    def _not_found(self, key: str) -> ArtifactNotFoundError:
        return self.inner._not_found(key)  # only keys are needed: no decryption for a hint


def rotate_master_key(meta: Any, old: MasterKey, new: MasterKey) -> int:
    """Re-wrap every data key and secret from ``old`` to ``new`` in one transaction.

    Payloads are not touched. Rows already under ``new`` are skipped, so an interrupted or
    repeated rotation can simply be run again. Returns how many rows were re-wrapped.

    Raises:
        ConfigError: a row is wrapped by a key that is neither ``old`` nor ``new`` (nothing is
            changed then).
    """
    from sqlalchemy import select, update

    from lepton.security._secrets import secret_context
    from lepton.store._schema import object_keys, secrets

    if old.id == new.id:
        raise ConfigError(
            f"The new master key is the current one ({old.id}); generate a new key with "
            "`lepton keys generate --output FILE`."
        )
    count = 0
    with meta.write() as conn:
        for row in conn.execute(select(object_keys)).all():
            if row.master_key_id == new.id:
                continue
            if row.master_key_id != old.id:
                raise _wrong_key(f"Object {row.key!r}", row.master_key_id, old)
            context = _data_key_context(row.key)
            data_key = old.unwrap(
                bytes(row.wrapped_key), context, f"The data key of object {row.key!r}"
            )
            conn.execute(
                update(object_keys)
                .where(object_keys.c.key == row.key)
                .values(master_key_id=new.id, wrapped_key=new.wrap(data_key, context))
            )
            count += 1
        for row in conn.execute(select(secrets)).all():
            if row.master_key_id == new.id:
                continue
            what = f"Secret {row.name!r} of project {row.project!r}"
            if row.master_key_id != old.id:
                raise _wrong_key(what, row.master_key_id, old)
            context = secret_context(row.project, row.name)
            value = old.unwrap(
                bytes(row.ciphertext), context, f"The value of {what[0].lower()}{what[1:]}"
            )
            conn.execute(
                update(secrets)
                .where(secrets.c.project == row.project, secrets.c.name == row.name)
                .values(master_key_id=new.id, ciphertext=new.wrap(value, context))
            )
            count += 1
    return count

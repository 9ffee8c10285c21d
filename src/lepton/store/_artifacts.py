"""Artifact stores: where files (models, datasets, reports) live, addressed by a key.

A key is a relative POSIX path such as ``runs/ab12/artifacts/model.lepton``. Writes are
atomic: a reader sees the whole object or nothing, never half of one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from lepton.errors import ArtifactNotFoundError, InvalidParameterError

_CHUNK = 1 << 20


@dataclass(frozen=True)
class ObjectInfo:
    """What the store knows of one stored object."""

    key: str
    size: int
    sha256: str


def check_key(key: str) -> str:
    """Reject keys that could escape the store (absolute, ``..``, backslashes, empty parts)."""
    if not isinstance(key, str) or not key:
        raise InvalidParameterError(f"An artifact key must be a non-empty string, got {key!r}.")
    parts = key.split("/")  # not PurePosixPath: it would silently drop "" and "." parts
    if (
        key.startswith("/")
        or "\\" in key
        or "\x00" in key
        or any(p in ("..", ".", "") for p in parts)
    ):
        raise InvalidParameterError(
            f"Invalid artifact key {key!r}: expected a relative path like 'runs/ID/model.bin' "
            "with no '..', '.', backslash or leading '/'."
        )
    return key


def hash_stream(stream: BinaryIO) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    while chunk := stream.read(_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


class ArtifactStore(ABC):
    """put / get / open / list / delete over keys, with the sha256 of what was written."""

    url: str

    @abstractmethod
    def put_file(self, key: str, path: str | os.PathLike[str]) -> ObjectInfo:
        """Store the file at ``path`` under ``key``, atomically."""

    @abstractmethod
    def open(self, key: str) -> BinaryIO:
        """Open ``key`` for streaming reads. Raises ArtifactNotFoundError when absent."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def list(self, prefix: str = "") -> list[ObjectInfo]:
        """Objects whose key starts with ``prefix`` (sha256 is computed for local objects)."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Delete ``key``; deleting a missing key is not an error."""

    def put(self, key: str, data: bytes | BinaryIO) -> ObjectInfo:
        """Store bytes or a readable binary stream under ``key``."""
        with tempfile.NamedTemporaryFile(prefix="lepton-put-", delete=False) as tmp:
            if isinstance(data, bytes | bytearray | memoryview):
                tmp.write(data)
            else:
                shutil.copyfileobj(data, tmp, _CHUNK)
        try:
            return self.put_file(key, tmp.name)
        finally:
            os.unlink(tmp.name)

    def get(self, key: str) -> bytes:
        with self.open(key) as stream:
            return stream.read()

    def download(self, key: str, dest: str | os.PathLike[str]) -> Path:
        """Copy ``key`` to the file ``dest`` (atomically), creating parent folders."""
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".lepton-", dir=dest.parent)
        try:
            with os.fdopen(fd, "wb") as out, self.open(key) as stream:
                shutil.copyfileobj(stream, out, _CHUNK)
            os.replace(tmp, dest)
        except BaseException:
            with _suppress_missing():
                os.unlink(tmp)
            raise
        return dest

    def sha256(self, key: str) -> str:
        with self.open(key) as stream:
            return hash_stream(stream)[0]

    def _not_found(self, key: str) -> ArtifactNotFoundError:
        parent = key.rsplit("/", 1)[0] if "/" in key else ""
        nearby = [o.key for o in self.list(parent)][:20] if parent else []
        return ArtifactNotFoundError(key, nearby, hint=f"(store: {self.url})")


class _suppress_missing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, *_: object) -> bool:
        return kind is FileNotFoundError


class LocalArtifactStore(ArtifactStore):
    """Objects as files under a root folder; writes go to a temp file, fsync, then rename."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._tmp = self.root / ".tmp"
        self._tmp.mkdir(exist_ok=True)
        self.url = str(self.root)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put_file(self, key: str, path: str | os.PathLike[str]) -> ObjectInfo:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        digest, size = hashlib.sha256(), 0
        fd, tmp = tempfile.mkstemp(prefix="put-", dir=self._tmp)
        try:
            with os.fdopen(fd, "wb") as out, open(path, "rb") as src:
                while chunk := src.read(_CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)  # atomic on POSIX: the key appears whole or not at all
        except BaseException:
            with _suppress_missing():
                os.unlink(tmp)
            raise
        return ObjectInfo(key, size, digest.hexdigest())

    def open(self, key: str) -> BinaryIO:
        path = self._path(key)
        try:
            return open(path, "rb")
        except (FileNotFoundError, IsADirectoryError):
            raise self._not_found(key) from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def _walk(self, prefix: str) -> Iterator[Path]:
        for dirpath, dirnames, filenames in os.walk(self.root):
            if Path(dirpath) == self.root and ".tmp" in dirnames:
                dirnames.remove(".tmp")
            for name in filenames:
                path = Path(dirpath) / name
                if path.relative_to(self.root).as_posix().startswith(prefix):
                    yield path

    def list(self, prefix: str = "") -> list[ObjectInfo]:
        found = []
        for path in self._walk(prefix):
            with open(path, "rb") as stream:
                digest, size = hash_stream(stream)
            found.append(ObjectInfo(path.relative_to(self.root).as_posix(), size, digest))
        return sorted(found, key=lambda o: o.key)

    def delete(self, key: str) -> None:
        with _suppress_missing():
            self._path(key).unlink()


def open_artifact_store(url: str) -> ArtifactStore:
    """The store for ``url``: ``s3://bucket/prefix`` or a local folder (path or ``file://``)."""
    if url.startswith("s3://"):
        from lepton.store._s3 import S3ArtifactStore

        return S3ArtifactStore(url)
    if "://" in url and not url.startswith("file://"):
        raise InvalidParameterError(
            f"Unsupported artifact store URL {url!r}: expected a folder path, file:///PATH "
            "or s3://BUCKET/PREFIX."
        )
    return LocalArtifactStore(url.removeprefix("file://"))

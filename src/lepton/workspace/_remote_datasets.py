"""RemoteWorkspace methods of datasets, over the team server's REST API.

A version is uploaded as ONE ``multipart/form-data`` request: a ``meta`` JSON field first,
then every file as a part named by its (percent-encoded) relative path. The body is generated
file by file while it is sent, so neither side holds a dataset in memory, and the server only
stores the version once the whole body has arrived.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import quote

from lepton.errors import (
    ArtifactNotFoundError,
    DatasetNotFoundError,
    InvalidParameterError,
    ProjectNotFoundError,
)
from lepton.store._artifacts import check_key
from lepton.workspace._records import DatasetVersionInfo
from lepton.workspace._remote_http import segment
from lepton.workspace._remote_runs import (
    download_file,
    every_page,
    file_url,
    open_remote_file,
)

if TYPE_CHECKING:
    from lepton.workspace._remote_http import Transport

_CHUNK = 1 << 20


class MultipartBody:
    """A ``multipart/form-data`` body of one JSON field and many files, produced while it is
    sent (each file is opened only when its turn comes) with its length known up front."""

    def __init__(self, meta: dict[str, Any], files: Sequence[tuple[Path, str]]) -> None:
        self.boundary = "lepton-" + secrets.token_hex(16)
        self._meta = json.dumps(meta, separators=(",", ":")).encode()
        self._files = [(Path(local), relative) for local, relative in files]

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def _head(self, name: str, filename: str | None, kind: str) -> bytes:
        disposition = f'form-data; name="{quote(name, safe="/")}"'
        if filename is not None:
            disposition += f'; filename="{quote(filename, safe="")[:200]}"'
        return (
            f"--{self.boundary}\r\nContent-Disposition: {disposition}\r\n"
            f"Content-Type: {kind}\r\n\r\n"
        ).encode()

    def _file_head(self, local: Path, relative: str) -> bytes:
        return self._head(relative, local.name, "application/octet-stream")

    def _tail(self) -> bytes:
        return f"--{self.boundary}--\r\n".encode()

    def __len__(self) -> int:
        size = len(self._head("meta", None, "application/json")) + len(self._meta) + 2
        for local, relative in self._files:
            size += len(self._file_head(local, relative)) + local.stat().st_size + 2
        return size + len(self._tail())

    def __iter__(self) -> Iterator[bytes]:
        yield self._head("meta", None, "application/json") + self._meta + b"\r\n"
        for local, relative in self._files:
            yield self._file_head(local, relative)
            with open(local, "rb") as stream:
                while chunk := stream.read(_CHUNK):
                    yield chunk
            yield b"\r\n"
        yield self._tail()


class RemoteDatasetsMixin:
    """The dataset methods of :class:`RemoteWorkspace`."""

    http: Transport

    def add_dataset_version(
        self,
        project: str,
        name: str,
        version: str,
        kind: str,
        target: str | None,
        schema: dict[str, Any],
        profile: dict[str, Any],
        num_rows: int,
        files: Sequence[tuple[Path, str]],
    ) -> DatasetVersionInfo:
        seen: set[str] = set()
        for local, relative in files:  # checked here too, before a byte is sent
            check_key(relative)
            if relative in seen:
                raise InvalidParameterError(
                    f"Two files of dataset {name!r} map to the same path {relative!r}; "
                    "give each file its own relative name."
                )
            seen.add(relative)
            if not Path(local).is_file():
                raise ArtifactNotFoundError(
                    str(local), hint="A dataset file to upload must exist on this machine."
                )
        try:  # already stored: nothing to upload
            return self.get_dataset_version(name, version, project)
        except (DatasetNotFoundError, ProjectNotFoundError, InvalidParameterError):
            pass
        meta = {
            "project": project,
            "name": name,
            "version": version,
            "kind": kind,
            "target": target,
            "schema": schema,
            "profile": profile,
            "num_rows": int(num_rows),
        }
        body = MultipartBody(meta, files)
        headers = {"content-type": body.content_type, "content-length": str(len(body))}
        row = self.http.call("POST", "/datasets", content=iter(body), headers=headers)
        return DatasetVersionInfo(**row)

    def get_dataset_version(
        self, name: str, version: str | None = None, project: str | None = None
    ) -> DatasetVersionInfo:
        params = {"version": version, "project": project}
        params = {k: v for k, v in params.items() if v is not None}
        row = self.http.call("GET", f"/datasets/{segment(name)}", params=params)
        return DatasetVersionInfo(**row)

    def list_datasets(self, project: str | None = None) -> list[DatasetVersionInfo]:
        params = {} if project is None else {"project": project}

        def fetch(count: int, start: int) -> list[DatasetVersionInfo]:
            query = {**params, "limit": count, "offset": start}
            return [
                DatasetVersionInfo(**r) for r in self.http.call("GET", "/datasets", params=query)
            ]

        return every_page(fetch)

    def list_dataset_versions(
        self, name: str, project: str | None = None
    ) -> list[DatasetVersionInfo]:
        url = f"/datasets/{segment(name)}/versions"
        params = {} if project is None else {"project": project}

        def fetch(count: int, start: int) -> list[DatasetVersionInfo]:
            query = {**params, "limit": count, "offset": start}
            return [DatasetVersionInfo(**r) for r in self.http.call("GET", url, params=query)]

        return every_page(fetch)

    def _file_url(self, info: DatasetVersionInfo, path: str) -> str:
        return (
            f"/datasets/{segment(info.name)}/versions/{segment(info.version)}/files/"
            f"{file_url(path)}?project={quote(info.project, safe='')}"
        )

    def open_dataset_file(
        self, name: str, version: str | None, path: str, project: str | None = None
    ) -> BinaryIO:
        info = self.get_dataset_version(name, version, project)
        if not any(f["path"] == path for f in info.files):
            raise ArtifactNotFoundError(
                path, [f["path"] for f in info.files], hint=f"(dataset {info.ref})"
            )
        return open_remote_file(self.http, self._file_url(info, path))

    def download_dataset(
        self,
        name: str,
        version: str | None,
        dest: str | os.PathLike[str],
        project: str | None = None,
    ) -> Path:
        info = self.get_dataset_version(name, version, project)
        dest = Path(dest)
        for record in info.files:
            path = check_key(record["path"])  # the server names the files: check each
            download_file(
                self.http,
                self._file_url(info, path),
                dest / path,
                record["sha256"],
                f"File {path!r} of dataset {info.ref}",
            )
        return dest

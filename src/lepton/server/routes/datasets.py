"""Datasets over REST: register a version with one multipart upload, read records, list
datasets and versions, download files.

An upload is one ``multipart/form-data`` body: first a ``meta`` field (JSON: project, name,
version, kind, target, schema, profile, num_rows), then one file part per file, whose field
name is the file's relative path (percent-encoded; ``images/cat%201.png``). The server streams
the parts into a private staging folder and only when the whole body has arrived hands them to
``LocalWorkspace.add_dataset_version``, so an upload that is cut off never leaves a version
anyone can see.
"""

from __future__ import annotations

import functools
import json
import shutil
import tempfile
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any
from urllib.parse import unquote

import anyio
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import ClientDisconnect

from lepton.errors import DatasetNotFoundError, InvalidParameterError
from lepton.server._context import Caller, Limit, Offset, ServerState, caller, role, state_of
from lepton.server.routes.runs import (
    ProjectName,
    audit,
    check_file_path,
    creating_project,
    file_response,
    visible_page,
)
from lepton.workspace._records import DatasetVersionInfo

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

router = APIRouter(tags=["datasets"])
Auth = Annotated[Caller, Depends(caller)]
Name = Annotated[str, Query(max_length=200)]

_UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["meta"],
                "properties": {
                    "meta": {
                        "type": "string",
                        "description": "JSON: project, name, version (sha256 hex), kind, "
                        "target, schema, profile, num_rows. Must be the first part.",
                    }
                },
                "additionalProperties": {
                    "type": "string",
                    "format": "binary",
                    "description": "one part per file; the field name is its relative path",
                },
            }
        }
    },
}


class DatasetMeta(BaseModel):
    """The ``meta`` field of an upload: the version's record, without its files."""

    model_config = ConfigDict(populate_by_name=True)

    project: str = Field(min_length=1, max_length=200)
    name: str = Field(min_length=1, max_length=200)
    version: str = Field(max_length=200)  # checked (with its own message) by the workspace
    kind: str = Field(max_length=200)
    target: str | None = Field(default=None, max_length=1000)
    schema_: dict[str, Any] = Field(default_factory=dict, alias="schema")
    profile: dict[str, Any] = Field(default_factory=dict)
    num_rows: int = Field(ge=0, le=2**63 - 1)


class StagedUpload:
    """The parts of a multipart body, received one by one: the meta JSON in memory (bounded),
    each file written straight to its own file in ``folder`` under a numbered name."""

    def __init__(self, folder: Path, max_meta: int) -> None:
        self.folder = folder
        self.max_meta = max_meta
        self.meta: dict[str, Any] | None = None
        self.files: list[tuple[Path, str]] = []  # (staged file, relative path in the version)
        self.size = 0
        self.complete = False
        self._meta_bytes = bytearray()
        self._headers: dict[str, bytes] = {}
        self._field = bytearray()
        self._value = bytearray()
        self._part: str | None = None  # "meta" or "file" while a part is being received
        self._out: IO[bytes] | None = None

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._begin,
            "on_header_field": lambda data, start, end: self._field.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._value.extend(data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None

    def _begin(self) -> None:
        self._headers.clear()

    def _header_end(self) -> None:
        self._headers[bytes(self._field).decode("latin-1").lower()] = bytes(self._value)
        self._field.clear()
        self._value.clear()

    def _headers_finished(self) -> None:
        from python_multipart.multipart import parse_options_header

        _, options = parse_options_header(self._headers.get("content-disposition", b""))
        name = options.get(b"name")
        if name is None:
            raise InvalidParameterError(
                "A part of the upload has no name; every part needs "
                "`Content-Disposition: form-data; name=...`."
            )
        if b"filename" not in options:
            if name != b"meta" or self.meta is not None or self.files:
                raise InvalidParameterError(
                    f"Unexpected form field {name.decode('latin-1')!r}: a dataset upload holds "
                    "one `meta` field (first), then file parts (with a filename) named by "
                    "their relative paths."
                )
            self._part = "meta"
            return
        if self.meta is None:
            raise InvalidParameterError(
                "The `meta` field must come before the files in a dataset upload, so the "
                "server can check the request before it receives the data."
            )
        relative = check_file_path(unquote(name.decode("utf-8", "replace")), "dataset file name")
        staged = self.folder / str(len(self.files))
        self.files.append((staged, relative))
        # open across callbacks until the part ends; close() runs on every way out
        self._out = open(staged, "wb")  # noqa: SIM115
        self._part = "file"

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._part == "file" and self._out is not None:
            self._out.write(data[start:end])
            self.size += end - start
        elif self._part == "meta":
            self._meta_bytes.extend(data[start:end])
            if len(self._meta_bytes) > self.max_meta:
                raise InvalidParameterError(
                    f"The `meta` field is larger than {self.max_meta:,} bytes; keep the schema "
                    "and profile smaller."
                )

    def _part_end(self) -> None:
        if self._part == "meta":
            try:
                meta = json.loads(bytes(self._meta_bytes))
            except ValueError as exc:
                raise InvalidParameterError(f"The `meta` field is not valid JSON: {exc}.") from None
            if not isinstance(meta, dict):
                raise InvalidParameterError("The `meta` field must be a JSON object.")
            self.meta = meta
        self.close()
        self._part = None

    def _end(self) -> None:
        self.complete = True


def _boundary(request: Request) -> bytes:
    from python_multipart.multipart import parse_options_header

    kind, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise InvalidParameterError(
            "A dataset upload must be multipart/form-data (with a boundary): a `meta` JSON "
            "field, then one file part per file."
        )
    return boundary


def _checked_meta(raw: dict[str, Any]) -> DatasetMeta:
    try:
        return DatasetMeta.model_validate(raw)
    except ValidationError as exc:
        where = "; ".join(f"{'.'.join(map(str, p['loc']))}: {p['msg']}" for p in exc.errors()[:5])
        raise InvalidParameterError(f"The `meta` field is not valid: {where}.") from None


async def _receive(request: Request, auth: Caller, upload: StagedUpload) -> DatasetMeta:
    """Parse the body into ``upload``; check the caller's role as soon as the meta arrives."""
    from python_multipart.multipart import MultipartParseError, MultipartParser

    parser = MultipartParser(_boundary(request), upload.callbacks())
    meta: DatasetMeta | None = None
    try:
        async for chunk in request.stream():
            parser.write(chunk)
            if meta is None and upload.meta is not None:
                meta = _checked_meta(upload.meta)
                auth.require("developer", meta.project)
        parser.finalize()
    except ClientDisconnect:
        raise InvalidParameterError(
            "The upload was cut off before the whole body arrived; no version was stored. "
            "Send it again."
        ) from None
    except MultipartParseError as exc:
        raise InvalidParameterError(
            f"The upload is not valid multipart/form-data: {exc}."
        ) from None
    if meta is None or not upload.complete:
        raise InvalidParameterError(
            "The upload ended before its closing boundary (or without a `meta` field); no "
            "version was stored. Send it again."
        )
    return meta


@router.post(
    "/datasets",
    status_code=201,
    openapi_extra={**role("developer"), "requestBody": _UPLOAD_BODY},
)
async def add_dataset_version(request: Request, auth: Auth) -> DatasetVersionInfo:
    """Store a dataset version from one multipart upload (see the module docs for its shape).

    Adding a version that is already stored returns the stored record.
    """
    state = state_of(request)
    staging = Path(tempfile.mkdtemp(prefix="lepton-dataset-upload-"))
    upload = StagedUpload(staging, state.options.max_body)
    try:
        meta = await _receive(request, auth, upload)
        upload.close()
        store = functools.partial(
            _store, state, auth, meta, upload.files
        )  # blocking work off the event loop
        info = await anyio.to_thread.run_sync(store)
    finally:
        upload.close()
        shutil.rmtree(staging, ignore_errors=True)
    audit(
        request,
        dataset=info.name,
        version=info.version,
        files=len(upload.files),
        size=upload.size,
    )
    return info


def _store(
    state: ServerState, auth: Caller, meta: DatasetMeta, files: list[tuple[Path, str]]
) -> DatasetVersionInfo:
    with creating_project(state, auth, meta.project):
        return state.workspace.add_dataset_version(
            meta.project,
            meta.name,
            meta.version,
            meta.kind,
            meta.target,
            meta.schema_,
            meta.profile,
            meta.num_rows,
            files,
        )


# reading ----------------------------------------------------------------------------------------
def _visible_names(state: ServerState, auth: Caller) -> list[str]:
    return sorted(
        {d.name for d in state.workspace.list_datasets() if auth.can("viewer", d.project)}
    )


def _versions(
    request: Request, auth: Caller, name: str, project: str | None
) -> list[DatasetVersionInfo]:
    """Every version of ``name`` the caller may read (of ``project``, or of every project).

    Names of datasets in projects the caller cannot read never appear in an error; a dataset
    that exists only there is refused with 403.
    """
    state = state_of(request)
    if project is not None:
        auth.require("viewer", project)
        return state.workspace.list_dataset_versions(name, project)
    try:
        versions = state.workspace.list_dataset_versions(name)
    except DatasetNotFoundError:
        versions = []
    seen = [v for v in versions if auth.can("viewer", v.project)]
    if versions and not seen:
        auth.require("viewer", versions[0].project)
    if not seen:
        raise DatasetNotFoundError(
            name,
            _visible_names(state, auth),
            hint="Register one with Dataset(...).register() or `lepton data add PATH`.",
        )
    projects = sorted({v.project for v in seen})
    request.state.project = projects[0] if len(projects) == 1 else None
    return seen


def _version(
    request: Request, auth: Caller, name: str, version: str | None, project: str | None
) -> DatasetVersionInfo:
    if project is None:
        projects = sorted({v.project for v in _versions(request, auth, name, None)})
        if len(projects) > 1:
            raise InvalidParameterError(
                f"A dataset named {name!r} exists in several projects ({', '.join(projects)}); "
                "pass project=... (or --project) to say which."
            )
        project = projects[0]
    auth.require("viewer", project)
    return state_of(request).workspace.get_dataset_version(name, version, project)


@router.get("/datasets", openapi_extra=role("authenticated"))
def list_datasets(
    request: Request,
    auth: Auth,
    project: ProjectName = None,
    limit: Limit = 1000,
    offset: Offset = 0,
) -> list[DatasetVersionInfo]:
    """The newest version of every dataset: of one project (viewer there), or of every
    project the caller may read."""
    workspace = state_of(request).workspace
    if project is not None:
        auth.require("viewer", project)
        return workspace.list_datasets(project)[offset : offset + limit]
    latest = workspace.list_datasets()

    def fetch(count: int, start: int) -> list[DatasetVersionInfo]:
        return latest[start : start + count]

    return visible_page(fetch, lambda d: auth.can("viewer", d.project), limit, offset)


@router.get("/datasets/{name}", openapi_extra=role("viewer"))
def get_dataset_version(
    name: str,
    request: Request,
    auth: Auth,
    version: Annotated[str | None, Query(max_length=64)] = None,
    project: ProjectName = None,
) -> DatasetVersionInfo:
    """One version of a dataset (the newest by default; 8+ characters of a version suffice)."""
    return _version(request, auth, name, version, project)


@router.get("/datasets/{name}/versions", openapi_extra=role("viewer"))
def list_dataset_versions(
    name: str,
    request: Request,
    auth: Auth,
    project: ProjectName = None,
    limit: Limit = 1000,
    offset: Offset = 0,
) -> list[DatasetVersionInfo]:
    """Every version of a dataset, newest first."""
    return _versions(request, auth, name, project)[offset : offset + limit]


@router.get("/datasets/{name}/versions/{version}/files/{path:path}", openapi_extra=role("viewer"))
def get_dataset_file(
    name: str,
    version: str,
    path: str,
    request: Request,
    auth: Auth,
    project: ProjectName = None,
) -> StreamingResponse:
    """The bytes of one file of a version, streamed; ``x-lepton-sha256`` holds their hash."""
    check_file_path(path, "dataset file name")
    info = _version(request, auth, name, version, project)
    handle = state_of(request).workspace.open_dataset_file(
        info.name, info.version, path, info.project
    )
    sha256 = next((f["sha256"] for f in info.files if f["path"] == path), None)
    return file_response(handle, sha256)

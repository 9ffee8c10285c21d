"""Runs over REST: create, read, list, end and reopen runs; their params, tags, lineage and
inputs; metric points in batches; artifacts uploaded and downloaded as streamed bodies.

Every run-scoped route looks the run up first (a full id or a unique prefix of one; 404 when
there is none) and then checks the caller's role in the run's project: viewer to read,
developer to write. The work itself is done by ``LocalWorkspace``, so a remote run behaves
exactly like an embedded one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any, BinaryIO, TypeVar

import anyio
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from starlette.requests import ClientDisconnect

from lepton._validation import check_key
from lepton.errors import (
    ArtifactNotFoundError,
    InvalidParameterError,
    ProjectNotFoundError,
    RunNotFoundError,
)
from lepton.server._context import Caller, Limit, Offset, ServerState, caller, role, state_of
from lepton.store._artifacts import check_key as check_path
from lepton.workspace._records import ArtifactInfo, RunInfo

router = APIRouter(tags=["runs"])
Auth = Annotated[Caller, Depends(caller)]
ProjectName = Annotated[str | None, Query(max_length=200)]

CHUNK = 1 << 20  # bytes per read and write of a streamed body
MAX_PATH = 1000  # characters of an artifact path (the store's column)
_SCAN = 1000  # rows per query when a listing is filtered to the projects a caller can see
T = TypeVar("T")


# helpers shared with the datasets routes ---------------------------------------------------
def check_file_path(path: str, what: str = "artifact path") -> str:
    """A relative POSIX path that cannot escape its folder (422 otherwise)."""
    if len(path) > MAX_PATH:
        raise InvalidParameterError(
            f"The {what} is {len(path)} characters long; at most {MAX_PATH} are allowed."
        )
    try:
        return check_path(path)
    except InvalidParameterError:
        raise InvalidParameterError(
            f"Invalid {what} {path!r}: expected a relative path such as 'plots/loss.png', "
            "with no leading '/', no '..' or '.' parts, no empty parts and no backslashes."
        ) from None


def visible_page(
    fetch: Callable[[int, int], Sequence[T]], keep: Callable[[T], bool], limit: int, offset: int
) -> list[T]:
    """One page of a listing after dropping what the caller may not see.

    ``fetch(limit, offset)`` reads the unfiltered listing; it is read in slices until the
    page is full, so offsets count only visible items.
    """
    found: list[T] = []
    start = 0
    while len(found) < offset + limit:
        rows = fetch(_SCAN, start)
        found.extend(row for row in rows if keep(row))
        if len(rows) < _SCAN:
            break
        start += _SCAN
    return found[offset : offset + limit]


# Raster images are served as what they are, so that a page can show a run's plots with
# <img>; anything else (SVG and HTML included, whose scripts would run on this origin when
# opened) stays a download.
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}


def file_response(handle: BinaryIO, sha256: str | None = None, path: str = "") -> StreamingResponse:
    """Stream an open stored file to the client in chunks, closing it afterwards."""

    def chunks() -> Iterator[bytes]:
        with handle:
            while chunk := handle.read(CHUNK):
                yield chunk

    headers = {"x-content-type-options": "nosniff"}
    if sha256:
        headers["x-lepton-sha256"] = sha256
    media_type = IMAGE_TYPES.get(Path(path).suffix.lower(), "application/octet-stream")
    return StreamingResponse(chunks(), media_type=media_type, headers=headers)


async def receive_to_file(request: Request, target: Path) -> int:
    """Write the request body to ``target`` chunk by chunk; never hold it all in memory."""
    size = 0
    try:
        with open(target, "wb") as out:
            async for chunk in request.stream():
                out.write(chunk)
                size += len(chunk)
    except ClientDisconnect:
        raise InvalidParameterError(
            "The upload was cut off before the whole body arrived; nothing was stored. "
            "Send it again."
        ) from None
    return size


def _project_exists(state: ServerState, project: str) -> bool:
    try:
        state.workspace.get_project(project)
    except ProjectNotFoundError:
        return False
    return True


@contextlib.contextmanager
def creating_project(state: ServerState, auth: Caller, project: str) -> Iterator[None]:
    """Run the work inside (which may create ``project``); the caller administers a project
    that work created, as with ``PUT /projects/{name}``."""
    existed = _project_exists(state, project)
    try:
        yield
    finally:
        if not existed and _project_exists(state, project):
            state.security.grant_creator(auth.principal, project)


def audit(request: Request, **details: Any) -> None:
    """What a write changed, for the audit trail (ids and names only, never contents)."""
    request.state.audit_details = details


# runs -----------------------------------------------------------------------------------------
def run_for(request: Request, auth: Caller, run_id: str, needed: str) -> RunInfo:
    """The run ``run_id`` (or a unique prefix of one), once the caller has ``needed`` in its
    project."""
    workspace = state_of(request).workspace
    try:
        info = workspace.get_run(run_id)
    except RunNotFoundError:
        # the embedded message lists recent runs of every project: list only visible ones
        recent = visible_page(
            lambda count, start: workspace.list_runs(limit=count, offset=start),
            lambda run: auth.can("viewer", run.project),
            10,
            0,
        )
        raise RunNotFoundError(
            run_id, [r.id for r in recent], hint="List runs with `lepton runs list`."
        ) from None
    auth.require(needed, info.project)
    return info


class RunIn(BaseModel):
    project: str = Field(max_length=200)
    name: str = Field(min_length=1, max_length=250)
    parent_id: str | None = Field(default=None, max_length=100)
    lineage: dict[str, Any] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)


class EndIn(BaseModel):
    status: str = "finished"
    error: str | None = Field(default=None, max_length=1_000_000)


class ParamsIn(BaseModel):
    params: dict[str, Any]


class TagsIn(BaseModel):
    tags: dict[str, str]


class LineageIn(BaseModel):
    lineage: dict[str, Any]


class InputsIn(BaseModel):
    inputs: list[tuple[str, str, str]]


@router.post("/runs", status_code=201, openapi_extra=role("developer"))
def create_run(body: RunIn, request: Request, auth: Auth) -> RunInfo:
    """Start a run in ``project`` (created when it does not exist yet)."""
    parent_id = None
    if body.parent_id is not None:
        parent_id = run_for(request, auth, body.parent_id, "viewer").id
    auth.require("developer", body.project)
    for key in body.tags:
        check_key("tag", key)
    state = state_of(request)
    with creating_project(state, auth, body.project):
        info = state.workspace.create_run(
            body.project, body.name, parent_id=parent_id, lineage=body.lineage, tags=body.tags
        )
    audit(request, run_id=info.id, name=info.name)
    return info


@router.get("/runs/{run_id}", openapi_extra=role("viewer"))
def get_run(run_id: str, request: Request, auth: Auth) -> RunInfo:
    """A run by id, or by a unique prefix of at least 4 characters."""
    return run_for(request, auth, run_id, "viewer")


@router.get("/runs", openapi_extra=role("authenticated"))
def list_runs(
    request: Request,
    auth: Auth,
    project: ProjectName = None,
    status: str | None = None,
    parent_id: str | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[RunInfo]:
    """Runs, newest first: of one project (viewer there), or of every project the caller sees."""
    workspace = state_of(request).workspace
    if project is not None:
        auth.require("viewer", project)
        return workspace.list_runs(
            project, status=status, parent_id=parent_id, limit=limit, offset=offset
        )

    def fetch(count: int, start: int) -> list[RunInfo]:
        return workspace.list_runs(
            None, status=status, parent_id=parent_id, limit=count, offset=start
        )

    if auth.can("viewer"):  # a role on every project: nothing to filter out
        return fetch(limit, offset)
    return visible_page(fetch, lambda run: auth.can("viewer", run.project), limit, offset)


@router.post("/runs/{run_id}/end", status_code=204, openapi_extra=role("developer"))
def end_run(run_id: str, body: EndIn, request: Request, auth: Auth) -> None:
    """Mark a run finished, failed or killed."""
    run = run_for(request, auth, run_id, "developer")
    state_of(request).workspace.end_run(run.id, body.status, body.error)
    audit(request, run_id=run.id, status=body.status)


@router.post("/runs/{run_id}/reopen", openapi_extra=role("developer"))
def reopen_run(run_id: str, request: Request, auth: Auth) -> RunInfo:
    """Mark an ended run as running again (to resume it)."""
    run = run_for(request, auth, run_id, "developer")
    audit(request, run_id=run.id)
    return state_of(request).workspace.reopen_run(run.id)


@router.post("/runs/{run_id}/params", status_code=204, openapi_extra=role("developer"))
def log_params(run_id: str, body: ParamsIn, request: Request, auth: Auth) -> None:
    """Record (or overwrite) hyper-parameters of a run."""
    run = run_for(request, auth, run_id, "developer")
    for key in body.params:
        check_key("param", key)
    state_of(request).workspace.log_params(run.id, body.params)
    audit(request, run_id=run.id, keys=sorted(body.params)[:50])


@router.post("/runs/{run_id}/tags", status_code=204, openapi_extra=role("developer"))
def set_tags(run_id: str, body: TagsIn, request: Request, auth: Auth) -> None:
    """Set (or overwrite) tags of a run."""
    run = run_for(request, auth, run_id, "developer")
    for key in body.tags:
        check_key("tag", key)
    state_of(request).workspace.set_tags(run.id, body.tags)
    audit(request, run_id=run.id, keys=sorted(body.tags)[:50])


@router.patch("/runs/{run_id}/lineage", status_code=204, openapi_extra=role("developer"))
def update_lineage(run_id: str, body: LineageIn, request: Request, auth: Auth) -> None:
    """Merge keys into a run's lineage (code version, environment, ...)."""
    run = run_for(request, auth, run_id, "developer")
    state_of(request).workspace.update_lineage(run.id, body.lineage)
    audit(request, run_id=run.id, keys=sorted(body.lineage)[:50])


@router.post("/runs/{run_id}/inputs", status_code=204, openapi_extra=role("developer"))
def add_run_inputs(run_id: str, body: InputsIn, request: Request, auth: Auth) -> None:
    """Record (kind, name, version) inputs of a run, e.g. ("dataset", "credit", "3f2a...")."""
    run = run_for(request, auth, run_id, "developer")
    for kind, name, version in body.inputs:
        if not (0 < len(kind) <= 32 and 0 < len(name) <= 250 and 0 < len(version) <= 64):
            raise InvalidParameterError(
                f"Invalid run input ({kind!r}, {name!r}, {version!r}): expected a kind of at "
                "most 32, a name of at most 250 and a version of at most 64 characters, e.g. "
                "('dataset', 'credit', '3f2a9c1e...')."
            )
    inputs = list(dict.fromkeys(body.inputs))  # the store refuses a duplicate in one batch
    state_of(request).workspace.add_run_inputs(run.id, inputs)
    audit(request, run_id=run.id, inputs=[list(i) for i in inputs[:20]])


# metrics --------------------------------------------------------------------------------------
Step = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]  # the store's BIGINT
Finite = Annotated[float, Field(allow_inf_nan=False)]


class MetricsIn(BaseModel):
    """Metric points as compact arrays: ``[[run_id, key, step, timestamp, value], ...]``."""

    points: list[tuple[str, str, Step, Finite, Finite]] = Field(max_length=1_000_000)


@router.post("/metrics", status_code=204, openapi_extra=role("developer"))
def log_metrics(body: MetricsIn, request: Request, auth: Auth) -> None:
    """Write a batch of metric points (of one or several runs) in one transaction."""
    full_ids: dict[str, str] = {}
    for run_id in dict.fromkeys(p[0] for p in body.points):  # each run looked up once
        full_ids[run_id] = run_for(request, auth, run_id, "developer").id
    for key in {p[1] for p in body.points}:
        check_key("metric", key)
    points = body.points
    if any(given != full for given, full in full_ids.items()):  # prefixes: store full ids
        points = [(full_ids[p[0]], *p[1:]) for p in points]  # type: ignore[misc]
    state_of(request).workspace.log_metrics(points)
    audit(request, runs=sorted(set(full_ids.values()))[:20], points=len(points))


@router.get("/runs/{run_id}/metrics", openapi_extra=role("viewer"))
def metric_history(
    run_id: str,
    request: Request,
    auth: Auth,
    key: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000_000)] = 1_000_000,
    offset: Offset = 0,
) -> list[tuple[str, int, float, float]]:
    """Every point of a run's metrics (or of one), as ``[key, step, timestamp, value]``
    arrays ordered by key and step."""
    run = run_for(request, auth, run_id, "viewer")
    points = state_of(request).workspace.metric_history(run.id, key)[offset : offset + limit]
    return [(p.key, p.step, p.timestamp, p.value) for p in points]


@router.get("/runs/{run_id}/last-steps", openapi_extra=role("viewer"))
def last_steps(run_id: str, request: Request, auth: Auth) -> dict[str, int]:
    """The highest step logged so far for each metric of a run."""
    run = run_for(request, auth, run_id, "viewer")
    return state_of(request).workspace.last_steps(run.id)


# artifacts ------------------------------------------------------------------------------------
@router.get("/runs/{run_id}/artifacts", openapi_extra=role("viewer"))
def list_artifacts(
    run_id: str, request: Request, auth: Auth, limit: Limit = 1000, offset: Offset = 0
) -> list[ArtifactInfo]:
    """A run's artifacts, by path."""
    run = run_for(request, auth, run_id, "viewer")
    return state_of(request).workspace.list_artifacts(run.id)[offset : offset + limit]


@router.put(
    "/runs/{run_id}/artifacts/{path:path}",
    openapi_extra={
        **role("developer"),
        "requestBody": {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string"}}},
        },
    },
)
async def put_artifact(run_id: str, path: str, request: Request, auth: Auth) -> ArtifactInfo:
    """Store the request body (streamed, ``application/octet-stream``) as the artifact
    ``path`` of a run, replacing one of the same path."""
    check_file_path(path)
    run = await anyio.to_thread.run_sync(run_for, request, auth, run_id, "developer")
    workspace = state_of(request).workspace
    fd, name = tempfile.mkstemp(prefix="lepton-upload-")
    os.close(fd)
    try:
        size = await receive_to_file(request, Path(name))
        logged = await anyio.to_thread.run_sync(workspace.log_artifact, run.id, name, path)
    finally:
        os.unlink(name)
    audit(request, run_id=run.id, path=path, size=size)
    return logged[0]


@router.get("/runs/{run_id}/artifacts/{path:path}", openapi_extra=role("viewer"))
def get_artifact(run_id: str, path: str, request: Request, auth: Auth) -> StreamingResponse:
    """The bytes of one artifact, streamed; ``x-lepton-sha256`` holds their recorded hash."""
    check_file_path(path)
    run = run_for(request, auth, run_id, "viewer")
    workspace = state_of(request).workspace
    records = workspace.list_artifacts(run.id)
    record = next((r for r in records if r.path == path), None)
    if record is None:
        raise ArtifactNotFoundError(path, [r.path for r in records], hint=f"(run {run.id})")
    return file_response(workspace.open_artifact(run.id, path), record.sha256, path)

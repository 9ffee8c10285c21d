"""Training jobs: submit (developer in the job's project), list and read with logs (viewer),
cancel and retry (developer). The scheduler that runs them lives in the server's lifespan."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from lepton.jobs._files import LOG_CHUNK, append_log, read_log
from lepton.jobs._queue import JobQueue
from lepton.jobs._records import STATUSES, JobInfo, JobLogs
from lepton.jobs._spec import JobSpec
from lepton.jobs._validate import check_submission
from lepton.server._context import ALL_PROJECTS, Caller, Offset, ServerState, caller, role, state_of

router = APIRouter(tags=["jobs"])
Auth = Annotated[Caller, Depends(caller)]
MAX_OFFSET = 1 << 53  # a byte offset in a job's log: far past any real log, within seek()'s range


def _queue(state: ServerState) -> JobQueue:
    return JobQueue(state.workspace.meta)


@router.post("/jobs", status_code=201, openapi_extra=role("developer"))
def submit_job(body: JobSpec, request: Request, auth: Auth) -> JobInfo:
    """Queue a training job; 422 names the field of the spec that is wrong."""
    state = state_of(request)
    if body.project is not None:  # else check_submission says the project is missing
        auth.require("developer", body.project)
    spec = check_submission(state.workspace, body, state.options.cpu_slots, state.options.gpu_slots)
    job = _queue(state).add(spec, submitted_by=auth.name)
    request.state.audit_details = {
        "job": job.id,
        "name": job.name,
        "data": spec.data,
        "model": spec.model,
        "register": spec.register_as,
        "secrets": job.secrets,  # names only: values never leave the secret store
    }
    _wake(state)
    return job


@router.get("/jobs", openapi_extra=role("authenticated"))
def list_jobs(
    request: Request,
    auth: Auth,
    project: Annotated[str | None, Query(max_length=200)] = None,
    status: Annotated[str | None, Query(description=", ".join(STATUSES))] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    offset: Offset = 0,
) -> list[JobInfo]:
    """Jobs newest first, of the projects the caller may read."""
    queue = _queue(state_of(request))
    if project is not None:
        auth.require("viewer", project)
        projects: set[str] | None = {project}
    elif auth.can("viewer", ALL_PROJECTS):
        projects = None
    else:
        projects = auth.visible(queue.projects())
    return queue.list_jobs(projects, status=status, limit=limit, offset=offset)


@router.get("/jobs/{job_id}", openapi_extra=role("viewer"))
def get_job(job_id: str, request: Request, auth: Auth) -> JobInfo:
    job = _queue(state_of(request)).get(job_id)
    auth.require("viewer", job.project)
    return job


@router.get("/jobs/{job_id}/logs", openapi_extra=role("viewer"))
def job_logs(
    job_id: str,
    request: Request,
    auth: Auth,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    limit: Annotated[int, Query(ge=1, le=LOG_CHUNK)] = LOG_CHUNK,
) -> JobLogs:
    """The log from byte ``offset`` (what the job printed and the scheduler's notes)."""
    state = state_of(request)
    job = _queue(state).get(job_id)
    auth.require("viewer", job.project)
    # the status is read before the log: when it says "ended", the log read after it is whole
    text, next_offset, at_end = read_log(_home(state), job.id, offset, limit, complete=job.done)
    return JobLogs(text, offset, next_offset, job.status, done=job.done and at_end)


@router.post("/jobs/{job_id}/cancel", openapi_extra=role("developer"))
def cancel_job(job_id: str, request: Request, auth: Auth) -> JobInfo:
    """Cancel a queued or running job; the scheduler stops its process (SIGTERM, then SIGKILL)."""
    state = state_of(request)
    queue = _queue(state)
    job = queue.get(job_id)
    auth.require("developer", job.project)
    request.state.audit_details = {"job": job.id, "name": job.name, "was": job.status}
    cancelled = queue.cancel(job.id, by=auth.name)
    if job.status != "cancelled":
        append_log(_home(state), job.id, f"cancelled by {auth.name}")
    _wake(state)
    return cancelled


@router.post("/jobs/{job_id}/retry", openapi_extra=role("developer"))
def retry_job(job_id: str, request: Request, auth: Auth) -> JobInfo:
    """Queue a failed or cancelled job again, with its full number of retries."""
    state = state_of(request)
    queue = _queue(state)
    job = queue.get(job_id)
    auth.require("developer", job.project)
    request.state.audit_details = {"job": job.id, "name": job.name, "was": job.status}
    retried = queue.retry(job.id)
    append_log(_home(state), job.id, f"retried by {auth.name}: back to the queue")
    _wake(state)
    return retried


def _wake(state: ServerState) -> None:
    scheduler = state.services.get("scheduler")
    if scheduler is not None:
        scheduler.wake()


def _home(state: ServerState) -> Path:
    """The server's LEPTON_HOME, where job logs are (the workspace's location is its home)."""
    scheduler = state.services.get("scheduler")
    return Path(scheduler.home if scheduler is not None else state.workspace.location)

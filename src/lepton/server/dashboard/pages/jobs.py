"""Dashboard pages of training jobs: the queue, newest first and filtered by status, and one
job with its spec, attempts, error, the run and model it made, the tail of its log, and the
Cancel and Retry buttons (which call the REST API)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from lepton.jobs._files import log_path
from lepton.jobs._records import STATUSES, JobInfo
from lepton.server._context import Offset, state_of
from lepton.server.dashboard._render import render
from lepton.server.dashboard._session import Viewer
from lepton.server.routes import jobs, projects

router = APIRouter()
PageLimit = Annotated[int, Query(ge=1, le=500)]
LOG_TAIL = 64 * 1024  # bytes of a job's log shown on its page; `lepton jobs logs ID` prints all


@router.get("/jobs", response_class=HTMLResponse)
def jobs_page(
    request: Request,
    me: Viewer,
    status: Annotated[str, Query(max_length=20)] = "",
    project: Annotated[str, Query(max_length=200)] = "",
    limit: PageLimit = 50,
    offset: Offset = 0,
) -> HTMLResponse:
    """The jobs of the projects the caller may read (empty filters: every status, project)."""
    listing = jobs.list_jobs(
        request, me, project=project or None, status=status or None, limit=limit, offset=offset
    )
    filters = {k: v for k, v in (("status", status), ("project", project)) if v}
    return render(
        request,
        "jobs.html",
        title="Jobs",
        me=me,
        jobs=listing,
        chosen_status=status,
        project=project,
        statuses=STATUSES,
        projects=[p.name for p in projects.list_projects(request, me, limit=1000, offset=0)],
        filtered=bool(filters),
        query="&" + urlencode(filters) if filters else "",
        limit=limit,
        offset=offset,
    )


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(job_id: str, request: Request, me: Viewer) -> HTMLResponse:
    """One job (by id or a unique prefix of it); 404 page for an unknown one."""
    job = jobs.get_job(job_id, request, me)
    log, clipped = _log_tail(request, me, job)
    model_name, _, model_version = (job.model_ref or "").rpartition(":")
    return render(
        request,
        "job.html",
        title=f"Job {job.name}",
        me=me,
        job=job,
        spec=_yaml(job.spec),
        log=log,
        log_clipped=clipped,
        tail_kb=LOG_TAIL // 1024,
        model_name=model_name,
        model_version=model_version,
        can_change=me.can("developer", job.project),
    )


def _log_tail(request: Request, me: Viewer, job: JobInfo) -> tuple[str, bool]:
    """The last LOG_TAIL bytes of the job's log (read through the API's route), and whether
    the log is longer than that."""
    # the route reads from an offset; the file's size says where the tail starts
    path = log_path(jobs._home(state_of(request)), job.id)
    try:
        length = path.stat().st_size
    except FileNotFoundError:
        return "", False
    start = max(0, length - LOG_TAIL)
    text = jobs.job_logs(job.id, request, me, offset=start, limit=LOG_TAIL).text
    if start > 0:  # the tail began mid-line (maybe mid-character): start at the next line
        text = text.partition("\n")[2]
    return text, start > 0


def _yaml(spec: dict[str, Any]) -> str:
    """The spec as the YAML file ``lepton jobs submit`` reads."""
    import yaml

    shown = {k: v for k, v in spec.items() if v not in (None, [], {})}
    return str(yaml.safe_dump(shown, sort_keys=False, default_flow_style=False)).rstrip()

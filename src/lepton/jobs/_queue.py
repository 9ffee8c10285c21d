"""The ``jobs`` table: every change of a job's status is one conditional UPDATE, so the
scheduler, the API and a second server process can never both move the same job (a cancel that
lands while the scheduler starts the job wins, or the start does; never half of each)."""

from __future__ import annotations

import re
import time
from collections.abc import Collection
from typing import Any

from sqlalchemy import case, func, select, update

from lepton.errors import InvalidParameterError
from lepton.jobs._records import FINAL, STATUSES, JobInfo, JobNotFoundError
from lepton.jobs._spec import JobSpec
from lepton.store import _schema as t
from lepton.store._metadata import MetadataStore, new_id

_ID_PREFIX = re.compile(r"^[0-9a-f]{4,32}$")
_ERROR_CHARS = 4000  # an error message, not a whole traceback (that is in the log)

jobs = t.jobs


class JobQueue:
    """Reads and status changes of jobs, over the workspace's metadata store."""

    def __init__(self, meta: MetadataStore) -> None:
        self.meta = meta

    # reads ----------------------------------------------------------------------------------
    def get(self, job_id: str) -> JobInfo:
        """The job ``job_id`` (or the one job whose id starts with it, 4+ characters)."""
        if not isinstance(job_id, str) or not _ID_PREFIX.match(job_id):
            raise InvalidParameterError(
                f"Invalid job id {job_id!r}: expected the 32 hexadecimal characters that "
                "`lepton jobs submit` printed (the first 8 are enough); see lepton jobs list."
            )
        with self.meta.read() as conn:
            rows = conn.execute(
                select(jobs).where(jobs.c.id.startswith(job_id, autoescape=True)).limit(2)
            ).all()
        if not rows:
            raise JobNotFoundError(job_id, hint="See the jobs there are with: lepton jobs list.")
        if len(rows) > 1:
            raise InvalidParameterError(
                f"Job id prefix {job_id!r} matches more than one job; give more characters."
            )
        return JobInfo.from_row(dict(rows[0]._mapping))

    def list_jobs(
        self,
        projects: Collection[str] | None = None,
        status: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[JobInfo]:
        """Jobs, newest first; ``projects`` None means every project."""
        query = select(jobs)
        if projects is not None:
            query = query.where(jobs.c.project.in_(sorted(projects)))
        if status is not None:
            if status not in STATUSES:
                raise InvalidParameterError(
                    f"Unknown job status {status!r}; expected one of {', '.join(STATUSES)}."
                )
            query = query.where(jobs.c.status == status)
        query = query.order_by(jobs.c.created_at.desc(), jobs.c.id).limit(limit).offset(offset)
        with self.meta.read() as conn:
            return [JobInfo.from_row(dict(r._mapping)) for r in conn.execute(query)]

    def projects(self) -> list[str]:
        """Every project that has jobs (to filter listings to what a caller may see)."""
        with self.meta.read() as conn:
            return [r[0] for r in conn.execute(select(jobs.c.project).distinct())]

    def with_status(self, status: str) -> list[JobInfo]:
        """Jobs in ``status``, oldest first (the order queued jobs start in)."""
        query = select(jobs).where(jobs.c.status == status).order_by(jobs.c.created_at, jobs.c.id)
        with self.meta.read() as conn:
            return [JobInfo.from_row(dict(r._mapping)) for r in conn.execute(query)]

    def statuses(self, job_ids: Collection[str]) -> dict[str, str]:
        if not job_ids:
            return {}
        query = select(jobs.c.id, jobs.c.status).where(jobs.c.id.in_(list(job_ids)))
        with self.meta.read() as conn:
            return {r.id: r.status for r in conn.execute(query)}

    def count(self, status: str) -> int:
        with self.meta.read() as conn:
            query = select(func.count()).select_from(jobs).where(jobs.c.status == status)
            return int(conn.execute(query).scalar_one())

    # submit, cancel, retry (the API) ----------------------------------------------------------
    def add(self, spec: JobSpec, submitted_by: str, kind: str = "train") -> JobInfo:
        """Queue a checked spec (its ``project`` and ``name`` set)."""
        if spec.project is None:
            raise InvalidParameterError("project: a job needs a project.")
        row: dict[str, Any] = {
            "id": new_id(),
            "project": spec.project,
            "name": spec.name or spec.default_name(),
            "kind": kind,
            "spec": spec.to_json(),
            "status": "queued",
            "cpu": spec.resources.cpu,
            "gpu": spec.resources.gpu,
            "max_retries": spec.retries,
            "attempts": 0,
            "secrets": list(spec.secrets),
            "submitted_by": submitted_by,
            "pid": None,
            "run_id": None,
            "model_ref": None,
            "error": None,
            "created_at": time.time(),
            "started_at": None,
            "ended_at": None,
        }
        self.meta.insert_row(jobs, row)
        return JobInfo.from_row(row)

    def cancel(self, job_id: str, by: str) -> JobInfo:
        """A queued job is dropped, a running one marked: the scheduler then stops its process."""
        job = self.get(job_id)
        if job.status == "cancelled":
            return job
        if job.status in FINAL:
            raise InvalidParameterError(
                f"Job {job.id[:8]} ({job.name}) has already {job.status}; there is nothing to "
                "cancel. Retry it with: lepton jobs retry ID."
                if job.status == "failed"
                else f"Job {job.id[:8]} ({job.name}) has already {job.status}; there is "
                "nothing to cancel."
            )
        moved = self._move(
            job.id,
            ("queued", "running"),
            status="cancelled",
            error=f"cancelled by {by}",
            ended_at=time.time(),
        )
        if not moved:  # it ended in the meantime: say how
            return self.cancel(job.id, by)
        return self.get(job.id)

    def retry(self, job_id: str) -> JobInfo:
        """Queue a failed or cancelled job again, with its full retry budget."""
        job = self.get(job_id)
        if job.status not in ("failed", "cancelled"):
            hint = (
                "Submit the spec again to train another model."
                if job.status == "succeeded"
                else "Wait for it to end, or cancel it first: lepton jobs cancel ID."
            )
            raise InvalidParameterError(
                f"Job {job.id[:8]} ({job.name}) is {job.status}; only a failed or cancelled "
                f"job can be retried. {hint}"
            )
        self._move(
            job.id,
            ("failed", "cancelled"),
            status="queued",
            attempts=0,
            error=None,
            pid=None,
            run_id=None,
            model_ref=None,
            started_at=None,
            ended_at=None,
        )
        return self.get(job.id)

    # the scheduler's moves -----------------------------------------------------------------------
    def claim(self, job_id: str) -> JobInfo | None:
        """queued -> running, one more attempt; None when the job is no longer queued."""
        moved = self._move(
            job_id,
            ("queued",),
            status="running",
            attempts=jobs.c.attempts + 1,
            pid=None,
            started_at=time.time(),
            ended_at=None,
        )
        return self.get(job_id) if moved else None

    def set_pid(self, job_id: str, pid: int | None) -> None:
        self._move(job_id, ("running",), pid=pid)

    def finish(
        self,
        job_id: str,
        status: str,
        error: str | None = None,
        run_id: str | None = None,
        model_ref: str | None = None,
    ) -> bool:
        """running -> succeeded or failed; False when it was no longer running (cancelled)."""
        return self._move(
            job_id,
            ("running",),
            status=status,
            error=_clip(error),
            pid=None,
            ended_at=time.time(),
            **_links(run_id, model_ref),
        )

    def requeue(
        self, job_id: str, error: str | None, count_attempt: bool = True, run_id: str | None = None
    ) -> bool:
        """running -> queued: a retry after a failure, or a job the server stopped (which gives
        its attempt back)."""
        values: dict[str, Any] = {"status": "queued", "pid": None, **_links(run_id, None)}
        if error is not None:
            values["error"] = _clip(error)
        if not count_attempt:
            values["attempts"] = case((jobs.c.attempts > 0, jobs.c.attempts - 1), else_=0)
        return self._move(job_id, ("running",), **values)

    def link(self, job_id: str, run_id: str | None, model_ref: str | None) -> None:
        """Record the run and model a job made, whatever its status now."""
        values = _links(run_id, model_ref)
        if values:
            with self.meta.write() as conn:
                conn.execute(update(jobs).where(jobs.c.id == job_id).values(**values))

    def _move(self, job_id: str, sources: tuple[str, ...], **values: Any) -> bool:
        with self.meta.write() as conn:
            result = conn.execute(
                update(jobs).where(jobs.c.id == job_id, jobs.c.status.in_(sources)).values(**values)
            )
        return bool(result.rowcount)


def _links(run_id: str | None, model_ref: str | None) -> dict[str, str]:
    values = {}
    if run_id:
        values["run_id"] = run_id
    if model_ref:
        values["model_ref"] = model_ref
    return values


def _clip(error: str | None) -> str | None:
    if error is None or len(error) <= _ERROR_CHARS:
        return error
    return error[: _ERROR_CHARS - 20] + " ... (see the log)"

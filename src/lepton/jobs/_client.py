"""The SDK side of jobs: submit, list, inspect, follow, cancel and retry training jobs on the
team server the current settings point at (``lepton login`` / ``LEPTON_URL``)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from lepton.errors import ConfigError, InvalidParameterError
from lepton.jobs._records import JobInfo, JobLogs, JobTimeoutError
from lepton.jobs._spec import JobSpec, local_path_message, parse_job_spec, read_job_file

if TYPE_CHECKING:
    from lepton.workspace._remote_http import Transport


def submit_job(
    spec: str | Path | Mapping[str, Any] | JobSpec,
    *,
    name: str | None = None,
    project: str | None = None,
    backend: str | None = None,
) -> JobInfo:
    """Queue a training job on the team server; it starts when its CPU/GPU slots are free.

    Args:
        spec: a YAML file (the keys of ``lepton train`` plus ``name``, ``project``,
            ``resources``, ``retries``, ``secrets`` and ``register``), a dict of them, or a JobSpec.
        name: the job's name (overrides the spec's; default MODEL-DATASET).
        project: the job's project (overrides the spec's; default the current project).
        backend: ``"local"`` (the server's own CPU/GPU slots, the default) or ``"ray"`` (a Ray
            job on the cluster the server is configured for); overrides the spec's.

    Raises:
        ConfigError: no team server is configured, or the file cannot be read.
        BackendError: ``backend="ray"`` and the server reaches no Ray Jobs API.
        InvalidParameterError: a field of the spec is wrong (the message names it), e.g. data
            names a file instead of a dataset registered on the server.

    Example:
        >>> from lepton.jobs import submit_job, wait_job
        >>> job = submit_job({"data": "iris", "model": "logistic_regression"}, project="demo")
        >>> wait_job(job.id).status
        'succeeded'
    """
    source = "The job spec"
    base = Path.cwd()
    if isinstance(spec, JobSpec):
        values = spec.model_dump(exclude_unset=True, by_alias=True)
    elif isinstance(spec, str | Path):
        values, source, base = read_job_file(spec), str(spec), Path(spec).parent
    elif isinstance(spec, Mapping):
        values = dict(spec)
    else:
        raise InvalidParameterError(
            f"submit_job takes a YAML path, a dict or a JobSpec, got {type(spec).__name__}."
        )
    if name is not None:
        values["name"] = name
    if project is not None:
        values["project"] = project
    if backend is not None:
        values["backend"] = backend
    if not values.get("project"):
        from lepton.workspace import current_settings

        values["project"] = current_settings().project
    parsed = parse_job_spec(values, source)
    if any(p.exists() for p in (Path(parsed.data).expanduser(), base / parsed.data)):
        raise InvalidParameterError(local_path_message(parsed.data, str(parsed.project)))
    return JobInfo(**_transport().call("POST", "/jobs", json=parsed.to_json()))


def list_jobs(
    project: str | None = None, status: str | None = None, limit: int = 100
) -> list[JobInfo]:
    """Jobs newest first: of one project, or of every project you may see."""
    params: dict[str, Any] = {"limit": limit}
    if project is not None:
        params["project"] = project
    if status is not None:
        params["status"] = status
    return [JobInfo(**j) for j in _transport().call("GET", "/jobs", params=params)]


def get_job(job_id: str) -> JobInfo:
    """One job (the first 8 characters of its id are enough)."""
    path = _path(job_id)
    return JobInfo(**_transport().call("GET", path))


def job_logs(job_id: str, offset: int = 0) -> JobLogs:
    """The job's log from byte ``offset``; ask again from ``next_offset`` for what follows."""
    path = _path(job_id, "logs")
    answer = _transport().call("GET", path, params={"offset": offset})
    return JobLogs(**answer)


def follow_job_logs(job_id: str, offset: int = 0, interval: float = 1.0) -> Iterator[str]:
    """Text of the job's log as it grows, until the job has ended and all of it was read."""
    while True:
        logs = job_logs(job_id, offset)
        if logs.text:
            yield logs.text
        if logs.done:
            return
        if logs.next_offset == offset:
            time.sleep(interval)
        offset = logs.next_offset


def cancel_job(job_id: str) -> JobInfo:
    """Cancel a queued or running job (its process gets SIGTERM, then SIGKILL)."""
    path = _path(job_id, "cancel")
    return JobInfo(**_transport().call("POST", path))


def retry_job(job_id: str) -> JobInfo:
    """Queue a failed or cancelled job again, with its full number of retries."""
    path = _path(job_id, "retry")
    return JobInfo(**_transport().call("POST", path))


def wait_job(job_id: str, timeout: float | None = None, interval: float = 0.5) -> JobInfo:
    """Wait until the job has succeeded, failed or been cancelled; its final record.

    Raises:
        JobTimeoutError: it had not ended after ``timeout`` seconds.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        job = get_job(job_id)
        if job.done:
            return job
        if deadline is not None and time.monotonic() >= deadline:
            raise JobTimeoutError(
                f"Job {job.id[:8]} ({job.name}) is still {job.status} after {timeout} s. "
                "Wait longer, or follow it with: lepton jobs logs -f ID."
            )
        time.sleep(interval)


def _path(job_id: str, action: str = "") -> str:
    if not isinstance(job_id, str) or not job_id:
        raise InvalidParameterError(
            f"A job id must be a non-empty string, got {job_id!r}; see lepton jobs list."
        )
    return f"/jobs/{quote(job_id, safe='')}" + (f"/{action}" if action else "")


def _transport() -> Transport:
    """The HTTP transport of the configured team server."""
    from lepton.workspace import current_settings, get_workspace
    from lepton.workspace._remote import RemoteWorkspace

    settings = current_settings()
    if not settings.url:
        raise ConfigError(
            "Jobs run on a team server, and none is configured. Start one with "
            "`lepton server start` on the machine that should train, then point this client "
            "at it with `lepton login URL` (or set LEPTON_URL and LEPTON_TOKEN)."
        )
    workspace = get_workspace(settings)
    if not isinstance(workspace, RemoteWorkspace):  # e.g. a test's embedded workspace
        raise ConfigError(f"Jobs run on a team server, not on {workspace!r}.")
    return workspace.http

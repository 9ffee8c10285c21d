"""Training jobs on the team server: ``submit_job`` queues a spec, the server's
:class:`Scheduler` runs up to as many at once as its CPU/GPU slots allow, retries failures,
and links each job to the run and model it produced.

Names load on first use, so the CLI's ``lepton jobs list`` does not import the store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lepton.jobs._client import (
        cancel_job,
        follow_job_logs,
        get_job,
        job_logs,
        list_jobs,
        retry_job,
        submit_job,
        wait_job,
    )
    from lepton.jobs._queue import JobQueue
    from lepton.jobs._records import JobInfo, JobLogs, JobNotFoundError, JobTimeoutError
    from lepton.jobs._scheduler import Scheduler
    from lepton.jobs._spec import JobSpec, Resources

_LAZY = {
    "JobInfo": "lepton.jobs._records",
    "JobLogs": "lepton.jobs._records",
    "JobNotFoundError": "lepton.jobs._records",
    "JobQueue": "lepton.jobs._queue",
    "JobSpec": "lepton.jobs._spec",
    "JobTimeoutError": "lepton.jobs._records",
    "Resources": "lepton.jobs._spec",
    "Scheduler": "lepton.jobs._scheduler",
    "cancel_job": "lepton.jobs._client",
    "follow_job_logs": "lepton.jobs._client",
    "get_job": "lepton.jobs._client",
    "job_logs": "lepton.jobs._client",
    "list_jobs": "lepton.jobs._client",
    "retry_job": "lepton.jobs._client",
    "submit_job": "lepton.jobs._client",
    "wait_job": "lepton.jobs._client",
}

__all__ = [
    "JobInfo",
    "JobLogs",
    "JobNotFoundError",
    "JobQueue",
    "JobSpec",
    "JobTimeoutError",
    "Resources",
    "Scheduler",
    "cancel_job",
    "follow_job_logs",
    "get_job",
    "job_logs",
    "list_jobs",
    "retry_job",
    "submit_job",
    "wait_job",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'lepton.jobs' has no attribute {name!r}")

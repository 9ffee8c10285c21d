"""What the jobs API hands back: a job's record, a slice of its log, and the error for an
unknown job id."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from lepton.errors import LeptonError, NotFoundError

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
FINAL = frozenset({"succeeded", "failed", "cancelled"})


class JobNotFoundError(NotFoundError):
    kind = "job"


class JobTimeoutError(LeptonError, TimeoutError):
    """A job did not end within the time ``wait_job`` was given."""

    code = "timeout"


@dataclass(frozen=True)
class JobInfo:
    """One training job: its spec, where it stands, and the run and model it produced."""

    id: str
    project: str
    name: str
    kind: str
    status: str  # queued, running, succeeded, failed, cancelled
    spec: dict[str, Any]
    cpu: int
    gpu: int
    max_retries: int
    attempts: int  # how many times it was started (a graceful server stop does not count)
    secrets: list[str] = field(default_factory=list)
    submitted_by: str = ""
    pid: int | None = None
    run_id: str | None = None
    model_ref: str | None = None  # "name:version" when the spec said register: NAME
    error: str | None = None  # the last attempt's error (kept while a retry is queued)
    created_at: float = 0.0
    started_at: float | None = None
    ended_at: float | None = None

    @property
    def done(self) -> bool:
        return self.status in FINAL

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return max(0.0, self.ended_at - self.started_at)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> JobInfo:
        names = cls.__dataclass_fields__
        values = {k: v for k, v in row.items() if k in names}
        values["secrets"] = list(values.get("secrets") or [])
        return cls(**values)


@dataclass(frozen=True)
class JobLogs:
    """Text of a job's log from ``offset`` on; ask again from ``next_offset`` for more."""

    text: str
    offset: int
    next_offset: int
    status: str
    done: bool  # the job has ended and the whole log has been read

"""What the workspace hands back: small frozen records, the same locally and remotely."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

RUN_STATUSES = ("running", "finished", "failed", "killed")


def _when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


@dataclass(frozen=True)
class ProjectInfo:
    id: str
    name: str
    path: str | None
    description: str
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RunInfo:
    id: str
    project: str
    name: str
    status: str
    start_time: float
    end_time: float | None = None
    error: str | None = None
    parent_id: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)  # latest value of each metric
    inputs: list[dict[str, str]] = field(default_factory=list)
    lineage: dict[str, Any] = field(default_factory=dict)

    @property
    def duration(self) -> float | None:
        return (self.end_time - self.start_time) if self.end_time else None

    @property
    def started(self) -> str:
        return _when(self.start_time)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> RunInfo:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in row.items() if k in names})


@dataclass(frozen=True)
class MetricPoint:
    key: str
    step: int
    timestamp: float
    value: float


@dataclass(frozen=True)
class ArtifactInfo:
    path: str
    size: int
    sha256: str
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


DATASET_KINDS = ("table", "images", "texts")


@dataclass(frozen=True)
class DatasetVersionInfo:
    """One stored version of a dataset: what it holds and where its files are."""

    id: str
    project: str
    name: str
    version: str  # sha256 hex of the content
    kind: str  # "table", "images" or "texts"
    target: str | None
    schema: dict[str, Any]
    profile: dict[str, Any]
    num_rows: int
    files: list[dict[str, Any]]  # [{"path", "size", "sha256"}], paths relative to the version
    store_prefix: str
    created_at: float

    @property
    def ref(self) -> str:
        """``name:version`` with the version shortened to 12 characters."""
        return f"{self.name}:{self.version[:12]}"

    @property
    def size(self) -> int:
        return sum(int(f["size"]) for f in self.files)

    @property
    def created(self) -> str:
        return _when(self.created_at)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> DatasetVersionInfo:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in row.items() if k in names})


@dataclass(frozen=True)
class ModelVersionInfo:
    """One registered model version: lineage, metrics, card fields, aliases."""

    name: str
    version: int
    model: str  # the zoo name, e.g. "lightgbm"
    family: str
    task: str | None
    run_id: str | None
    bundle_key: str
    bundle_sha256: str
    size: int
    datasets: list[dict[str, Any]]
    params: dict[str, Any]
    metrics: dict[str, float]
    input_schema: dict[str, Any] | None
    evaluation_run_id: str | None
    card: dict[str, Any]
    tags: dict[str, str]
    description: str
    created_at: float
    aliases: list[str] = field(default_factory=list)

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    @property
    def created(self) -> str:
        return _when(self.created_at)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_row(cls, row: dict[str, Any], aliases: list[str] | None = None) -> ModelVersionInfo:
        names = cls.__dataclass_fields__
        return cls(
            **{k: v for k, v in row.items() if k in names and k != "aliases"},
            aliases=sorted(aliases or []),
        )


@dataclass(frozen=True)
class DeploymentInfo:
    """A deployment's desired state (model, replicas) and the control plane's view of it."""

    id: str
    name: str
    model_name: str
    model_version: int
    desired: str
    status: str
    replicas: int
    host: str
    port: int
    public: bool
    options: dict[str, Any]
    state: dict[str, Any]
    error: str | None
    created_at: float
    updated_at: float

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def model_ref(self) -> str:
        return f"{self.model_name}:{self.model_version}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "url": self.url, "model_ref": self.model_ref}

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> DeploymentInfo:
        names = cls.__dataclass_fields__
        values = {k: v for k, v in row.items() if k in names}
        return cls(**values, public=row.get("key_hash") is None)


@dataclass(frozen=True)
class AlertRuleInfo:
    id: str
    deployment: str
    metric: str
    op: str
    threshold: float
    for_seconds: float
    webhook: str | None
    state: str
    since: float | None
    created_at: float

    def describe(self) -> str:
        return f"{self.metric} {self.op} {self.threshold:g} for {self.for_seconds:g}s"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

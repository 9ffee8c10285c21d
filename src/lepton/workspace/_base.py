"""The one interface every layer above reads and writes through.

``LocalWorkspace`` implements it over the embedded store; a ``RemoteWorkspace`` over the team
server's REST API implements the same methods, so code above never knows which it holds.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from lepton.workspace._flusher import MetricFlusher
from lepton.workspace._records import (
    AlertRuleInfo,
    ArtifactInfo,
    DatasetVersionInfo,
    DeploymentInfo,
    MetricPoint,
    ModelVersionInfo,
    ProjectInfo,
    RunInfo,
)

if TYPE_CHECKING:
    from lepton.store._metadata import MetricRow


def artifact_files(
    local_path: str | os.PathLike[str], artifact_path: str | None
) -> list[tuple[Path, str]]:
    """(local file, artifact path) of each file ``log_artifact`` stores: the file itself, or
    every file under a folder, under ``artifact_path`` (default: the file or folder name)."""
    from lepton.errors import ArtifactNotFoundError

    source = Path(local_path)
    if not source.exists():
        raise ArtifactNotFoundError(
            str(source), hint="log_artifact needs an existing file or folder on this machine."
        )
    base = (artifact_path or source.name).strip("/")
    if not source.is_dir():
        return [(source, base)]
    return [
        (p, f"{base}/{p.relative_to(source).as_posix()}")
        for p in sorted(source.rglob("*"))
        if p.is_file()
    ]


class Workspace(ABC):
    """Projects, runs, metrics, artifacts and datasets. Models and deployments join later."""

    #: where this workspace lives, for messages ("~/.lepton", "https://lepton.example")
    location: str
    _metric_writer: MetricFlusher | None = None

    def metric_writer(self) -> MetricFlusher:
        """The background writer that batches this workspace's metric points."""
        if self._metric_writer is None:
            self._metric_writer = MetricFlusher(self.log_metrics)
        return self._metric_writer

    def close(self) -> None:
        """Flush pending metric points and release connections."""
        if self._metric_writer is not None:
            self._metric_writer.close()
            self._metric_writer = None

    # projects
    @abstractmethod
    def create_project(
        self, name: str, path: str | None = None, description: str = ""
    ) -> ProjectInfo: ...

    @abstractmethod
    def get_project(self, name: str) -> ProjectInfo: ...

    @abstractmethod
    def list_projects(self) -> list[ProjectInfo]: ...

    @abstractmethod
    def ensure_project(self, name: str) -> ProjectInfo:
        """The project named ``name``, created (with no folder) when it does not exist yet."""

    # runs
    @abstractmethod
    def create_run(
        self,
        project: str,
        name: str,
        *,
        parent_id: str | None = None,
        lineage: dict[str, Any] | None = None,
        tags: dict[str, str] | None = None,
    ) -> RunInfo: ...

    @abstractmethod
    def get_run(self, run_id: str) -> RunInfo:
        """The run with id ``run_id`` (a unique prefix of at least 4 characters is enough)."""

    @abstractmethod
    def list_runs(
        self,
        project: str | None = None,
        *,
        status: str | None = None,
        parent_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[RunInfo]: ...

    @abstractmethod
    def end_run(self, run_id: str, status: str, error: str | None = None) -> None: ...

    @abstractmethod
    def reopen_run(self, run_id: str) -> RunInfo:
        """Mark a finished, failed or killed run as running again (to resume it)."""

    @abstractmethod
    def log_params(self, run_id: str, params: dict[str, Any]) -> None: ...

    @abstractmethod
    def set_tags(self, run_id: str, tags: dict[str, str]) -> None: ...

    @abstractmethod
    def update_lineage(self, run_id: str, lineage: dict[str, Any]) -> None: ...

    @abstractmethod
    def add_run_inputs(self, run_id: str, inputs: Iterable[tuple[str, str, str]]) -> None:
        """Record (kind, name, version) inputs of a run, e.g. ("dataset", "credit", "3f2a...")."""

    # metrics
    @abstractmethod
    def log_metrics(self, rows: Sequence[MetricRow]) -> None:
        """Write (run_id, key, step, timestamp, value) points in one batch."""

    @abstractmethod
    def metric_history(self, run_id: str, key: str | None = None) -> list[MetricPoint]: ...

    @abstractmethod
    def last_steps(self, run_id: str) -> dict[str, int]:
        """The highest step logged so far for each metric of a run."""

    # artifacts
    @abstractmethod
    def log_artifact(
        self, run_id: str, local_path: str | os.PathLike[str], artifact_path: str | None = None
    ) -> list[ArtifactInfo]:
        """Upload a file, or a folder recursively, into the run's artifacts."""

    @abstractmethod
    def list_artifacts(self, run_id: str) -> list[ArtifactInfo]: ...

    @abstractmethod
    def open_artifact(self, run_id: str, path: str) -> BinaryIO: ...

    @abstractmethod
    def download_artifacts(self, run_id: str, path: str, dest: str | os.PathLike[str]) -> Path:
        """Download one artifact, or every artifact under a folder path, to ``dest``."""

    # datasets
    @abstractmethod
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
        """Store a dataset version: ``files`` are (local path, relative name) pairs.

        The files are uploaded first, then the record is written in one transaction, so a
        record never points at missing files. Adding a version that is already stored returns
        the stored record and uploads nothing.
        """

    @abstractmethod
    def get_dataset_version(
        self, name: str, version: str | None = None, project: str | None = None
    ) -> DatasetVersionInfo:
        """A stored version (the newest when ``version`` is None; a prefix of 8+ characters is
        enough). ``project`` None searches every project. Raises DatasetNotFoundError."""

    @abstractmethod
    def list_datasets(self, project: str | None = None) -> list[DatasetVersionInfo]:
        """The newest version of every dataset (of one project, or of all)."""

    @abstractmethod
    def list_dataset_versions(
        self, name: str, project: str | None = None
    ) -> list[DatasetVersionInfo]:
        """Every version of a dataset, newest first. Raises DatasetNotFoundError."""

    @abstractmethod
    def open_dataset_file(
        self, name: str, version: str | None, path: str, project: str | None = None
    ) -> BinaryIO:
        """Open one file of a stored version for reading."""

    @abstractmethod
    def download_dataset(
        self,
        name: str,
        version: str | None,
        dest: str | os.PathLike[str],
        project: str | None = None,
    ) -> Path:
        """Download every file of a version into the folder ``dest``, checking each sha256."""

    # model registry
    @abstractmethod
    def register_model_version(
        self, name: str, project: str, bundle: Path, info: dict[str, Any]
    ) -> ModelVersionInfo:
        """Store the bundle file and record it as the next version of ``name``."""

    @abstractmethod
    def get_model_version(
        self, name: str, *, version: int | None = None, alias: str | None = None
    ) -> ModelVersionInfo:
        """A version by number, by alias, or the latest. Raises ModelNotFoundError."""

    @abstractmethod
    def list_models(self) -> list[dict[str, Any]]: ...

    @abstractmethod
    def list_model_versions(self, name: str) -> list[ModelVersionInfo]: ...

    @abstractmethod
    def update_model_version(
        self, name: str, version: int, *, card: dict[str, Any] | None = None
    ) -> None: ...

    @abstractmethod
    def delete_model_version(self, name: str, version: int) -> None:
        """Delete a version; refused while an alias points at it."""

    @abstractmethod
    def set_model_alias(
        self, name: str, alias: str, version: int | None, event: dict[str, Any]
    ) -> int | None:
        """Move (or with None, remove) an alias atomically and record the move; returns the old version."""

    @abstractmethod
    def alias_history(self, name: str) -> list[dict[str, Any]]: ...

    @abstractmethod
    def download_model_bundle(self, name: str, version: int, dest: Path) -> Path: ...

    # deployments and monitoring (the control plane's state)
    @abstractmethod
    def save_deployment(self, name: str, project: str, values: dict[str, Any]) -> DeploymentInfo:
        """Create a deployment or update its desired state."""

    @abstractmethod
    def get_deployment(self, name: str) -> DeploymentInfo: ...

    @abstractmethod
    def deployment_key_hash(self, name: str) -> str | None: ...

    @abstractmethod
    def list_deployments(self) -> list[DeploymentInfo]: ...

    @abstractmethod
    def update_deployment(self, name: str, **values: Any) -> None: ...

    @abstractmethod
    def add_deployment_point(
        self, name: str, resolution: int, ts: float, values: dict[str, float]
    ) -> None: ...

    @abstractmethod
    def deployment_series(
        self, name: str, resolution: int, since: float
    ) -> list[dict[str, Any]]: ...

    @abstractmethod
    def prune_deployment_series(self, name: str, resolution: int, before: float) -> None: ...

    @abstractmethod
    def add_request_samples(
        self, name: str, samples: list[dict[str, Any]], keep: int = 5000
    ) -> None: ...

    @abstractmethod
    def request_samples(
        self, name: str, since: float = 0.0, limit: int = 5000
    ) -> list[dict[str, Any]]: ...

    @abstractmethod
    def create_alert(
        self,
        deployment: str,
        metric: str,
        op: str,
        threshold: float,
        for_seconds: float,
        webhook: str | None,
    ) -> AlertRuleInfo: ...

    @abstractmethod
    def list_alerts(self, deployment: str | None = None) -> list[AlertRuleInfo]: ...

    @abstractmethod
    def delete_alert(self, rule_id: str) -> None: ...

    @abstractmethod
    def set_alert_state(self, rule_id: str, state: str, since: float | None) -> None: ...

    @abstractmethod
    def add_alert_event(
        self,
        rule_id: str,
        state: str,
        value: float | None,
        message: str,
        webhook_status: str | None,
    ) -> None: ...

    @abstractmethod
    def alert_events(
        self, rule_id: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]: ...

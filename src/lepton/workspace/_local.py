"""The embedded workspace: a SQL metadata store plus an artifact store, in this process."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from lepton._validation import check_name
from lepton.errors import (
    ArtifactNotFoundError,
    InvalidParameterError,
    ProjectExistsError,
    ProjectNotFoundError,
    RunNotFoundError,
)
from lepton.store import ArtifactStore, MetadataStore, open_artifact_store
from lepton.store._metadata import MetricRow
from lepton.workspace._base import Workspace, artifact_files
from lepton.workspace._local_datasets import LocalDatasetsMixin
from lepton.workspace._local_deployments import LocalDeploymentsMixin
from lepton.workspace._local_models import LocalModelsMixin
from lepton.workspace._records import (
    RUN_STATUSES,
    ArtifactInfo,
    MetricPoint,
    ProjectInfo,
    RunInfo,
)

if TYPE_CHECKING:
    from lepton.security._crypto import MasterKey


class LocalWorkspace(LocalDatasetsMixin, LocalModelsMixin, LocalDeploymentsMixin, Workspace):
    remote = False  # deployments need a control plane on this machine

    def __init__(
        self,
        db_url: str,
        artifacts_url: str,
        location: str | None = None,
        master_key: MasterKey | None = None,
    ) -> None:
        self.meta = MetadataStore(db_url)
        self.artifacts: ArtifactStore = open_artifact_store(artifacts_url)
        if master_key is not None:  # objects are stored AES-256-GCM encrypted (envelope)
            from lepton.security._crypto import EncryptedArtifactStore

            self.artifacts = EncryptedArtifactStore(self.artifacts, self.meta, master_key)
        self.location = location or db_url

    def __repr__(self) -> str:
        return f"LocalWorkspace({self.location!r})"

    def close(self) -> None:
        super().close()
        self.meta.close()

    # projects -------------------------------------------------------------------------------
    def create_project(
        self, name: str, path: str | None = None, description: str = ""
    ) -> ProjectInfo:
        check_name("project", name)
        from sqlalchemy.exc import IntegrityError

        if self.meta.get_project(name) is not None:
            raise ProjectExistsError(
                f"A project named {name!r} already exists in {self.location}. Pick another "
                "name, or use the existing one with lepton.start_run(project=...)."
            )
        try:
            return ProjectInfo(**self.meta.insert_project(name, path, description))
        except IntegrityError:  # another process created it between our check and insert
            raise ProjectExistsError(f"A project named {name!r} already exists.") from None

    def get_project(self, name: str) -> ProjectInfo:
        row = self.meta.get_project(name)
        if row is None:
            raise ProjectNotFoundError(
                name,
                [p["name"] for p in self.meta.list_projects()],
                hint=f"Create it with lepton.create_project({name!r}) or `lepton init project {name}`.",
            )
        return ProjectInfo(**row)

    def list_projects(self) -> list[ProjectInfo]:
        return [ProjectInfo(**row) for row in self.meta.list_projects()]

    def ensure_project(self, name: str) -> ProjectInfo:
        row = self.meta.get_project(name)
        if row is not None:
            return ProjectInfo(**row)
        try:
            return self.create_project(name)
        except ProjectExistsError:  # lost a race with another process: use theirs
            return self.get_project(name)

    # runs -------------------------------------------------------------------------------------
    def create_run(
        self,
        project: str,
        name: str,
        *,
        parent_id: str | None = None,
        lineage: dict[str, Any] | None = None,
        tags: dict[str, str] | None = None,
    ) -> RunInfo:
        project_id = self.ensure_project(project).id
        if parent_id is not None:
            parent_id = self.get_run(parent_id).id
        row = self.meta.insert_run(project_id, name, parent_id, lineage or {}, tags or {})
        return RunInfo.from_row({**row, "project": project, "tags": dict(tags or {})})

    def get_run(self, run_id: str) -> RunInfo:
        if not isinstance(run_id, str) or not run_id:
            raise InvalidParameterError(f"A run id must be a non-empty string, got {run_id!r}.")
        row = self.meta.get_run(run_id)
        if row is None and len(run_id) >= 4:
            matches = self.meta.find_run_ids(run_id)
            if len(matches) == 1:
                row = self.meta.get_run(matches[0])
            elif len(matches) > 1:
                raise InvalidParameterError(
                    f"Run id prefix {run_id!r} matches several runs; give more characters."
                )
        if row is None:
            recent = [r["id"] for r in self.meta.list_runs(limit=10)]
            raise RunNotFoundError(run_id, recent, hint="List runs with `lepton runs list`.")
        return RunInfo.from_row(row)

    def list_runs(
        self,
        project: str | None = None,
        *,
        status: str | None = None,
        parent_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[RunInfo]:
        if status is not None and status not in RUN_STATUSES:
            raise InvalidParameterError(
                f"Unknown run status {status!r}; expected one of {', '.join(RUN_STATUSES)}."
            )
        if limit < 1 or offset < 0:
            raise InvalidParameterError(
                f"limit must be >= 1 and offset >= 0, got limit={limit}, offset={offset}."
            )
        project_id = self.get_project(project).id if project is not None else None
        rows = self.meta.list_runs(project_id, status, parent_id, limit, offset)
        return [RunInfo.from_row(row) for row in rows]

    def end_run(self, run_id: str, status: str, error: str | None = None) -> None:
        if status not in RUN_STATUSES[1:]:
            raise InvalidParameterError(
                f"A run ends as one of {', '.join(RUN_STATUSES[1:])}, got {status!r}."
            )
        if not self.meta.finish_run(run_id, status, error):
            raise self._unknown_run(run_id)

    def reopen_run(self, run_id: str) -> RunInfo:
        run = self.get_run(run_id)
        self.meta.finish_run(run.id, "running", None)
        return self.get_run(run.id)

    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        import json

        if params:
            with self._known_run(run_id):
                self.meta.upsert_key_values(
                    "params", run_id, {k: json.dumps(v) for k, v in params.items()}
                )

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        if tags:
            with self._known_run(run_id):
                self.meta.upsert_key_values("tags", run_id, {k: str(v) for k, v in tags.items()})

    def _unknown_run(self, run_id: str) -> RunNotFoundError:
        recent = [r["id"] for r in self.meta.list_runs(limit=10)]
        return RunNotFoundError(run_id, recent, hint="List runs with `lepton runs list`.")

    @contextlib.contextmanager
    def _known_run(self, *run_ids: str) -> Iterator[None]:
        """Turn the database's foreign-key refusal into an error that names the run."""
        from sqlalchemy.exc import IntegrityError

        try:
            yield
        except IntegrityError:
            missing = [r for r in dict.fromkeys(run_ids) if self.meta.get_run(r) is None]
            if missing:
                raise self._unknown_run(missing[0]) from None
            raise

    def update_lineage(self, run_id: str, lineage: dict[str, Any]) -> None:
        self.meta.update_lineage(run_id, lineage)

    def add_run_inputs(self, run_id: str, inputs: Iterable[tuple[str, str, str]]) -> None:
        self.meta.add_inputs(run_id, inputs)

    # metrics ----------------------------------------------------------------------------------
    def log_metrics(self, rows: Sequence[MetricRow]) -> None:
        with self._known_run(*(row[0] for row in rows)):
            self.meta.insert_metrics(rows)

    def metric_history(self, run_id: str, key: str | None = None) -> list[MetricPoint]:
        return [MetricPoint(**row) for row in self.meta.metric_history(run_id, key)]

    def last_steps(self, run_id: str) -> dict[str, int]:
        return self.meta.max_steps(run_id)

    # artifacts --------------------------------------------------------------------------------
    def _artifact_key(self, run_id: str, path: str) -> str:
        return f"runs/{run_id}/artifacts/{path}"

    def log_artifact(
        self, run_id: str, local_path: str | os.PathLike[str], artifact_path: str | None = None
    ) -> list[ArtifactInfo]:
        files = artifact_files(local_path, artifact_path)
        logged = []
        for file, path in files:
            key = self._artifact_key(run_id, path)
            info = self.artifacts.put_file(key, file)
            # the object is written before its record: a crash in between leaves an unlisted
            # object, never a record that points at nothing
            self.meta.record_artifact(run_id, path, key, info.size, info.sha256)
            logged.append(ArtifactInfo(path, info.size, info.sha256, 0.0))
        return logged

    def list_artifacts(self, run_id: str) -> list[ArtifactInfo]:
        return [
            ArtifactInfo(r["path"], r["size"], r["sha256"], r["created_at"])
            for r in self.meta.list_artifacts(run_id)
        ]

    def _artifact_record(self, run_id: str, path: str) -> dict[str, Any]:
        records = self.meta.list_artifacts(run_id)
        for record in records:
            if record["path"] == path:
                return record
        raise ArtifactNotFoundError(path, [r["path"] for r in records], hint=f"(run {run_id})")

    def open_artifact(self, run_id: str, path: str) -> BinaryIO:
        return self.artifacts.open(self._artifact_record(run_id, path)["store_key"])

    def download_artifacts(self, run_id: str, path: str, dest: str | os.PathLike[str]) -> Path:
        dest = Path(dest)
        records = self.meta.list_artifacts(run_id)
        exact = [r for r in records if r["path"] == path]
        if exact:
            return self.artifacts.download(exact[0]["store_key"], dest)
        prefix = path.rstrip("/") + "/"
        under = [r for r in records if r["path"].startswith(prefix)]
        if not under:
            raise ArtifactNotFoundError(path, [r["path"] for r in records], hint=f"(run {run_id})")
        for record in under:
            self.artifacts.download(record["store_key"], dest / record["path"][len(prefix) :])
        return dest

    # dashboard reads (server only: sorted pages and joins the REST API has no route for) ------
    RUN_SORTS = ("started", "name", "status", "duration")

    def search_runs(
        self,
        projects: list[str] | None = None,
        *,
        status: str | None = None,
        text: str | None = None,
        sort: str = "started",
        descending: bool = True,
        limit: int = 50,
        offset: int = 0,
        metric_keys: Sequence[str] = (),
    ) -> tuple[list[RunInfo], int]:
        """One page of runs of ``projects`` (None: every project) sorted by ``sort`` (one of
        ``RUN_SORTS`` or ``metric:KEY``), and how many runs match in all. For a table: each
        run holds its params and the latest values of ``metric_keys``, not its tags, inputs
        or other metrics."""
        if status is not None and status not in RUN_STATUSES:
            raise InvalidParameterError(
                f"Unknown run status {status!r}; expected one of {', '.join(RUN_STATUSES)}."
            )
        if sort not in self.RUN_SORTS and not (sort.startswith("metric:") and len(sort) > 7):
            raise InvalidParameterError(
                f"Cannot sort runs by {sort!r}; expected one of {', '.join(self.RUN_SORTS)} "
                "or metric:KEY (e.g. metric:loss)."
            )
        rows, total = self.meta.search_runs(
            projects, status, text, sort, descending, limit, offset, metric_keys
        )
        return [RunInfo.from_row(row) for row in rows], total

    def common_metric_keys(
        self,
        projects: list[str] | None = None,
        *,
        status: str | None = None,
        text: str | None = None,
        top: int = 3,
    ) -> list[str]:
        """The ``top`` metric keys most runs among the newest that match have logged."""
        return self.meta.common_metric_keys(projects, status, text, top)

    def metric_sample(self, run_id: str, key: str, limit: int) -> tuple[list[Any], bool]:
        """At most ``limit`` ``(step, value)`` points of one metric of a run, in step order
        (evenly spaced by step when there are more), and whether they are a sample."""
        return self.meta.metric_sample(run_id, key, limit)

    def model_versions_of_run(self, run_id: str) -> list[dict[str, Any]]:
        """``{"name", "version", "project"}`` of each model version a run trained or evaluated."""
        return self.meta.model_versions_of_run(run_id)

    def runs_with_input(self, kind: str, name: str) -> list[dict[str, Any]]:
        """``{"version", "id", "name", "status", "project"}`` of every run that recorded an
        input of ``kind`` and ``name``, newest first."""
        return self.meta.runs_with_input(kind, name)

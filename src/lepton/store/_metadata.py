"""Reads and writes of the metadata tables: the only place that speaks SQL.

Every write runs in one transaction (``BEGIN IMMEDIATE`` on SQLite), so a process killed in
the middle leaves either all of a change or none of it.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    func,
    insert,
    select,
    update,
)

from lepton.store import _schema as t
from lepton.store._engine import open_engine
from lepton.store._metadata_deployments import DeploymentTablesMixin
from lepton.store._metadata_models import ModelTablesMixin
from lepton.store._metadata_search import RunSearchMixin

MetricRow = tuple[str, str, int, float, float]  # run_id, key, step, timestamp, value


def new_id() -> str:
    return uuid.uuid4().hex


class MetadataStore(ModelTablesMixin, DeploymentTablesMixin, RunSearchMixin):
    """Projects, runs, params, tags, metrics and artifact records in one SQL database."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = open_engine(url)
        self._writer = self.engine.execution_options(lepton_write=True)
        placeholder = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        self._insert_metrics_sql = (
            "INSERT INTO metrics (run_id, key, step, timestamp, value) VALUES "
            f"({', '.join([placeholder] * 5)})"
        )

    def close(self) -> None:
        self.engine.dispose()

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction: committed on success, rolled back on any error."""
        with self._writer.begin() as conn:
            yield conn

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    # projects ------------------------------------------------------------------------------
    def insert_project(self, name: str, path: str | None, description: str) -> dict[str, Any]:
        row = {
            "id": new_id(),
            "name": name,
            "path": path,
            "description": description,
            "created_at": time.time(),
        }
        with self.write() as conn:
            conn.execute(insert(t.projects).values(**row))
        return row

    def get_project(self, name: str) -> dict[str, Any] | None:
        with self.read() as conn:
            found = conn.execute(select(t.projects).where(t.projects.c.name == name)).first()
        return dict(found._mapping) if found else None

    def list_projects(self) -> list[dict[str, Any]]:
        with self.read() as conn:
            rows = conn.execute(select(t.projects).order_by(t.projects.c.name)).all()
        return [dict(r._mapping) for r in rows]

    def update_project_path(self, project_id: str, path: str) -> None:
        with self.write() as conn:
            conn.execute(update(t.projects).where(t.projects.c.id == project_id).values(path=path))

    # runs ------------------------------------------------------------------------------------
    def insert_run(
        self,
        project_id: str,
        name: str,
        parent_id: str | None,
        lineage: dict[str, Any],
        tags: dict[str, str],
    ) -> dict[str, Any]:
        row = {
            "id": new_id(),
            "project_id": project_id,
            "name": name,
            "status": "running",
            "start_time": time.time(),
            "end_time": None,
            "error": None,
            "parent_id": parent_id,
            "lineage": lineage,
        }
        with self.write() as conn:
            conn.execute(insert(t.runs).values(**row))
            if tags:
                conn.execute(
                    insert(t.tags),
                    [{"run_id": row["id"], "key": k, "value": v} for k, v in tags.items()],
                )
        return row

    def _run_query(self) -> Any:
        return select(t.runs, t.projects.c.name.label("project")).join(
            t.projects, t.projects.c.id == t.runs.c.project_id
        )

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        with self.read() as conn:
            found = conn.execute(self._run_query().where(t.runs.c.id == run_id)).first()
            if found is None:
                return None
            run = dict(found._mapping)
            self._attach_details(conn, [run])
        return run

    def find_run_ids(self, prefix: str, limit: int = 2) -> list[str]:
        with self.read() as conn:
            rows = conn.execute(
                select(t.runs.c.id)
                .where(t.runs.c.id.startswith(prefix, autoescape=True))
                .limit(limit)
            ).all()
        return [r[0] for r in rows]

    def list_runs(
        self,
        project_id: str | None = None,
        status: str | None = None,
        parent_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        query = self._run_query()
        conditions = []
        if project_id is not None:
            conditions.append(t.runs.c.project_id == project_id)
        if status is not None:
            conditions.append(t.runs.c.status == status)
        if parent_id is not None:
            conditions.append(t.runs.c.parent_id == parent_id)
        if conditions:
            query = query.where(and_(*conditions))
        query = query.order_by(t.runs.c.start_time.desc(), t.runs.c.id).limit(limit).offset(offset)
        with self.read() as conn:
            runs = [dict(r._mapping) for r in conn.execute(query).all()]
            self._attach_details(conn, runs)
        return runs

    def _attach_details(self, conn: Connection, runs: list[dict[str, Any]]) -> None:
        """Add params, tags, latest metrics and inputs to run rows, in four queries in all."""
        if not runs:
            return
        by_id = {r["id"]: r for r in runs}
        for r in runs:
            r.update(params={}, tags={}, metrics={}, inputs=[])
        ids = list(by_id)
        for row in conn.execute(select(t.params).where(t.params.c.run_id.in_(ids))):
            by_id[row.run_id]["params"][row.key] = json.loads(row.value)
        for row in conn.execute(select(t.tags).where(t.tags.c.run_id.in_(ids))):
            by_id[row.run_id]["tags"][row.key] = row.value
        for row in conn.execute(select(t.run_inputs).where(t.run_inputs.c.run_id.in_(ids))):
            by_id[row.run_id]["inputs"].append(
                {"kind": row.kind, "name": row.name, "version": row.version}
            )
        # the latest value of each metric: the row with the highest step (then the newest id).
        # MAX(step) per key reads only the (run_id, key, step) index, and the join then fetches
        # one row per key (or a few, on a step logged twice): no sort of all the points
        m = t.metrics
        last = (
            select(m.c.run_id, m.c.key, func.max(m.c.step).label("step"))
            .where(m.c.run_id.in_(ids))
            .group_by(m.c.run_id, m.c.key)
            .subquery()
        )
        rows = conn.execute(
            select(m.c.run_id, m.c.key, m.c.value)
            .join(
                last,
                (m.c.run_id == last.c.run_id) & (m.c.key == last.c.key) & (m.c.step == last.c.step),
            )
            .order_by(m.c.id)
        )
        for row in rows:  # in id order, so the newest row of a repeated step wins
            by_id[row.run_id]["metrics"][row.key] = row.value

    def finish_run(self, run_id: str, status: str, error: str | None) -> bool:
        """Set a run's status (a running run has no end time); False when no such run."""
        end_time = None if status == "running" else time.time()
        with self.write() as conn:
            result = conn.execute(
                update(t.runs)
                .where(t.runs.c.id == run_id)
                .values(status=status, end_time=end_time, error=error)
            )
        return bool(result.rowcount)

    def update_lineage(self, run_id: str, lineage: dict[str, Any]) -> None:
        with self.write() as conn:
            current = conn.execute(select(t.runs.c.lineage).where(t.runs.c.id == run_id)).scalar()
            conn.execute(
                update(t.runs)
                .where(t.runs.c.id == run_id)
                .values(lineage={**(current or {}), **lineage})
            )

    def upsert_key_values(self, table_name: str, run_id: str, values: dict[str, str]) -> None:
        """Set params or tags: insert new keys, overwrite existing ones, in one transaction."""
        table = {"params": t.params, "tags": t.tags}[table_name]
        with self.write() as conn:
            existing = set(
                conn.execute(
                    select(table.c.key).where(
                        table.c.run_id == run_id, table.c.key.in_(list(values))
                    )
                ).scalars()
            )
            new = [
                {"run_id": run_id, "key": k, "value": v}
                for k, v in values.items()
                if k not in existing
            ]
            if new:
                conn.execute(insert(table), new)
            for key in existing:
                conn.execute(
                    update(table)
                    .where(table.c.run_id == run_id, table.c.key == key)
                    .values(value=values[key])
                )

    def add_inputs(self, run_id: str, inputs: Iterable[tuple[str, str, str]]) -> None:
        with self.write() as conn:
            have = {
                (r.kind, r.name, r.version)
                for r in conn.execute(select(t.run_inputs).where(t.run_inputs.c.run_id == run_id))
            }
            rows = [
                {"run_id": run_id, "kind": k, "name": n, "version": v}
                for k, n, v in inputs
                if (k, n, v) not in have
            ]
            if rows:
                conn.execute(insert(t.run_inputs), rows)

    # metrics ---------------------------------------------------------------------------------
    def insert_metrics(self, rows: Sequence[MetricRow]) -> None:
        """Insert metric points in one transaction, straight through the driver's executemany.

        The statement is plain portable SQL; only the placeholder follows the driver. This is
        the hot path of metric logging, so it skips SQLAlchemy's per-row processing.
        """
        if rows:
            with self.write() as conn:
                conn.exec_driver_sql(self._insert_metrics_sql, list(rows))

    def metric_history(self, run_id: str, key: str | None = None) -> list[dict[str, Any]]:
        query = select(
            t.metrics.c.key, t.metrics.c.step, t.metrics.c.timestamp, t.metrics.c.value
        ).where(t.metrics.c.run_id == run_id)
        if key is not None:
            query = query.where(t.metrics.c.key == key)
        query = query.order_by(t.metrics.c.key, t.metrics.c.step, t.metrics.c.id)
        with self.read() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def max_steps(self, run_id: str) -> dict[str, int]:
        with self.read() as conn:
            rows = conn.execute(
                select(t.metrics.c.key, func.max(t.metrics.c.step))
                .where(t.metrics.c.run_id == run_id)
                .group_by(t.metrics.c.key)
            ).all()
        return {key: int(step) for key, step in rows}

    # artifacts -------------------------------------------------------------------------------
    def record_artifact(
        self, run_id: str, path: str, store_key: str, size: int, sha256: str
    ) -> None:
        with self.write() as conn:
            conn.execute(
                t.artifacts.delete().where(
                    t.artifacts.c.run_id == run_id, t.artifacts.c.path == path
                )
            )
            conn.execute(
                insert(t.artifacts).values(
                    run_id=run_id,
                    path=path,
                    store_key=store_key,
                    size=size,
                    sha256=sha256,
                    created_at=time.time(),
                )
            )

    def list_artifacts(self, run_id: str) -> list[dict[str, Any]]:
        with self.read() as conn:
            rows = conn.execute(
                select(t.artifacts)
                .where(t.artifacts.c.run_id == run_id)
                .order_by(t.artifacts.c.path)
            ).all()
        return [dict(r._mapping) for r in rows]

    # datasets --------------------------------------------------------------------------------
    def _dataset_version_query(self) -> Any:
        return (
            select(
                t.dataset_versions,
                t.datasets.c.name,
                t.datasets.c.project_id,
                t.projects.c.name.label("project"),
            )
            .join(t.datasets, t.datasets.c.id == t.dataset_versions.c.dataset_id)
            .join(t.projects, t.projects.c.id == t.datasets.c.project_id)
        )

    def _get_dataset_version_row(self, conn: Connection, version_id: str) -> dict[str, Any]:
        found = conn.execute(
            self._dataset_version_query().where(t.dataset_versions.c.id == version_id)
        ).one()
        return dict(found._mapping)

    def _dataset_version_id(self, conn: Connection, dataset_id: str, version: str) -> str | None:
        return conn.execute(
            select(t.dataset_versions.c.id).where(
                t.dataset_versions.c.dataset_id == dataset_id,
                t.dataset_versions.c.version == version,
            )
        ).scalar()

    def insert_dataset_version(
        self, project_id: str, name: str, row: dict[str, Any]
    ) -> tuple[dict[str, Any], bool]:
        """Add a version (and its dataset, when new) in one transaction.

        Returns ``(version row, created)``. The same ``row["version"]`` of the same dataset
        returns the row already stored with ``created=False``, also when another process
        inserted it between our check and our insert (the unique constraints decide).
        """
        from sqlalchemy.exc import IntegrityError

        for attempt in range(3):
            try:
                return self._insert_dataset_version(project_id, name, row)
            except IntegrityError:
                # lost a race with another process: it stored this version (use it), or it
                # created the dataset for another version (try again: the dataset now exists)
                for found in self.find_dataset_versions(name, project_id, row["version"]):
                    if found["version"] == row["version"]:
                        return found, False
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _insert_dataset_version(
        self, project_id: str, name: str, row: dict[str, Any]
    ) -> tuple[dict[str, Any], bool]:
        with self.write() as conn:
            dataset_id = conn.execute(
                select(t.datasets.c.id).where(
                    t.datasets.c.project_id == project_id, t.datasets.c.name == name
                )
            ).scalar()
            if dataset_id is None:
                dataset_id = new_id()
                conn.execute(
                    insert(t.datasets).values(
                        id=dataset_id, project_id=project_id, name=name, created_at=time.time()
                    )
                )
            existing = self._dataset_version_id(conn, dataset_id, row["version"])
            if existing is not None:
                return self._get_dataset_version_row(conn, existing), False
            version_id = new_id()
            conn.execute(
                insert(t.dataset_versions).values(
                    id=version_id, dataset_id=dataset_id, created_at=time.time(), **row
                )
            )
            return self._get_dataset_version_row(conn, version_id), True

    def find_dataset_versions(
        self, name: str, project_id: str | None = None, version_prefix: str | None = None
    ) -> list[dict[str, Any]]:
        """Versions of the dataset ``name``, newest first, optionally by version prefix."""
        query = self._dataset_version_query().where(t.datasets.c.name == name)
        if project_id is not None:
            query = query.where(t.datasets.c.project_id == project_id)
        if version_prefix:
            query = query.where(
                t.dataset_versions.c.version.startswith(version_prefix, autoescape=True)
            )
        query = query.order_by(
            t.dataset_versions.c.created_at.desc(), t.dataset_versions.c.id.desc()
        )
        with self.read() as conn:
            return [dict(r._mapping) for r in conn.execute(query).all()]

    def list_latest_dataset_versions(self, project_id: str | None = None) -> list[dict[str, Any]]:
        """The newest version of every dataset, ordered by project then dataset name."""
        ranked = select(
            t.dataset_versions.c.id,
            func.row_number()
            .over(
                partition_by=t.dataset_versions.c.dataset_id,
                order_by=(t.dataset_versions.c.created_at.desc(), t.dataset_versions.c.id.desc()),
            )
            .label("rank"),
        ).subquery()
        query = (
            self._dataset_version_query()
            .join(ranked, ranked.c.id == t.dataset_versions.c.id)
            .where(ranked.c.rank == 1)
        )
        if project_id is not None:
            query = query.where(t.datasets.c.project_id == project_id)
        query = query.order_by(t.projects.c.name, t.datasets.c.name)
        with self.read() as conn:
            return [dict(r._mapping) for r in conn.execute(query).all()]

    def list_dataset_names(self, project_id: str | None = None) -> list[str]:
        query = select(t.datasets.c.name).distinct()
        if project_id is not None:
            query = query.where(t.datasets.c.project_id == project_id)
        with self.read() as conn:
            return sorted(conn.execute(query).scalars())

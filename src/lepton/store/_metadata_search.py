"""SQL of the dashboard's reads: a sorted, filtered page of runs with only the values it
shows, the metric keys most runs share, a bounded sample of a long metric series, and the
links from runs to model versions and datasets. Each costs a fixed number of index seeks per
row shown, whatever the number of runs or points."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Double, and_, func, literal, or_, select, true

from lepton.store import _schema as t


class RunSearchMixin:
    """Dashboard reads of :class:`MetadataStore` (needs its ``read`` and ``_run_query``)."""

    if TYPE_CHECKING:  # provided by MetadataStore

        def read(self) -> Any: ...

        def _run_query(self) -> Any: ...

    def _run_conditions(
        self, projects: list[str] | None, status: str | None, text: str | None
    ) -> Any:
        """The WHERE clause of a runs table: visible projects (by name), status, name text."""
        conditions: list[Any] = [true()]
        if projects is not None:
            conditions.append(t.projects.c.name.in_(projects))
        if status is not None:
            conditions.append(t.runs.c.status == status)
        if text:
            conditions.append(
                or_(
                    t.runs.c.name.icontains(text, autoescape=True),
                    t.runs.c.id.startswith(text.lower(), autoescape=True),
                )
            )
        return and_(*conditions)

    def _latest_value(self, key: str) -> Any:
        """A scalar subquery of the runs table: the run's latest value of metric ``key``, as
        ``_attach_details`` picks it (highest step, then the newest row). Correlated, so each
        run costs one seek in the (run_id, key, step) index."""
        m = t.metrics
        return (
            select(m.c.value)
            .where(m.c.run_id == t.runs.c.id, m.c.key == key)
            .order_by(m.c.step.desc(), m.c.id.desc())
            .limit(1)
            .correlate(t.runs)
            .scalar_subquery()
        )

    def search_runs(
        self,
        projects: list[str] | None,
        status: str | None,
        text: str | None,
        sort: str,
        descending: bool,
        limit: int,
        offset: int,
        metric_keys: Sequence[str] = (),
    ) -> tuple[list[dict[str, Any]], int]:
        """One sorted page of runs and the count of all that match. Each row holds its params
        and the latest values of ``metric_keys`` only (no tags, inputs or other metrics).

        ``sort`` is ``started``, ``name``, ``status``, ``duration`` or ``metric:KEY`` (the
        latest value); runs without a value sort last either way. Sorting and paging happen
        in SQL and each latest value is one index seek, so a page costs the same with 10 or
        100,000 runs, and with 10 or 1,000,000 points per run.
        """
        where = self._run_conditions(projects, status, text)
        query = self._run_query().where(where)
        if sort.startswith("metric:"):
            column: Any = self._latest_value(sort.removeprefix("metric:"))
        else:
            column = {
                "started": t.runs.c.start_time,
                "name": t.runs.c.name,
                "status": t.runs.c.status,
                "duration": t.runs.c.end_time - t.runs.c.start_time,
            }[sort]
        order = (column.desc() if descending else column.asc()).nulls_last()
        query = query.order_by(order, t.runs.c.start_time.desc(), t.runs.c.id)
        counted = select(func.count()).select_from(t.runs.join(t.projects)).where(where)
        with self.read() as conn:
            runs = [dict(r._mapping) for r in conn.execute(query.limit(limit).offset(offset))]
            by_id = {r["id"]: r for r in runs}
            for r in runs:
                r.update(params={}, metrics={})
            if runs:
                params = select(t.params).where(t.params.c.run_id.in_(list(by_id)))
                for row in conn.execute(params):
                    by_id[row.run_id]["params"][row.key] = json.loads(row.value)
            if runs and metric_keys:
                latest = [self._latest_value(key) for key in metric_keys]
                values = select(t.runs.c.id, *latest).where(t.runs.c.id.in_(list(by_id)))
                for run_id, *found in conn.execute(values):
                    by_id[run_id]["metrics"] = {
                        key: value
                        for key, value in zip(metric_keys, found, strict=True)
                        if value is not None
                    }
            total = int(conn.execute(counted).scalar() or 0)
        return runs, total

    def common_metric_keys(
        self,
        projects: list[str] | None,
        status: str | None,
        text: str | None,
        top: int = 3,
        sample: int = 200,
    ) -> list[str]:
        """The metric keys logged by the most of the ``sample`` newest matching runs.

        The keys of each run are found by skipping through the (run_id, key, step) index,
        one seek per key (a recursive query), never by reading the run's points.
        """
        m, later = t.metrics, t.metrics.alias("later")
        where = self._run_conditions(projects, status, text)
        recent = (
            select(t.runs.c.id)
            .join(t.projects)
            .where(where)
            .order_by(t.runs.c.start_time.desc())
            .limit(sample)
            .subquery()
        )
        first = select(func.min(m.c.key)).where(m.c.run_id == recent.c.id).scalar_subquery()
        pairs = select(recent.c.id.label("run_id"), first.label("key")).cte("pairs", recursive=True)
        following = (
            select(func.min(later.c.key))
            .where(later.c.run_id == pairs.c.run_id, later.c.key > pairs.c.key)
            .scalar_subquery()
        )
        pairs = pairs.union_all(select(pairs.c.run_id, following).where(pairs.c.key.is_not(None)))
        count = func.count().label("runs")
        query = (
            select(pairs.c.key, count)
            .where(pairs.c.key.is_not(None))
            .group_by(pairs.c.key)
            .order_by(count.desc(), pairs.c.key)
            .limit(top)
        )
        with self.read() as conn:
            return [row.key for row in conn.execute(query)]

    def metric_sample(self, run_id: str, key: str, limit: int) -> tuple[list[Any], bool]:
        """At most ``limit`` ``(step, value)`` points of one metric of a run, in step order, and
        whether they are a sample: every point when there are no more than ``limit``; else the
        first point at or after each of ``limit - 1`` evenly spaced steps, and the latest
        point. Each is one index seek, so a 1,000,000-point metric costs what a 2,000-point
        one does."""
        m, at = t.metrics, t.metrics.alias("at")
        mine = (m.c.run_id == run_id) & (m.c.key == key)
        with self.read() as conn:
            head = conn.execute(
                select(m.c.step, m.c.value).where(mine).order_by(m.c.step, m.c.id).limit(limit + 1)
            ).all()
            if len(head) <= limit:
                return [(step, value) for step, value in head], False
            last = conn.execute(
                select(m.c.step, m.c.value)
                .where(mine)
                .order_by(m.c.step.desc(), m.c.id.desc())
                .limit(1)
            ).first()
            assert last is not None  # there are more than ``limit`` points
            first = head[0][0]
            stride = (last[0] - first) / (limit - 1)
            targets = select(literal(0).label("n")).cte("targets", recursive=True)
            targets = targets.union_all(
                select((targets.c.n + 1).label("n")).where(targets.c.n < limit - 2)
            )
            nearest = (
                select(at.c.id)
                .where(
                    at.c.run_id == run_id,
                    at.c.key == key,
                    at.c.step >= first + targets.c.n * literal(stride, Double),
                )
                .order_by(at.c.step, at.c.id)
                .limit(1)
                .correlate(targets)
                .scalar_subquery()
            )
            rows = conn.execute(
                select(m.c.step, m.c.value)
                .where(m.c.id.in_(select(nearest).select_from(targets)))
                .order_by(m.c.step, m.c.id)
            ).all()
        sampled = [(step, value) for step, value in rows if step < last[0]]
        return [*sampled, (last[0], last[1])], True

    def model_versions_of_run(self, run_id: str) -> list[dict[str, Any]]:
        """Model versions trained (or evaluated) by ``run_id``: name, version, project."""
        mv = t.model_versions
        query = (
            select(t.models.c.name, mv.c.version, t.projects.c.name.label("project"))
            .join(t.models, t.models.c.id == mv.c.model_id)
            .join(t.projects, t.projects.c.id == t.models.c.project_id)
            .where(or_(mv.c.run_id == run_id, mv.c.evaluation_run_id == run_id))
            .order_by(t.models.c.name, mv.c.version)
        )
        with self.read() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def runs_with_input(self, kind: str, name: str) -> list[dict[str, Any]]:
        """Runs that recorded the input ``(kind, name, any version)``, newest first."""
        query = (
            select(
                t.run_inputs.c.version,
                t.runs.c.id,
                t.runs.c.name,
                t.runs.c.status,
                t.projects.c.name.label("project"),
            )
            .join(t.runs, t.runs.c.id == t.run_inputs.c.run_id)
            .join(t.projects, t.projects.c.id == t.runs.c.project_id)
            .where(t.run_inputs.c.kind == kind, t.run_inputs.c.name == name)
            .order_by(t.runs.c.start_time.desc())
        )
        with self.read() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

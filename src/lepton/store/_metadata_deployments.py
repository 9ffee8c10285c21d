"""SQL of deployments, their metric series, sampled requests and alerts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, delete, func, insert, select, update

from lepton.store import _schema as t


class DeploymentTablesMixin:
    """Deployment methods of :class:`MetadataStore` (needs its ``write``/``read``)."""

    if TYPE_CHECKING:  # provided by MetadataStore

        def write(self) -> Any: ...

        def read(self) -> Any: ...

    # generic rows -------------------------------------------------------------------------------
    def insert_row(self, table: Table, row: dict[str, Any]) -> dict[str, Any]:
        with self.write() as conn:
            conn.execute(insert(table).values(**row))
        return row

    def rows(
        self, table: Table, order_by: str | None = None, limit: int | None = None, **where: Any
    ) -> list[dict[str, Any]]:
        query = select(table)
        for column, value in where.items():
            query = query.where(table.c[column] == value)
        if order_by:
            column = order_by.lstrip("-")
            query = query.order_by(
                table.c[column].desc() if order_by.startswith("-") else table.c[column]
            )
        if limit:
            query = query.limit(limit)
        with self.read() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def update_row(self, table: Table, key: str, value: Any, values: dict[str, Any]) -> int:
        with self.write() as conn:
            return int(
                conn.execute(update(table).where(table.c[key] == value).values(**values)).rowcount
            )

    def delete_rows(self, table: Table, **where: Any) -> int:
        query = delete(table)
        for column, value in where.items():
            query = query.where(table.c[column] == value)
        with self.write() as conn:
            return int(conn.execute(query).rowcount)

    # series and samples ----------------------------------------------------------------------------
    def series(self, deployment_id: str, resolution: int, since: float) -> list[dict[str, Any]]:
        m = t.deployment_metrics
        query = (
            select(m.c.ts, m.c["values"])
            .where(
                m.c.deployment_id == deployment_id, m.c.resolution == resolution, m.c.ts >= since
            )
            .order_by(m.c.ts)
        )
        with self.read() as conn:
            return [{"ts": ts, **values} for ts, values in conn.execute(query)]

    def prune_series(self, deployment_id: str, resolution: int, before: float) -> None:
        m = t.deployment_metrics
        with self.write() as conn:
            conn.execute(
                delete(m).where(
                    m.c.deployment_id == deployment_id,
                    m.c.resolution == resolution,
                    m.c.ts < before,
                )
            )

    def add_samples(self, rows: list[dict[str, Any]], keep: int) -> None:
        """Insert sampled requests, then trim the deployment to its ``keep`` newest."""
        if not rows:
            return
        s = t.request_samples
        deployment_id = rows[0]["deployment_id"]
        with self.write() as conn:
            conn.execute(insert(s), rows)
            count = (
                conn.execute(
                    select(func.count()).where(s.c.deployment_id == deployment_id)
                ).scalar()
                or 0
            )
            if count > keep:
                cutoff = conn.execute(
                    select(s.c.id)
                    .where(s.c.deployment_id == deployment_id)
                    .order_by(s.c.id.desc())
                    .offset(keep)
                    .limit(1)
                ).scalar()
                conn.execute(delete(s).where(s.c.deployment_id == deployment_id, s.c.id <= cutoff))

    def samples(self, deployment_id: str, since: float, limit: int) -> list[dict[str, Any]]:
        s = t.request_samples
        query = (
            select(s)
            .where(s.c.deployment_id == deployment_id, s.c.ts >= since)
            .order_by(s.c.id.desc())
            .limit(limit)
        )
        with self.read() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

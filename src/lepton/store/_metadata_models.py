"""SQL of the model registry: models, versions, aliases and the history of alias moves.

Versions are numbered per model, 1, 2, 3...: the next number comes from an atomic increment of
the model's counter inside the write transaction that inserts it, so numbers are never reused,
even after the newest version is deleted; a unique (model, version) constraint backs it up.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from lepton.store import _schema as t


def _new_id() -> str:
    import uuid

    return uuid.uuid4().hex


class ModelTablesMixin:
    """Model registry methods of :class:`MetadataStore` (needs its ``write``/``read``)."""

    if TYPE_CHECKING:  # provided by MetadataStore

        def write(self) -> Any: ...

        def read(self) -> Any: ...

    def _model_row(self, conn: Connection, name: str) -> dict[str, Any] | None:
        found = conn.execute(select(t.models).where(t.models.c.name == name)).first()
        return dict(found._mapping) if found else None

    def get_model(self, name: str) -> dict[str, Any] | None:
        with self.read() as conn:
            return self._model_row(conn, name)

    def list_models(self) -> list[dict[str, Any]]:
        latest = (
            select(
                t.model_versions.c.model_id,
                func.max(t.model_versions.c.version).label("latest"),
                func.count().label("versions"),
            )
            .group_by(t.model_versions.c.model_id)
            .subquery()
        )
        query = (
            select(t.models, latest.c.latest, latest.c.versions)
            .join(latest, latest.c.model_id == t.models.c.id, isouter=True)
            .order_by(t.models.c.name)
        )
        with self.read() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def insert_model_version(
        self, name: str, project_id: str, row: dict[str, Any], attempts: int = 5
    ) -> dict[str, Any]:
        """Insert the next version of ``name`` (creating the model on first use)."""
        for attempt in range(attempts):
            try:
                with self.write() as conn:
                    model = self._model_row(conn, name)
                    if model is None:
                        model = {
                            "id": _new_id(),
                            "name": name,
                            "project_id": project_id,
                            "description": "",
                            "created_at": time.time(),
                        }
                        conn.execute(insert(t.models).values(**model))
                    # one atomic increment: the row lock makes concurrent registrations queue
                    number = int(
                        conn.execute(
                            update(t.models)
                            .where(t.models.c.id == model["id"])
                            .values(last_version=t.models.c.last_version + 1)
                            .returning(t.models.c.last_version)
                        ).scalar_one()
                    )
                    version = {
                        **row,
                        "id": _new_id(),
                        "model_id": model["id"],
                        "version": number,
                        "created_at": time.time(),
                    }
                    conn.execute(insert(t.model_versions).values(**version))
                return {**version, "name": name}
            except IntegrityError:
                if attempt == attempts - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))  # another process took this number: try the next
        raise AssertionError("unreachable")

    def _versions_query(self) -> Any:
        return select(t.model_versions, t.models.c.name).join(
            t.models, t.models.c.id == t.model_versions.c.model_id
        )

    def get_model_version(self, name: str, version: int) -> dict[str, Any] | None:
        with self.read() as conn:
            found = conn.execute(
                self._versions_query().where(
                    t.models.c.name == name, t.model_versions.c.version == version
                )
            ).first()
            return dict(found._mapping) if found else None

    def list_model_versions(self, name: str) -> list[dict[str, Any]]:
        with self.read() as conn:
            rows = conn.execute(
                self._versions_query()
                .where(t.models.c.name == name)
                .order_by(t.model_versions.c.version)
            )
            return [dict(r._mapping) for r in rows]

    def update_model_version(self, name: str, version: int, values: dict[str, Any]) -> None:
        with self.write() as conn:
            model = self._model_row(conn, name)
            if model is not None:
                conn.execute(
                    update(t.model_versions)
                    .where(
                        t.model_versions.c.model_id == model["id"],
                        t.model_versions.c.version == version,
                    )
                    .values(**values)
                )

    def delete_model_version(self, name: str, version: int) -> list[str]:
        """Delete a version unless an alias points at it; returns the blocking aliases."""
        with self.write() as conn:
            model = self._model_row(conn, name)
            if model is None:
                return []
            blocking = list(
                conn.execute(
                    select(t.model_aliases.c.alias).where(
                        t.model_aliases.c.model_id == model["id"],
                        t.model_aliases.c.version == version,
                    )
                ).scalars()
            )
            if not blocking:
                conn.execute(
                    delete(t.model_versions).where(
                        t.model_versions.c.model_id == model["id"],
                        t.model_versions.c.version == version,
                    )
                )
            return blocking

    def aliases(self, name: str) -> dict[str, int]:
        with self.read() as conn:
            rows = conn.execute(
                select(t.model_aliases.c.alias, t.model_aliases.c.version)
                .join(t.models, t.models.c.id == t.model_aliases.c.model_id)
                .where(t.models.c.name == name)
            )
            return {alias: int(version) for alias, version in rows}

    def move_alias(
        self, name: str, alias: str, version: int | None, event: dict[str, Any]
    ) -> int | None:
        """Point ``alias`` at ``version`` (None deletes it) and record the move; one transaction.

        Returns the version the alias pointed at before.
        """
        with self.write() as conn:
            model = self._model_row(conn, name)
            assert model is not None
            where = (t.model_aliases.c.model_id == model["id"]) & (t.model_aliases.c.alias == alias)
            previous = conn.execute(select(t.model_aliases.c.version).where(where)).scalar()
            conn.execute(delete(t.model_aliases).where(where))
            if version is not None:
                conn.execute(
                    insert(t.model_aliases).values(
                        model_id=model["id"], alias=alias, version=version, updated_at=time.time()
                    )
                )
            conn.execute(
                insert(t.alias_events).values(
                    id=_new_id(),
                    model_id=model["id"],
                    alias=alias,
                    version=version,
                    previous_version=previous,
                    created_at=time.time(),
                    **event,
                )
            )
            return int(previous) if previous is not None else None

    def alias_history(self, name: str) -> list[dict[str, Any]]:
        with self.read() as conn:
            rows = conn.execute(
                select(t.alias_events)
                .join(t.models, t.models.c.id == t.alias_events.c.model_id)
                .where(t.models.c.name == name)
                .order_by(t.alias_events.c.created_at)
            )
            return [dict(r._mapping) for r in rows]

"""The metadata tables, as SQLAlchemy Core. Alembic migrations create and change them.

Portable types only (no SQLite- or PostgreSQL-only SQL): times are UTC epoch seconds as
doubles, ids are 32-character hex strings, free-form values are JSON.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

projects = Table(
    "projects",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("path", Text, nullable=True),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", Double, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("project_id", String(32), ForeignKey("projects.id"), nullable=False),
    Column("name", String(250), nullable=False),
    Column("status", String(16), nullable=False),
    Column("start_time", Double, nullable=False),
    Column("end_time", Double, nullable=True),
    Column("error", Text, nullable=True),
    Column("parent_id", String(32), ForeignKey("runs.id"), nullable=True),
    # lineage: git sha, environment (package versions, python, platform), dataset versions...
    Column("lineage", JSON, nullable=False, default=dict),
    Index("ix_runs_project_start", "project_id", "start_time"),
)

params = Table(
    "params",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),  # JSON text of the value as logged
)

tags = Table(
    "tags",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

metrics = Table(
    "metrics",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("run_id", String(32), ForeignKey("runs.id"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", Double, nullable=False),
    Column("value", Double, nullable=False),
    Index("ix_metrics_run_key_step", "run_id", "key", "step"),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), primary_key=True),
    Column("path", String(1000), primary_key=True),  # path inside the run, e.g. "model/lepton.json"
    Column("store_key", String(1200), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("created_at", Double, nullable=False),
)

run_inputs = Table(
    "run_inputs",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), nullable=False),
    Column("kind", String(32), nullable=False),  # "dataset", "model"...
    Column("name", String(250), nullable=False),
    Column("version", String(64), nullable=False),
    UniqueConstraint("run_id", "kind", "name", "version"),
)

"""Projects, runs, params, tags, metrics, artifacts and run inputs.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_id = sa.String(32)


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", _id, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("path", sa.Text, nullable=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("id", _id, primary_key=True),
        sa.Column("project_id", _id, sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("start_time", sa.Double, nullable=False),
        sa.Column("end_time", sa.Double, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("parent_id", _id, sa.ForeignKey("runs.id"), nullable=True),
        sa.Column("lineage", sa.JSON, nullable=False),
    )
    op.create_index("ix_runs_project_start", "runs", ["project_id", "start_time"])
    for table in ("params", "tags"):
        op.create_table(
            table,
            sa.Column("run_id", _id, sa.ForeignKey("runs.id"), primary_key=True),
            sa.Column("key", sa.String(250), primary_key=True),
            sa.Column("value", sa.Text, nullable=False),
        )
    op.create_table(
        "metrics",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("run_id", _id, sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("timestamp", sa.Double, nullable=False),
        sa.Column("value", sa.Double, nullable=False),
    )
    op.create_index("ix_metrics_run_key_step", "metrics", ["run_id", "key", "step"])
    op.create_table(
        "artifacts",
        sa.Column("run_id", _id, sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("path", sa.String(1000), primary_key=True),
        sa.Column("store_key", sa.String(1200), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
    )
    op.create_table(
        "run_inputs",
        sa.Column("run_id", _id, sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.UniqueConstraint("run_id", "kind", "name", "version"),
    )


def downgrade() -> None:
    for table in ("run_inputs", "artifacts", "metrics", "tags", "params", "runs", "projects"):
        op.drop_table(table)

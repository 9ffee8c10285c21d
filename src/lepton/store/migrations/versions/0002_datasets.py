"""Datasets and their content-hash versions.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_id = sa.String(32)


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("id", _id, primary_key=True),
        sa.Column("project_id", _id, sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.UniqueConstraint("project_id", "name", name="uq_datasets_project_name"),
    )
    op.create_table(
        "dataset_versions",
        sa.Column("id", _id, primary_key=True),
        sa.Column("dataset_id", _id, sa.ForeignKey("datasets.id"), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("target", sa.String(250), nullable=True),
        sa.Column("schema", sa.JSON, nullable=False),
        sa.Column("profile", sa.JSON, nullable=False),
        sa.Column("num_rows", sa.BigInteger, nullable=False),
        sa.Column("files", sa.JSON, nullable=False),
        sa.Column("store_prefix", sa.String(1200), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.UniqueConstraint("dataset_id", "version", name="uq_dataset_versions_dataset_version"),
    )
    op.create_index("ix_dataset_versions_version", "dataset_versions", ["version"])


def downgrade() -> None:
    op.drop_index("ix_dataset_versions_version", table_name="dataset_versions")
    op.drop_table("dataset_versions")
    op.drop_table("datasets")

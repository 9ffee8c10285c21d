"""Deployments, their metric series, sampled requests, alert rules and alert history.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_id = sa.String(32)


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("id", _id, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("project_id", _id, sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("model_version", sa.Integer, nullable=False),
        sa.Column("desired", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("replicas", sa.Integer, nullable=False),
        sa.Column("host", sa.String(100), nullable=False),
        sa.Column("port", sa.Integer, nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=True),
        sa.Column("options", sa.JSON, nullable=False),
        sa.Column("state", sa.JSON, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
    )
    op.create_table(
        "deployment_metrics",
        sa.Column("deployment_id", _id, sa.ForeignKey("deployments.id"), nullable=False),
        sa.Column("resolution", sa.Integer, nullable=False),
        sa.Column("ts", sa.Double, nullable=False),
        sa.Column("values", sa.JSON, nullable=False),
    )
    op.create_index(
        "ix_deployment_metrics_lookup", "deployment_metrics", ["deployment_id", "resolution", "ts"]
    )
    op.create_table(
        "request_samples",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("deployment_id", _id, sa.ForeignKey("deployments.id"), nullable=False),
        sa.Column("ts", sa.Double, nullable=False),
        sa.Column("model_version", sa.Integer, nullable=False),
        sa.Column("inputs", sa.JSON, nullable=False),
        sa.Column("prediction", sa.JSON, nullable=True),
    )
    op.create_index("ix_request_samples_deployment_ts", "request_samples", ["deployment_id", "ts"])
    op.create_table(
        "alert_rules",
        sa.Column("id", _id, primary_key=True),
        sa.Column("deployment_id", _id, sa.ForeignKey("deployments.id"), nullable=False),
        sa.Column("metric", sa.String(64), nullable=False),
        sa.Column("op", sa.String(8), nullable=False),
        sa.Column("threshold", sa.Double, nullable=False),
        sa.Column("for_seconds", sa.Double, nullable=False),
        sa.Column("webhook", sa.Text, nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("since", sa.Double, nullable=True),
        sa.Column("created_at", sa.Double, nullable=False),
    )
    op.create_table(
        "alert_events",
        sa.Column("id", _id, primary_key=True),
        sa.Column("rule_id", _id, sa.ForeignKey("alert_rules.id"), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("value", sa.Double, nullable=True),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("webhook_status", sa.String(100), nullable=True),
        sa.Column("ts", sa.Double, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "alert_events",
        "alert_rules",
        "request_samples",
        "deployment_metrics",
        "deployments",
    ):
        op.drop_table(table)

"""The dashboard's sign-in: users' password hashes, sessions and one-time sign-in codes.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_id = sa.String(32)


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("password_hash", sa.String(255), nullable=True))
    op.create_table(
        "web_sessions",
        sa.Column("id", _id, primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("user_id", _id, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False),
        sa.Column("last_seen_at", sa.Double, nullable=False),
    )
    op.create_table(
        "signin_codes",
        sa.Column("code_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", _id, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False),
        sa.Column("used_at", sa.Double, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("signin_codes")
    op.drop_table("web_sessions")
    # a plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35): batch mode would copy and drop
    # the users table, which the foreign keys of memberships and api_keys refuse
    op.drop_column("users", "password_hash")

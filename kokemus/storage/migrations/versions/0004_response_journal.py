"""response journal: submissions acknowledged after one app-store commit

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("invitations") as batch:
        batch.add_column(sa.Column("response_revision", sa.Integer(), nullable=True))
    # An opened invitation may hold a response saved before the revision was kept here:
    # 0 says "look in the event store".
    op.execute("UPDATE invitations SET response_revision = 0 WHERE opened_at IS NOT NULL")
    op.create_table(
        "response_journal",
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("revision", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("customer", sa.String(length=200), nullable=True),
        sa.Column("row", sa.Text(), nullable=False),
        sa.Column("drained", sa.Boolean(), nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "id", "revision",
                                name=op.f("pk_response_journal")),
    )
    op.create_index("ix_response_journal_customer", "response_journal",
                    ["workspace_id", "customer"])
    op.create_index("ix_response_journal_drained", "response_journal", ["drained", "saved_at"])


def downgrade() -> None:
    op.drop_index("ix_response_journal_drained", table_name="response_journal")
    op.drop_index("ix_response_journal_customer", table_name="response_journal")
    op.drop_table("response_journal")
    with op.batch_alter_table("invitations") as batch:
        batch.drop_column("response_revision")

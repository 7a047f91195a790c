"""answers given through a survey's test link, kept apart from the responses

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "test_responses",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("survey", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("answers", sa.Text(), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE",
                                name=op.f("fk_test_responses_workspace_id_workspaces")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_test_responses")),
    )
    op.create_index("ix_test_responses_survey", "test_responses",
                    ["workspace_id", "survey", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_test_responses_survey", table_name="test_responses")
    op.drop_table("test_responses")

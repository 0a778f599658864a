"""Change counters per topic (bumped where the store is written) and incident.updated_at indexed:
live screens ask "anything changed?" in O(1) and fetch only the incidents written since.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TOPICS = ("incident", "unit", "alert", "feed")


def upgrade() -> None:
    table = op.create_table(
        "change_counter",
        sa.Column("topic", sa.String(20), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("topic", name=op.f("pk_change_counter")),
    )
    op.bulk_insert(table, [{"topic": t, "n": 0} for t in TOPICS])
    with op.batch_alter_table("incident") as batch:
        batch.create_index("ix_incident_updated_at", ["updated_at"])


def downgrade() -> None:
    with op.batch_alter_table("incident") as batch:
        batch.drop_index("ix_incident_updated_at")
    op.drop_table("change_counter")

"""Units a source names that the city pack does not know are registered from that source, so no
assignment is lost: ``unit.registered_by`` names the feed (empty for the pack's own units).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("unit") as batch:
        batch.add_column(sa.Column("registered_by", sa.String(length=80), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("unit") as batch:
        batch.drop_column("registered_by")

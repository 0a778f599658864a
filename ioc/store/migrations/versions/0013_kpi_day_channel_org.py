"""The KPI roll-up also by channel and handling org, so the summary's tables by channel and by org
read the roll-up instead of every incident of the period; its mark remembers when a close stamp
summed while still ahead has passed (recheck_at, recheck_from). The roll-up is emptied: the next
refresh builds it again with the new cells.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(sa.text("DELETE FROM kpi_day"))
    op.execute(sa.text("DELETE FROM kpi_day_mark"))
    with op.batch_alter_table("kpi_day") as batch:
        batch.add_column(sa.Column("channel", sa.String(30), nullable=True))
        batch.add_column(sa.Column("org_code", sa.String(40), nullable=True))
    with op.batch_alter_table("kpi_day_mark") as batch:
        batch.add_column(sa.Column("recheck_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("recheck_from", sa.Date(), nullable=True))


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM kpi_day"))
    op.execute(sa.text("DELETE FROM kpi_day_mark"))
    with op.batch_alter_table("kpi_day_mark") as batch:
        batch.drop_column("recheck_from")
        batch.drop_column("recheck_at")
    with op.batch_alter_table("kpi_day") as batch:
        batch.drop_column("org_code")
        batch.drop_column("channel")

"""The KPI roll-up (ioc.read.kpi_days): additive partial sums per city day × division ×
category and its refresh mark. Kept by a worker job and before each read from incident.updated_at,
so the write path gains no trigger.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

MEASURES = ("volume", "ack_total", "ack_met", "resolve_total", "resolve_on_time", "rated", "satisfied", "resolved")


def upgrade() -> None:
    op.create_table(
        "kpi_day",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("fingerprint", sa.String(16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("district_code", sa.String(32), nullable=True),
        sa.Column("category", sa.String(40), nullable=True),
        sa.Column("closed_day", sa.Date(), nullable=True),
        *[sa.Column(name, sa.Integer(), nullable=False) for name in MEASURES],
        sa.PrimaryKeyConstraint("id", name="pk_kpi_day"),
    )
    op.create_index("ix_kpi_day_fingerprint_day", "kpi_day", ["fingerprint", "day"])
    op.create_table(
        "kpi_day_mark",
        sa.Column("fingerprint", sa.String(16), nullable=False),
        sa.Column("built_from", sa.Date(), nullable=False),
        sa.Column("covered_to", sa.Date(), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("fingerprint", name="pk_kpi_day_mark"),
    )


def downgrade() -> None:
    op.drop_table("kpi_day_mark")
    op.drop_index("ix_kpi_day_fingerprint_day", table_name="kpi_day")
    op.drop_table("kpi_day")

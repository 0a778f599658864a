"""Anomaly flags (a division × category far above its usual count for the hour of the week) and
the triage phrases' accepted / corrected counts.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "anomaly",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("hour_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("district_code", sa.String(32), nullable=False),
        sa.Column("category", sa.String(40), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("usual", sa.Float(), nullable=False),
        sa.Column("baseline", sa.JSON(), nullable=False),
        sa.Column("p_value", sa.Float(), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_anomaly"),
        sa.UniqueConstraint("hour_start", "district_code", "category",
                            name="uq_anomaly_hour_start_district_code_category"),
    )
    op.create_index("ix_anomaly_hour_start", "anomaly", ["hour_start"])
    op.create_table(
        "triage_phrase",
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("phrase", sa.String(100), nullable=False),
        sa.Column("suggested", sa.String(40), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("corrected", sa.Integer(), nullable=False),
        sa.Column("corrected_to", sa.JSON(), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "phrase", "suggested", name="pk_triage_phrase"),
    )


def downgrade() -> None:
    op.drop_table("triage_phrase")
    op.drop_index("ix_anomaly_hour_start", "anomaly")
    op.drop_table("anomaly")

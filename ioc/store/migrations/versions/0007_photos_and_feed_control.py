"""Handlers' feedback photos (kept in the store) and admins' feed controls (pause, replay).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "work_order_photo",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("work_order_id", sa.Integer(), sa.ForeignKey("work_order.id",
                  name="fk_work_order_photo_work_order_id_work_order"), nullable=False),
        sa.Column("content_type", sa.String(40), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("uploaded_by", sa.String(80), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_work_order_photo"),
    )
    op.create_index("ix_work_order_photo_work_order_id", "work_order_photo", ["work_order_id"])
    op.create_table(
        "feed_control",
        sa.Column("name", sa.String(60), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("changed_by", sa.String(80), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("replay_requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replay_done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replay_counts", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_feed_control"),
    )


def downgrade() -> None:
    op.drop_table("feed_control")
    op.drop_index("ix_work_order_photo_work_order_id", "work_order_photo")
    op.drop_table("work_order_photo")

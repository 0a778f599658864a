"""Index raw records by feed and content hash: every batch looks its items up this way to drop
re-polled duplicates, and without it the lookup grows with the feed's whole history.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("raw_record") as batch:
        batch.create_index("ix_raw_record_feed_content_hash", ["feed", "content_hash"])


def downgrade() -> None:
    with op.batch_alter_table("raw_record") as batch:
        batch.drop_index("ix_raw_record_feed_content_hash")

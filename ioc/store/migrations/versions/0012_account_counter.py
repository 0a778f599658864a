"""A change counter for accounts and kiosk links: the web processes keep the signed-in actor and
look it up again only when a user or a link was written (deactivated, role changed, revoked).

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(sa.text("INSERT INTO change_counter (topic, n) VALUES ('account', 0)"))


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM change_counter WHERE topic = 'account'"))

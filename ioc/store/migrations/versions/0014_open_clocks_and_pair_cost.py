"""The wall's overdue count from a small index of the open set, and what PostgreSQL's planner
believes a character-pair list costs.

- ``ix_incident_open_clocks``: the open incidents only (partial), keyed by priority and division;
  on PostgreSQL it carries every clock's due time and stamp (INCLUDE), so "overdue now" is an
  index-only scan of the open set instead of fetching each open incident's row through the
  status index (340 ms at 10 M stored with 145,000 open). SQLite has no INCLUDE; there it only
  narrows reads to the open set.
- ``ioc_bigrams`` (PostgreSQL): declared 1,000 × an operator's cost instead of the default 100.
  A row's pairs cost about 60 µs to compute; believing them cheap, the planner answered a rare
  two-character query (暴雨, no match at 10 M) by reading the whole table newest first and
  computing every row's pairs (minutes) instead of asking the pairs index (5 ms). A higher cost
  still pushes plans over ``jit_above_cost``, whose compilation costs more than these short
  queries.

Revision ID: 0014
Revises: 0013
"""

from alembic import op
from sqlalchemy import text

from ioc.store.models import OPEN_SET, OPEN_CLOCK_COLUMNS

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

INDEX = "ix_incident_open_clocks"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(INDEX, "incident", ["priority", "district_code"], postgresql_where=text(OPEN_SET),
                        postgresql_include=list(OPEN_CLOCK_COLUMNS))
        op.execute("ALTER FUNCTION ioc_bigrams(text) COST 1000")
    else:
        op.create_index(INDEX, "incident", ["priority", "district_code"], sqlite_where=text(OPEN_SET))


def downgrade() -> None:
    op.drop_index(INDEX, "incident")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER FUNCTION ioc_bigrams(text) COST 100")

"""A past day's replay from partial indexes instead of rows scattered over the years (PostgreSQL).

- ``ix_incident_still_going``: the incidents still on the map (unverified or open, with a place),
  keyed by report time. On PostgreSQL it carries what the replay draws of each (INCLUDE), so a
  day's backlog — incidents reported days or months before and still open — is read from the
  index alone. Through the status index it was one row fetched from disk per incident, scattered
  over the whole table: 1.8 s cold for 21,000 of them at 10 M stored.
- ``ix_incident_event_steps``: the event log's steps only (partial). Half a log or more is a
  feed's "created" as new, notes and other kinds no replay shows; through the whole log's index
  every event of the day's 73,000 incidents was fetched to be filtered out (2.1 s cold at 10 M).

SQLite gets neither: a day at 1 M is read as fast without them, and with the first its planner
took the partial index for the live map's open set and drew the map page 2.5 times slower.

Revision ID: 0015
Revises: 0014
"""

from alembic import op
from sqlalchemy import text

from ioc.store.models import REPLAY_COLUMNS, STILL_GOING_SET, step_events_where

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.create_index("ix_incident_still_going", "incident", ["reported_at"],
                    postgresql_where=text(STILL_GOING_SET), postgresql_include=list(REPLAY_COLUMNS))
    op.create_index("ix_incident_event_steps", "incident_event", ["incident_id", "at"],
                    postgresql_where=text(step_events_where("postgresql")))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_incident_event_steps", "incident_event")
    op.drop_index("ix_incident_still_going", "incident")

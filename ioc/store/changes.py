"""Change counters: every write transaction that touches a watched table bumps its topic's counter.

Installed on every engine (``ioc.store.db.make_engine``), so ingest, the chain's services and the
worker all keep them without knowing: the bump rides in the writer's own transaction, so a reader
that sees a new number also sees the rows behind it, and a rolled-back write bumps nothing. A live
screen reads the handful of counters (one tiny table, cost independent of history) and does no
more when they are the ones it saw last.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, event, select, update
from sqlalchemy.sql.dml import UpdateBase

from ioc.store.models import ChangeCounter

# table → topic; a topic is what one layer or panel of a live screen redraws from.
WATCHED = {"incident": "incident", "unit": "unit", "alert": "alert", "feed_state": "feed",
           "app_user": "account", "kiosk_link": "account"}
TOPICS = tuple(dict.fromkeys(WATCHED.values()))
# What live screens redraw from; "account" only tells the web processes to look a user up again.
LIVE_TOPICS = ("incident", "unit", "alert", "feed")
_BUMPED = "ioc_changes_bumped"


def install(engine: Engine) -> None:
    event.listen(engine, "after_execute", _after_execute)


def versions(engine: Engine, topics: tuple[str, ...] = LIVE_TOPICS) -> dict[str, int]:
    """The counter of each of ``topics`` (the live screens' unless told)."""
    with engine.connect() as conn:
        rows = conn.execute(select(ChangeCounter.topic, ChangeCounter.n).where(ChangeCounter.topic.in_(topics)))
        return {topic: n for topic, n in rows}


def _after_execute(conn: Connection, clause, *_args) -> None:  # noqa: ANN001 - SQLAlchemy event signature
    if isinstance(clause, UpdateBase):
        bump(conn, clause.table.name)


def bump(conn: Connection, table: str) -> None:
    """Count a write to ``table`` (once per transaction and topic). Statements sent as driver SQL
    (``ioc.store.upsert.insert_rows``) call this themselves; Core statements are seen by the event."""
    if table not in WATCHED:
        return
    topic = WATCHED[table]
    # Once per transaction is enough. Keyed by the transaction object, as conn.info outlives it
    # (it belongs to the pooled DBAPI connection).
    tx = conn.get_transaction()
    seen = conn.info.get(_BUMPED)
    if seen is None or seen[0] is not tx:
        seen = conn.info[_BUMPED] = (tx, set())
    if topic in seen[1]:
        return
    seen[1].add(topic)
    conn.execute(update(ChangeCounter).where(ChangeCounter.topic == topic).values(n=ChangeCounter.n + 1))

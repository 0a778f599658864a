"""Free-text search by n-grams (ioc.store.search) and the indexes the reads at city scale need.

SQLite: FTS5 table ``incident_text`` (trigram tokenizer) + its vocabulary, kept by triggers on
incident. PostgreSQL: pg_trgm GIN on the searched text, a GIN of its character pairs for 1-2
character queries. Both: parent_id indexed only where set (linked reports); external_id alone (search by a source's number), the KPI deadlines
(acknowledge_due, resolve_due: the rates' windows), the open set's panels from one covering index.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

from ioc.store.search import SEARCH_TEXT

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# Each field followed by newlines, so every 1- or 2-character query begins an indexed trigram.
_BODY = "coalesce({p}.title, '') || char(10) || coalesce({p}.description, '') || char(10) || " \
        "coalesce({p}.address, '') || char(10) || char(10)"
PLAIN_INDEXES = (("ix_incident_external_id", ["external_id"]), ("ix_incident_acknowledge_due", ["acknowledge_due"]),
                 ("ix_incident_resolve_due", ["resolve_due"]),
                 ("ix_incident_status_parent_id_priority_district_code_reported_at",
                  ["status", "parent_id", "priority", "district_code", "reported_at"]))


def upgrade() -> None:
    with op.batch_alter_table("incident") as batch:
        for name, columns in PLAIN_INDEXES:
            batch.create_index(name, columns)
        batch.drop_index("ix_incident_parent_id")
    _partial_parent_index()
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_up()
    else:
        _postgresql_up()


def _partial_parent_index() -> None:
    """Linked reports only (parent_id set): an index of a million NULLs is one SQLite's planner,
    which has no statistics unless someone runs ANALYZE, walks for ``parent_id IS NULL``."""
    op.create_index("ix_incident_parent_id", "incident", ["parent_id"],
                    sqlite_where=sa.text("parent_id IS NOT NULL"), postgresql_where=sa.text("parent_id IS NOT NULL"))


def _sqlite_up() -> None:
    op.execute("CREATE VIRTUAL TABLE incident_text USING fts5(body, tokenize = 'trigram')")
    op.execute("CREATE VIRTUAL TABLE incident_text_vocab USING fts5vocab(incident_text, 'row')")
    op.execute(f"INSERT INTO incident_text (rowid, body) SELECT id, {_BODY.format(p='incident')} FROM incident")
    op.execute(f"""CREATE TRIGGER incident_text_insert AFTER INSERT ON incident BEGIN
        INSERT INTO incident_text (rowid, body) VALUES (new.id, {_BODY.format(p='new')}); END""")
    op.execute(f"""CREATE TRIGGER incident_text_update AFTER UPDATE OF title, description, address ON incident BEGIN
        UPDATE incident_text SET body = {_BODY.format(p='new')} WHERE rowid = new.id; END""")
    op.execute("""CREATE TRIGGER incident_text_delete AFTER DELETE ON incident BEGIN
        DELETE FROM incident_text WHERE rowid = old.id; END""")


def _postgresql_up() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute("""CREATE FUNCTION ioc_bigrams(t text) RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT coalesce(array_agg(DISTINCT substr(lower(t), i, 2)), '{}')
        FROM generate_series(1, length(t) - 1) AS i $$""")
    op.execute(f"CREATE INDEX ix_incident_search_trgm ON incident USING gin ({SEARCH_TEXT} gin_trgm_ops)")
    op.execute(f"CREATE INDEX ix_incident_search_pairs ON incident USING gin (ioc_bigrams({SEARCH_TEXT}))")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS incident_text_{trigger}")
        op.execute("DROP TABLE IF EXISTS incident_text_vocab")
        op.execute("DROP TABLE IF EXISTS incident_text")
    else:
        op.execute("DROP INDEX IF EXISTS ix_incident_search_pairs")
        op.execute("DROP INDEX IF EXISTS ix_incident_search_trgm")
        op.execute("DROP FUNCTION IF EXISTS ioc_bigrams(text)")
    op.drop_index("ix_incident_parent_id", "incident")
    with op.batch_alter_table("incident") as batch:
        batch.create_index("ix_incident_parent_id", ["parent_id"])
        for name, _ in reversed(PLAIN_INDEXES):
            batch.drop_index(name)

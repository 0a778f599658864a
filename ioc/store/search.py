"""Free-text search over incidents (title, description, address) by n-grams, for Chinese and English alike.

Chinese has no spaces between words, so the index holds character n-grams, not words:

- SQLite: an FTS5 table ``incident_text`` with the trigram tokenizer (case-insensitive), one row per
  incident (rowid = incident id), kept by triggers on ``incident`` (migration 0010), so every
  writer keeps it without knowing. A query of 3 or more characters is one FTS5 phrase. A trigram
  index cannot answer 1- or 2-character queries (噪音, 积水) directly; every field is stored with
  two newlines after it, so each occurrence of a short query begins some indexed trigram, and the
  query becomes the OR of the trigrams that start with it, read from the index's own vocabulary
  (``incident_text_vocab``) in the same statement.
- PostgreSQL: ``pg_trgm`` GIN index on the same text (``SEARCH_TEXT``) answers ``ILIKE`` of 3 or
  more characters (``LIKE`` when the query has no cased letter: the same rows, checked faster);
  2-character queries use a GIN index of the text's (lower-cased) character pairs
  (``ioc_bigrams``), exact by itself; 1 character is a plain ``ILIKE`` (or ``LIKE``).

A very common query (more than ``COMMON`` matches; on PostgreSQL, 3 or more characters matching
1 % of the newest incidents) reads incidents newest first and checks each instead
(``newest_first_scan``): a page of the newest 100 is then found within a few thousand rows.

Either way ``matches(q)`` is one SQL condition on ``incident``; the query is only ever a bound
value (quotes, ``%``, ``_``, ``*`` and the like are literal text).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, String, bindparam, column, func, literal, select, table, text
from sqlalchemy.orm import Session
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import BindParameter, ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import NullType

# Objects migration 0010 creates that the models do not describe (FTS5 tables and their shadow
# tables, expression indexes): the schema comparison leaves them alone.
NOT_MODELLED_PREFIXES = ("incident_text", "ix_incident_search_")
# The text searched, as PostgreSQL's expression indexes spell it (they must match it exactly).
SEARCH_TEXT = "(coalesce(title, '') || ' ' || coalesce(description, '') || ' ' || coalesce(address, ''))"
# Matches past which a page is found sooner by reading newest first (newest_first_scan).
COMMON = 5_000
# PostgreSQL, 3 or more characters: a query matching at least DENSE of the newest PROBE_ROWS
# incidents (1 %) reads newest first; a sparser one goes through the trigram index.
PROBE_ROWS, DENSE = 10_000, 100
# PostgreSQL's GIN index of the searched text's character pairs (migration 0010).
PAIRS_INDEX = "ix_incident_search_pairs"
# In SQLite, the highest code point: 'ab' <= term < 'ab' || LAST is every term starting with 'ab'.
_LAST = "char(1114111)"


def not_modelled(name: str | None, type_: str) -> bool:
    return bool(name) and type_ in ("table", "index") and name.startswith(NOT_MODELLED_PREFIXES)


class TextMatch(ColumnElement[bool]):
    """``incident`` rows whose title, description or address contain ``q`` (case-insensitive).

    The query's text travels as bound values (so statements holding it are cached like any
    other); only its length class (1, 2, 3+ characters), ``scan`` and whether it has cased letters
    shape the SQL.
    """

    # No Boolean type: SQLite (no native booleans) would compare the condition with 1, and
    # "id IN (…) = 1" is a condition no index can answer.
    type = NullType()
    inherit_cache = True
    _traverse_internals = [("phrase", InternalTraversal.dp_clauseelement),
                           ("prefix", InternalTraversal.dp_clauseelement),
                           ("pattern", InternalTraversal.dp_clauseelement),
                           ("size", InternalTraversal.dp_plain_obj), ("scan", InternalTraversal.dp_boolean),
                           ("caseless", InternalTraversal.dp_boolean)]

    def __init__(self, q: str, scan: bool = False) -> None:
        self.size, self.scan = min(len(q), 3), scan  # 1, 2, or 3 and more characters
        # No cased letter (元美路27, 电梯困人): case cannot matter, and PostgreSQL's LIKE checks a row
        # in about half the time of its ILIKE, which folds every row's text first.
        self.caseless = q.lower() == q.upper()
        self.phrase = _bind('"' + q.replace('"', '""') + '"')  # one FTS5 phrase: everything inside is literal
        self.prefix = _bind(q.lower())
        self.pattern = _bind(f"%{_escape_like(q)}%")


def matches(q: str, scan: bool = False) -> ColumnElement[bool]:
    """The condition; ``scan`` (from ``newest_first_scan``) for a query that matches very many."""
    return TextMatch(q, scan)


def _escape_like(q: str) -> str:
    return q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@compiles(TextMatch, "sqlite")
def _sqlite(element: TextMatch, compiler: Any, **kw: Any) -> str:
    # "+" keeps SQLite from driving the query by the matches (see ``newest_first_scan``).
    column = "+incident.id" if element.scan else "incident.id"
    return f"{column} IN (SELECT rowid FROM incident_text WHERE incident_text MATCH {_fts_query(element, compiler, kw)})"


def _fts_query(element: TextMatch, compiler: Any, kw: dict[str, Any]) -> str:
    if element.size >= 3:
        return compiler.process(element.phrase, **kw)
    prefix = compiler.process(element.prefix, **kw)
    # Every indexed trigram that starts with the short query, as one OR query ('""' matches nothing).
    return (f"(SELECT coalesce(group_concat('\"' || replace(term, '\"', '\"\"') || '\"', ' OR '), '\"\"') "
            f"FROM incident_text_vocab WHERE term >= {prefix} AND term < {prefix} || {_LAST})")


class _MatchCount(ColumnElement[int]):
    type = Integer()
    inherit_cache = False

    def __init__(self, q: str, cap: int) -> None:
        self.match, self.cap = TextMatch(q), cap


@compiles(_MatchCount, "sqlite")
def _sqlite_count(element: _MatchCount, compiler: Any, **kw: Any) -> str:
    return (f"(SELECT count(*) FROM (SELECT rowid FROM incident_text WHERE incident_text MATCH "
            f"{_fts_query(element.match, compiler, kw)} LIMIT {int(element.cap) + 1}))")


def newest_first_scan(session: Session, q: str) -> bool:
    """Whether reading incidents newest first and checking each against the query finds a page
    sooner than fetching every match and sorting them: true for a common word (噪音: one report in
    ten), false for a rare one. SQLite keeps no statistics of n-grams, so we count, no further than
    ``COMMON``. On PostgreSQL a character pair goes by the statistics of its index
    (``pair_estimate``), because counting even 5,000 matches of 噪音 there took seconds at 10 M;
    3 or more characters go by how many of the newest incidents match (``dense_among_newest``):
    at 10 M, ``noise`` and 电梯困人 match 25,000–35,000 (more than ``COMMON``) but under 0.4 % of
    the newest, and the trigram index with the week first finds their page in 30–40 ms, against
    80–105 ms reading newest first."""
    if session.get_bind().dialect.name == "sqlite":
        return (session.scalar(select(_MatchCount(q, COMMON))) or 0) > COMMON
    estimate = pair_estimate(session, q)
    if estimate is not None:
        return estimate > COMMON
    if len(q) >= 3:
        return dense_among_newest(session, q)
    found = select(literal(1)).select_from(table("incident")).where(TextMatch(q)).limit(COMMON + 1).subquery()
    return (session.scalar(select(func.count()).select_from(found)) or 0) > COMMON


def dense_among_newest(session: Session, q: str) -> bool:
    """Whether at least ``DENSE`` of the newest ``PROBE_ROWS`` incidents match ``q`` (read through
    the reported_at index and checked row by row, stopping at ``DENSE``: 10–20 ms at 10 M)."""
    fields = [column(name) for name in ("title", "description", "address")]
    newest = (select(*fields).select_from(table("incident", column("reported_at")))
              .order_by(column("reported_at").desc()).limit(PROBE_ROWS).subquery("newest"))
    found = select(literal(1)).select_from(newest).where(TextMatch(q, scan=True)).limit(DENSE).subquery()
    return (session.scalar(select(func.count()).select_from(found)) or 0) >= DENSE


def pair_estimate(session: Session, q: str) -> int | None:
    """About how many incidents hold the two-character ``q``, from what PostgreSQL's ANALYZE keeps
    of the pairs index: its most common pairs with their shares of the rows (a sample of
    30,000 rows: a share of 1 % is known within about a tenth of itself). A pair not among them is
    rarer than the least common listed (0.2 % of 10 M here): 0. None for SQLite, for other lengths,
    and before the index has statistics (a new store: then we count)."""
    if len(q) != 2 or session.get_bind().dialect.name != "postgresql":
        return None
    row = session.execute(text(
        "SELECT s.most_common_elem_freqs[array_position(s.most_common_elems::text::text[], :pair)], c.reltuples "
        "FROM pg_stats s JOIN pg_class c ON c.oid = to_regclass('incident') "
        "WHERE s.schemaname = current_schema() AND s.tablename = :index"),
        {"pair": q.lower(), "index": PAIRS_INDEX}).first()
    if row is None or row[1] is None or row[1] < 0:  # reltuples is -1 before the first ANALYZE
        return None
    return round((row[0] or 0.0) * row[1])


@compiles(TextMatch, "postgresql")
def _postgresql(element: TextMatch, compiler: Any, **kw: Any) -> str:
    # scan: the text with "|| ''" is not the indexed expression, so the planner reads newest first.
    text_ = f"({SEARCH_TEXT} || '')" if element.scan else SEARCH_TEXT
    like = f"{text_} {'LIKE' if element.caseless else 'ILIKE'} {compiler.process(element.pattern, **kw)}"
    if element.scan:
        return like
    if element.size == 2:  # a text holds the pair exactly when its pairs do: no LIKE to recheck
        pair = compiler.process(element.prefix, **kw)
        return f"ioc_bigrams({SEARCH_TEXT}) @> ARRAY[{pair}]::text[]"
    return like


@compiles(TextMatch)
def _other(element: TextMatch, compiler: Any, **kw: Any) -> str:
    return f"lower({SEARCH_TEXT}) LIKE lower({compiler.process(element.pattern, **kw)}) ESCAPE '\\'"


def _bind(value: str) -> BindParameter[str]:
    return bindparam(None, value, type_=String(), unique=True)

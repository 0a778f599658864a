"""Bulk writes for both backends: one executemany per batch, no RETURNING (see ecosystem.md §6).

``upsert`` is a Core statement. ``insert_rows`` is the intake's hot path: the same INSERT, compiled
once per table and column set, with the values converted by column kind in one pass and handed to
the driver's executemany — SQLAlchemy's per-row parameter processing (≈15 µs a row for a wide
table) was most of the cost of storing a batch. On SQLite the rows go as a few multi-row INSERTs
instead (``_insert_sqlite``): the FTS5 search index, kept by a trigger on ``incident``, writes its
pending terms out at the end of every statement, so one statement per row wrote a segment per row
and then merged them again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from functools import lru_cache
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import JSON, Boolean, Connection, Table, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session

from ioc.store import changes
from ioc.store.models import UTCDateTime


def upsert(
    session: Session,
    model: type[DeclarativeBase],
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    update: Sequence[str] | None = None,
) -> int:
    """Insert ``rows``; where ``keys`` collide, overwrite the ``update`` columns.

    ``update`` defaults to every column the rows carry except the keys; an empty list turns
    the statement into insert-or-ignore. Returns the number of rows sent.
    """
    if not rows:
        return 0
    table = model.__table__
    dialect = session.get_bind().dialect.name
    insert_ = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}.get(dialect)
    if insert_ is None:
        raise NotImplementedError(f"upsert has no form for the {dialect} backend")
    stmt = insert_(table)
    columns = [c for c in rows[0] if c not in keys] if update is None else list(update)
    if columns:
        stmt = stmt.on_conflict_do_update(
            index_elements=list(keys), set_={c: stmt.excluded[c] for c in columns}
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
    session.execute(stmt, list(rows))
    return len(rows)


def insert_rows(session: Session, model: type[DeclarativeBase], rows: Sequence[dict[str, Any]]) -> int:
    """Insert ``rows`` (dicts with the same keys) in one driver executemany; the change counters
    are kept as for any Core write. Columns the rows leave out get their scalar or callable
    default (a callable is called once for the batch). Returns the number of rows sent."""
    if not rows:
        return 0
    table: Table = model.__table__  # type: ignore[assignment]
    conn = session.connection()
    sql, order, defaults, converted = _compiled(table, tuple(rows[0]), conn.dialect)
    if defaults:
        fixed = {name: (fn() if callable(fn) else fn) for name, fn in defaults}
        rows = [{**fixed, **row} for row in rows]
    values = itemgetter(*order) if len(order) > 1 else (lambda row: (row[order[0]],))
    params: list[Any] = []
    seen: dict[Any, Any] = {}  # a batch repeats values (its write time on every row): convert each once
    for row in rows:
        one = list(values(row))
        for i, fn in converted:
            value = one[i]
            if value is None:
                continue
            if type(value) is datetime:
                out = seen.get(value)
                if out is None:
                    out = seen[value] = fn(value)
                one[i] = out
            else:
                one[i] = fn(value)
        params.append(tuple(one) if conn.dialect.positional else dict(zip(order, one, strict=True)))
    if conn.dialect.name == "sqlite":
        _insert_sqlite(conn, sql, len(order), params)
    else:
        conn.exec_driver_sql(sql, params)
    changes.bump(conn, table.name)
    return len(rows)


@lru_cache(maxsize=64)
def _compiled(table: Table, given: tuple[str, ...], dialect: Dialect) -> tuple[str, tuple[str, ...], tuple, tuple]:
    """The INSERT for these columns (plus the defaulted ones) in the dialect's parameter style,
    the order of its parameters, the defaults, and the converter of each parameter that needs one."""
    defaults = []
    for col in table.columns:
        if col.name in given or col.default is None or col.primary_key:
            continue
        arg = col.default.arg  # type: ignore[attr-defined]
        defaults.append((col.name, (lambda fn=arg: fn(None)) if callable(arg) else arg))
    names = (*given, *(name for name, _ in defaults))
    compiled = insert(table).compile(dialect=dialect, column_keys=list(names))
    order = tuple(compiled.positiontup) if dialect.positional else names  # type: ignore[arg-type]
    converted = tuple((i, fn) for i, name in enumerate(order)
                      if (fn := _converter(table.c[name].type, dialect)) is not None)
    return str(compiled), order, tuple(defaults), converted


# Rows per multi-row INSERT on SQLite, largest first: a batch goes as a handful of statements, each
# of a size prepared once and then taken from the driver's statement cache (preparing a 500-row
# statement afresh costs more than it saves).
SQLITE_CHUNKS = (256, 64, 16, 4, 1)


def _insert_sqlite(conn: Connection, sql: str, width: int, params: list[tuple]) -> None:
    limit = conn.connection.dbapi_connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)  # type: ignore[union-attr]
    done = 0
    for size in (s for s in SQLITE_CHUNKS if s * width <= limit):
        while len(params) - done >= size:
            conn.exec_driver_sql(_multi_row(sql, width, size), tuple(v for row in params[done:done + size] for v in row))
            done += size


@lru_cache(maxsize=256)
def _multi_row(sql: str, width: int, size: int) -> str:
    """The one-row INSERT ``sql`` (ending in VALUES (?, …)) for ``size`` rows."""
    head, one = sql.rsplit(" VALUES ", 1)
    assert one == "(" + ", ".join(["?"] * width) + ")", sql
    return f"{head} VALUES {', '.join([one] * size)}"


def _json(value: Any) -> Any:
    return None if value is None else orjson.dumps(value).decode()


def _sqlite_time(value: datetime | None) -> str | None:
    """SQLAlchemy's SQLite DateTime text ("YYYY-MM-DD HH:MM:SS.ffffff"), in UTC as UTCDateTime keeps it."""
    if value is None:
        return None
    if value.tzinfo is not timezone.utc:
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use an aware datetime")
        value = value.astimezone(timezone.utc)
    return value.isoformat(" ", "microseconds")[:26]  # without the "+00:00"


def _aware_time(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("naive datetime given to the store; use an aware datetime")
    return value


def _converter(kind: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    """How a value of this column type goes to the driver (None: as it is)."""
    if isinstance(kind, UTCDateTime):
        return _sqlite_time if dialect.name == "sqlite" else _aware_time
    if isinstance(kind, JSON):
        if dialect.name == "postgresql":
            from psycopg.types.json import Json

            return lambda v: None if v is None else Json(v, dumps=_orjson_text)
        return _json
    if isinstance(kind, Boolean) and dialect.name == "sqlite":
        return lambda v: None if v is None else int(v)
    return None


def _orjson_text(value: Any) -> str:
    return orjson.dumps(value).decode()

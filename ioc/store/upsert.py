"""One bulk upsert for both backends: a single executemany, no RETURNING (see ecosystem.md §6)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Session


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
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}.get(dialect)
    if insert is None:
        raise NotImplementedError(f"upsert has no form for the {dialect} backend")
    stmt = insert(table)
    columns = [c for c in rows[0] if c not in keys] if update is None else list(update)
    if columns:
        stmt = stmt.on_conflict_do_update(
            index_elements=list(keys), set_={c: stmt.excluded[c] for c in columns}
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
    session.execute(stmt, list(rows))
    return len(rows)

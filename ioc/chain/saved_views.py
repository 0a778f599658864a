"""A user's saved board views: a named filter, sort and column layout, each user's own."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from ioc.chain.actions import Actor, audit, get_or_404, require
from ioc.errors import ActionRefused, Forbidden
from ioc.store import models
from ioc.store.db import transaction

MAX_NAME = 80


def save(engine: Engine, actor: Actor, name: str, query: dict[str, Any], columns: list[Any]) -> models.SavedView:
    """Keep the view under ``name``; saving an existing name replaces it."""
    require(actor, "view.save")
    if actor.username.startswith("kiosk:"):
        raise Forbidden("a wall-screen link cannot keep views; sign in", key="kiosk_views")
    name = (name or "").strip()
    if not name or len(name) > MAX_NAME:
        raise ActionRefused(f"give the view a name of 1 to {MAX_NAME} characters", key="view_name", n=MAX_NAME)
    sv = models.SavedView
    with transaction(engine) as session:
        row = session.scalar(select(sv).where(sv.username == actor.username, sv.name == name))
        if row is None:
            row = sv(username=actor.username, name=name)
            session.add(row)
        row.query, row.columns = dict(query), list(columns or [])
        session.flush()
        audit(session, actor, "view.save", "saved_view", row.id, None, {"name": name})
    return row


def delete(engine: Engine, actor: Actor, view_id: int) -> None:
    """Remove one of the actor's own views."""
    require(actor, "view.save")
    with transaction(engine) as session:
        row = get_or_404(session, models.SavedView, view_id, "saved view")
        if row.username != actor.username:
            raise Forbidden("that view belongs to someone else", key="view_owner")
        audit(session, actor, "view.delete", "saved_view", row.id, {"name": row.name}, None)
        session.delete(row)

"""Admins' hold on the feeds: pause and resume a feed, ask for its rejected records to be replayed.

The page writes the wish here; the worker (``ioc.intake.worker``) reads it before each poll, skips
a paused feed and runs a requested replay, then records what the replay did. So a web process
never runs the intake itself, and every worker honours the same switch.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from ioc.chain.actions import Actor, audit, require
from ioc.store import models
from ioc.store.db import session_factory, transaction
from ioc.store.models import utcnow

log = logging.getLogger(__name__)
FIELDS = ("paused", "changed_by", "replay_requested_at", "replay_done_at")


def _control(session, name: str) -> models.FeedControl:
    row = session.get(models.FeedControl, name, with_for_update=True)
    if row is None:
        row = models.FeedControl(name=name, paused=False, changed_by="", changed_at=utcnow())
        session.add(row)
    return row


def _snap(row: models.FeedControl) -> dict[str, Any]:
    return {f: (v.isoformat() if isinstance(v := getattr(row, f), datetime) else v) for f in FIELDS}


def _change(engine: Engine, actor: Actor, name: str, action: str, **values: Any) -> None:
    require(actor, "feed.manage")
    with transaction(engine) as session:
        row = _control(session, name)
        before = _snap(row)
        for key, value in values.items():
            setattr(row, key, value)
        row.changed_by, row.changed_at = actor.username, utcnow()
        audit(session, actor, f"feed.{action}", "feed", name, before, _snap(row))
    log.info("%s: feed %s %s", actor.username, name, action)


def pause(engine: Engine, actor: Actor, name: str) -> None:
    _change(engine, actor, name, "pause", paused=True)


def resume(engine: Engine, actor: Actor, name: str) -> None:
    _change(engine, actor, name, "resume", paused=False)


def request_replay(engine: Engine, actor: Actor, name: str) -> None:
    """Ask the worker to re-run the feed's rejected records (after a mapping fix) on its next turn."""
    _change(engine, actor, name, "replay", replay_requested_at=utcnow())


# --- the worker's side ----------------------------------------------------------------------


def controls(engine: Engine) -> dict[str, models.FeedControl]:
    with session_factory(engine)() as session:
        return {c.name: c for c in session.scalars(select(models.FeedControl))}


def is_paused(engine: Engine, name: str) -> bool:
    with session_factory(engine)() as session:
        return bool(session.scalar(select(models.FeedControl.paused).where(models.FeedControl.name == name)))


def replay_wanted(engine: Engine, name: str) -> bool:
    with session_factory(engine)() as session:
        row = session.get(models.FeedControl, name)
    return bool(row and row.replay_requested_at and
                (row.replay_done_at is None or row.replay_done_at < row.replay_requested_at))


def replay_done(engine: Engine, name: str, counts: dict[str, int]) -> None:
    with transaction(engine) as session:
        row = _control(session, name)
        row.replay_done_at, row.replay_counts = utcnow(), counts

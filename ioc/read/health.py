"""How the system is doing: each feed's state as the worker recorded it, and whether the store answers."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select, text

from ioc.config import FeedSettings
from ioc.store import models
from ioc.store.db import session_factory


@dataclass(frozen=True)
class FeedHealth:
    name: str
    kind: str
    enabled: bool
    interval_s: float
    status: str | None  # ok / degraded / down; None: never polled
    last_success_at: datetime | None = None
    failures: int = 0
    last_error: str | None = None
    lag_seconds: float | None = None
    counts: dict[str, Any] = field(default_factory=dict)


def feed_states(engine: Engine) -> dict[str, models.FeedState]:
    with session_factory(engine)() as session:
        return {s.name: s for s in session.scalars(select(models.FeedState))}


def feed_health(engine: Engine, feeds: Iterable[FeedSettings]) -> list[FeedHealth]:
    """One row per known feed, in the order given, with what its last polls left behind."""
    states = feed_states(engine)
    rows = []
    for feed in feeds:
        st = states.get(feed.name)
        base = FeedHealth(feed.name, feed.kind, feed.enabled, feed.interval_seconds, None)
        if st is None:
            rows.append(base)
            continue
        rows.append(FeedHealth(
            base.name, base.kind, base.enabled, base.interval_s, st.status, st.last_success_at,
            st.consecutive_failures, st.last_error, st.lag_seconds, st.counts or {},
        ))
    return rows


def store_problem(engine: Engine) -> str | None:
    """None when the store answers a trivial query; else the kind of error (never its text)."""
    try:
        with engine.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:
        return type(exc).__name__
    return None

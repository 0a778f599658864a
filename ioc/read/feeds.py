"""The feeds board: each feed's health, its admins' controls, its throughput by hour and its rejected records.

Throughput is counted in SQL by the hour the raw records arrived (``raw_record.received_at``),
so the sparkline costs one grouped query whatever the volume.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import Engine, func, select

from ioc.config import FeedSettings
from ioc.read.health import FeedHealth, feed_health
from ioc.store import models
from ioc.store.db import session_factory
from ioc.store.models import utcnow

HOURS = 24


@dataclass(frozen=True)
class FeedRow:
    health: FeedHealth
    paused: bool
    paused_by: str | None
    replay_asked_at: datetime | None
    replay_done_at: datetime | None
    replay_counts: dict | None
    rejected: int
    hourly: tuple[int, ...]          # records received in each of the last HOURS hours, oldest first

    @property
    def state(self) -> str:
        """paused / ok / degraded / down / never (never polled)."""
        return "paused" if self.paused else (self.health.status or "never")

    @property
    def replay_pending(self) -> bool:
        return bool(self.replay_asked_at and (self.replay_done_at is None or self.replay_done_at < self.replay_asked_at))


@dataclass(frozen=True)
class Rejected:
    id: int
    received_at: datetime
    external_id: str | None
    reason: str
    payload: str


def board(engine: Engine, feeds: Iterable[FeedSettings], now: datetime | None = None) -> list[FeedRow]:
    """One row per known feed, in the order given."""
    feeds = list(feeds)
    now = now or utcnow()
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=HOURS - 1)
    rr, fc = models.RawRecord, models.FeedControl
    with session_factory(engine)() as session:
        controls = {c.name: c for c in session.scalars(select(fc))}
        rejected = dict(session.execute(select(rr.feed, func.count()).where(rr.outcome == "rejected")
                                        .group_by(rr.feed)).all())
        hour = _hour(engine, rr.received_at)
        hourly: dict[str, dict[datetime, int]] = {}
        for feed, bucket, n in session.execute(
                select(rr.feed, hour, func.count()).where(rr.received_at >= start).group_by(rr.feed, hour)):
            hourly.setdefault(feed, {})[_as_hour(bucket)] = n
    slots = [start + timedelta(hours=i) for i in range(HOURS)]
    rows = []
    for h in feed_health(engine, feeds):
        c = controls.get(h.name)
        counts = hourly.get(h.name, {})
        rows.append(FeedRow(
            health=h, paused=bool(c and c.paused), paused_by=c.changed_by if c and c.paused else None,
            replay_asked_at=c.replay_requested_at if c else None, replay_done_at=c.replay_done_at if c else None,
            replay_counts=c.replay_counts if c else None, rejected=rejected.get(h.name, 0),
            hourly=tuple(counts.get(s, 0) for s in slots)))
    return rows


def _hour(engine: Engine, column):
    if engine.dialect.name == "postgresql":
        return func.date_trunc("hour", func.timezone("UTC", column))
    return func.strftime("%Y-%m-%d %H:00:00", column)


def _as_hour(bucket) -> datetime:
    if isinstance(bucket, str):
        bucket = datetime.fromisoformat(bucket)
    return bucket.replace(tzinfo=timezone.utc) if bucket.tzinfo is None else bucket.astimezone(timezone.utc)


def rejected_records(engine: Engine, feed: str, limit: int = 50) -> list[Rejected]:
    """The feed's newest rejected raw records with their reasons and payloads (as stored: text)."""
    rr = models.RawRecord
    with session_factory(engine)() as session:
        rows = session.execute(select(rr.id, rr.received_at, rr.external_id, rr.reason, rr.payload)
                               .where(rr.feed == feed, rr.outcome == "rejected")
                               .order_by(rr.id.desc()).limit(limit)).all()
    return [Rejected(r.id, r.received_at, r.external_id, r.reason or "", r.payload) for r in rows]

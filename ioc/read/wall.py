"""What the wall screen (大屏) shows around its map: KPI tiles, the 24-hour trend, the busiest
divisions, the newest P1/P2, the warning signal in force and the feeds' health.

Every figure is one or two SQL aggregates over open incidents or today's (city timezone) ones,
so their cost follows the live set, not the history. Today's 响应率 and median response come
from ``ioc.read.kpi``, so the wall and the leaders' reports count alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, and_, func, literal, or_, select

from ioc.config import FeedSettings
from ioc.read import kpi
from ioc.read.citymap import stale_sources
from ioc.read.health import feed_health
from ioc.read.lists import active_alerts
from ioc.records import OPEN_STATUSES, PRIORITIES
from ioc.store import models
from ioc.store.db import session_factory

_I = models.Incident
# A clock has run out when its step is not stamped and its due time has passed (ioc.chain.sla).
_CLOCKS = ((_I.acknowledged_at, _I.acknowledge_due), (_I.dispatched_at, _I.dispatch_due),
           (_I.on_scene_at, _I.on_scene_due), (_I.resolved_at, _I.resolve_due))
# Warning signals, most severe first: the banner shows the worst in force.
SIGNAL_ORDER = ("red", "orange", "yellow", "blue", "white")
FREE = ("AVAILABLE", "CLEARED")


def start_of_day(now: datetime, tz: str) -> datetime:
    local = now.astimezone(ZoneInfo(tz))
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(timezone.utc)


def _open(category: str | None = None):
    """The open set, its statuses written as literals: a planner uses the partial index of the
    open set (``models.OPEN_SET``) only when it can see the condition is the same."""
    scope = [_I.category == category] if category else []
    statuses = [literal(s, literal_execute=True) for s in OPEN_STATUSES]
    return and_(_I.status.in_(statuses), _I.parent_id.is_(None), *scope)


def tiles(engine: Engine, tz: str, now: datetime | None = None, category: str | None = None) -> dict[str, Any]:
    """Open by priority, new today, overdue now, today's 响应率 and median response, free units by type
    (with ``category``: the incident figures of that category only)."""
    now = now or datetime.now(timezone.utc)
    midnight = start_of_day(now, tz)
    overdue = or_(*[and_(stamp.is_(None), due < now) for stamp, due in _CLOCKS])
    with session_factory(engine)() as session:
        by_priority = dict(session.execute(
            select(_I.priority, func.count()).where(_open(category)).group_by(_I.priority)).all())
        scope = [_I.category == category] if category else []
        new_today = session.scalar(select(func.count()).where(_I.reported_at >= midnight, _I.parent_id.is_(None),
                                                               *scope))
        overdue_now = session.scalar(select(func.count()).where(_open(category), overdue))
        free = dict(session.execute(
            select(models.Unit.unit_type, func.count()).where(models.Unit.status.in_(FREE))
            .group_by(models.Unit.unit_type).order_by(models.Unit.unit_type)).all())
    return {"open": {p: by_priority.get(p, 0) for p in PRIORITIES}, "new_today": new_today or 0,
            "overdue": overdue_now or 0, **today_response(engine, midnight, now, category), "free_units": free}


def today_response(engine: Engine, midnight: datetime, now: datetime,
                   category: str | None = None) -> dict[str, float | None]:
    """Today's 响应率 (kpi.rates) and median response in minutes (kpi.intervals)."""
    end = now + timedelta(seconds=1)
    rate = kpi.rates(engine, midnight, end, now=now, category=category).get(kpi.ALL)
    stat = kpi.intervals(engine, midnight, end, category=category, names=("response",)).get(kpi.ALL)
    median = stat["response"].median if stat else None
    return {"response_rate": rate.response.value if rate else None,
            "response_median_min": None if median is None else median / 60}


def trend(engine: Engine, now: datetime | None = None, category: str | None = None) -> dict[str, list]:
    """Incidents per hour over the last 24 hours (this one included), and the same hours a week before."""
    now = now or datetime.now(timezone.utc)
    end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    hours = [end - timedelta(hours=h) for h in range(24, 0, -1)]
    week = timedelta(days=7)
    this = dict(kpi.counts(engine, hours[0], end, "hour", category=category))
    last = dict(kpi.counts(engine, hours[0] - week, end - week, "hour", category=category))
    return {"hours": hours, "this_week": [this.get(h, 0) for h in hours],
            "last_week": [last.get(h - week, 0) for h in hours]}


def busiest_divisions(engine: Engine, limit: int = 10, category: str | None = None) -> list[dict[str, Any]]:
    """Divisions with the most open incidents, most first, with their names."""
    d = models.District
    opened = (select(_I.district_code.label("code"), func.count().label("n")).where(_open(category))
              .group_by(_I.district_code).subquery())
    with session_factory(engine)() as session:
        rows = session.execute(select(d.code, d.name_zh, d.name_en, opened.c.n).join(opened, opened.c.code == d.code)
                               .order_by(opened.c.n.desc(), d.code).limit(limit)).all()
    return [{"code": c, "name_zh": zh, "name_en": en, "open": k} for c, zh, en, k in rows]


def newest_urgent(engine: Engine, limit: int = 8, category: str | None = None) -> list[dict[str, Any]]:
    """The newest open P1 / P2 incidents, newest first, for the ticker."""
    d = models.District
    with session_factory(engine)() as session:
        rows = session.execute(
            select(_I.id, _I.priority, _I.category, _I.title, _I.reported_at, d.name_zh, d.name_en)
            .outerjoin(d, d.code == _I.district_code)
            .where(_open(category), _I.priority.in_(("P1", "P2")))
            .order_by(_I.reported_at.desc(), _I.id.desc()).limit(limit)).all()
    return [{"id": i, "priority": p, "category": c, "title": t, "reported_at": at, "division_zh": zh,
             "division_en": en} for i, p, c, t, at, zh, en in rows]


def signal(engine: Engine, now: datetime | None = None) -> list[dict[str, Any]]:
    """Warnings in force, the most severe signal colour first."""
    alerts = [{"event": a.event, "headline": a.headline or a.event, "colour": (a.extra or {}).get("colour")}
              for a in active_alerts(engine, now)]
    rank = {c: n for n, c in enumerate(SIGNAL_ORDER)}
    return sorted(alerts, key=lambda a: rank.get(a["colour"], len(SIGNAL_ORDER)))


def feeds(engine: Engine, known: Iterable[FeedSettings], now: datetime | None = None) -> list[dict[str, Any]]:
    """Each enabled feed's state; ``stale`` when it has had no success for three intervals."""
    known = list(known)
    stale = set(stale_sources(engine, known, now))
    return [{"name": f.name, "status": f.status or "never", "stale": f.name in stale}
            for f in feed_health(engine, known) if f.enabled]


def open_per_10k(engine: Engine) -> dict[str, float]:
    """Open incidents per 10,000 residents of each division with a population (the map's shading)."""
    d = models.District
    with session_factory(engine)() as session:
        people = dict(session.execute(select(d.code, d.population).where(d.population > 0)).all())
        opened = dict(session.execute(select(_I.district_code, func.count()).where(_open())
                                      .group_by(_I.district_code)).all())
    return {code: round(10_000 * opened.get(code, 0) / n, 2) for code, n in people.items()}

"""What a major event's board reads beside the event's own list and KPIs (``ioc.chain.major_events``):
every event, the units committed to its incidents, and the whole city's figures for the same window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, select

from ioc.read import kpi
from ioc.records import OPEN_STATUSES
from ioc.store import models
from ioc.store.db import session_factory
from ioc.store.models import utcnow

ACTIVE_ASSIGNMENTS = ("DISPATCHED", "EN_ROUTE", "ON_SCENE")
OPEN = ("unverified", *OPEN_STATUSES)   # as the event counts its own open incidents


@dataclass(frozen=True)
class EventRow:
    id: int
    name: str
    kind: str
    status: str
    started_at: datetime
    ended_at: datetime | None
    created_by: str
    version: int
    district_codes: tuple[str, ...]
    categories: tuple[str, ...]


@dataclass(frozen=True)
class Committed:
    unit_id: str
    call_sign: str
    unit_type: str
    status: str
    incident_id: int


@dataclass(frozen=True)
class CityWindow:
    total: int
    open: int
    closure: float | None           # 办结率 over the window
    response_median_s: float | None  # CAD response interval, median


def events(engine: Engine) -> list[EventRow]:
    """Every major event, the ones in force first, newest first."""
    me = models.MajorEvent
    with session_factory(engine)() as session:
        rows = session.scalars(select(me).order_by((me.status == "active").desc(), me.started_at.desc())).all()
        return [EventRow(e.id, e.name, e.kind, e.status, e.started_at, e.ended_at, e.created_by, e.version,
                         tuple(e.district_codes or ()), tuple(e.categories or ())) for e in rows]


def committed_units(engine: Engine, incident_ids: list[int]) -> list[Committed]:
    """Units now assigned (dispatched, en route, on scene) to any of these incidents."""
    if not incident_ids:
        return []
    a, u = models.Assignment, models.Unit
    with session_factory(engine)() as session:
        rows = session.execute(
            select(u.id, u.call_sign, u.unit_type, a.status, a.incident_id).join(u, u.id == a.unit_id)
            .where(a.incident_id.in_(incident_ids), a.status.in_(ACTIVE_ASSIGNMENTS))
            .order_by(u.unit_type, u.call_sign)).all()
    return [Committed(*r) for r in rows]


def city_window(engine: Engine, frm: datetime, to: datetime | None) -> CityWindow:
    """The whole city's incidents reported in the event's window, to compare the event against."""
    to = to or utcnow()
    inc = models.Incident
    with session_factory(engine)() as session:
        total, open_ = session.execute(select(func.count(), func.count().filter(inc.status.in_(OPEN)))
                                       .where(inc.reported_at >= frm, inc.reported_at < to,
                                              inc.status != "fused")).one()
    rates = kpi.rates(engine, frm, to).get(kpi.ALL)
    stats = kpi.intervals(engine, frm, to, names=("response",)).get(kpi.ALL, {})
    response = stats.get("response")
    return CityWindow(int(total), int(open_), rates.closure.value if rates else None,
                      response.median if response else None)

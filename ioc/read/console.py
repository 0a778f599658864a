"""The dispatch console's reads: incidents waiting for units, and the unit board.

The queue is what a dispatcher works down: open incidents no unit is on yet, most urgent
priority first, then the longest waiting. The unit board shows every unit by agency and status
with how long it has been in that status and whether its last position is stale.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from ioc.chain import sla
from ioc.city.pack import CityPack
from ioc.errors import NotFound
from ioc.read.board import running_clock
from ioc.store import models
from ioc.store.db import session_factory
from ioc.store.models import utcnow

WAITING = ("new", "acknowledged")
STALE_AFTER = timedelta(minutes=10)
QUEUE_LIMIT = 200


def queue(engine: Engine, now: datetime | None = None, pack: CityPack | None = None,
          limit: int = QUEUE_LIMIT) -> list[dict[str, Any]]:
    """Open incidents waiting for units: by priority, then oldest first (at most ``limit``)."""
    now = now or utcnow()
    fraction = sla.load_sla(pack).due_soon_fraction
    i = models.Incident
    with session_factory(engine)() as session:
        rows = session.scalars(select(i).where(i.status.in_(WAITING), i.parent_id.is_(None))
                               .order_by(i.priority, i.reported_at, i.id).limit(limit)).all()
        supervised = set(session.scalars(select(models.Supervision.target_id).where(
            models.Supervision.target_type == "incident", models.Supervision.resolved_at.is_(None),
            models.Supervision.target_id.in_([r.id for r in rows]))))
    return [{"id": r.id, "priority": r.priority, "status": r.status, "category": r.category, "title": r.title,
             "address": r.address, "reported_at": r.reported_at, "version": r.version,
             "sla": running_clock(r, now, fraction, r.id in supervised)} for r in rows]


def incident_summary(engine: Engine, incident_id: int, now: datetime | None = None,
                     pack: CityPack | None = None) -> dict[str, Any]:
    """The few facts the console shows of the selected incident, with its running clock."""
    now = now or utcnow()
    with session_factory(engine)() as session:
        i = session.get(models.Incident, incident_id)
        if i is None:
            raise NotFound(f"incident {incident_id} does not exist")
        return {"id": i.id, "priority": i.priority, "status": i.status, "category": i.category, "title": i.title,
                "address": i.address, "lon": i.lon, "lat": i.lat, "version": i.version,
                "sla": running_clock(i, now, sla.load_sla(pack).due_soon_fraction)}


def unit_board(engine: Engine, now: datetime | None = None) -> list[dict[str, Any]]:
    """Every unit with its agency, status, time in status, position age and current assignment."""
    now = now or utcnow()
    u, org, a = models.Unit, models.Org, models.Assignment
    with session_factory(engine)() as session:
        active = {r.unit_id: r for r in session.execute(
            select(a.unit_id, a.id, a.incident_id, a.status, a.version).where(a.status != "CLEARED")
            .order_by(a.dispatched_at))}
        rows = session.execute(select(u, org.name_zh, org.name_en).join(org, org.code == u.org_code)
                               .order_by(u.org_code, u.status, u.id)).all()
    out = []
    for unit, org_zh, org_en in rows:
        job = active.get(unit.id)
        out.append({
            "id": unit.id, "call_sign": unit.call_sign, "unit_type": unit.unit_type, "org": unit.org_code,
            "org_zh": org_zh, "org_en": org_en, "status": unit.status, "version": unit.version,
            "in_status_min": _minutes(now, unit.status_at), "lon": unit.lon, "lat": unit.lat,
            "position_age_min": _minutes(now, unit.position_at),
            "stale": unit.position_at is None or now - unit.position_at > STALE_AFTER,
            "assignment": None if job is None else {"id": job.id, "incident_id": job.incident_id,
                                                    "status": job.status, "version": job.version},
        })
    return out


def _minutes(now: datetime, since: datetime | None) -> float | None:
    return None if since is None else round((now - since).total_seconds() / 60, 1)

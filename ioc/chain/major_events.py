"""Major events (重大事件): a typhoon, a flood, a big fire — a named window that groups the
incidents it caused, for a command view and its own KPIs.

An incident belongs to an event when it was reported inside the event's window, its category
is one of the event's (when the event names categories), and it lies in one of the event's
divisions or inside its area polygon (when either is given; both given means either matches).
Linked reports (status ``fused``) are counted through their parent, so they are left out unless
a filter asks for that status.
"""

from __future__ import annotations

import logging
import statistics
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from shapely import prepared
from shapely.errors import GEOSException
from shapely.geometry import Point, shape
from sqlalchemy import Engine, Select, or_, select
from sqlalchemy.orm import Session

from ioc.chain.actions import Actor, audit, check_version, get_or_404, require, snapshot
from ioc.errors import ActionRefused, InvalidTransition, NotFound
from ioc.records import CATEGORIES
from ioc.store import models
from ioc.store.db import transaction
from ioc.store.models import utcnow

log = logging.getLogger(__name__)

KINDS = ("typhoon", "rainstorm", "flood", "heat", "cold", "earthquake", "landslide", "fire", "accident",
         "hazmat", "epidemic", "public_event", "other")
OPEN_STATUSES = ("unverified", "new", "acknowledged", "dispatched", "on_scene")
EDITABLE = ("name", "kind", "started_at", "ended_at", "categories", "district_codes", "area")
AUDIT_FIELDS = ("name", "kind", "status", "started_at", "ended_at", "categories", "district_codes", "area",
                "version")


# --- managing events ------------------------------------------------------------------------


def create(engine: Engine, actor: Actor, name: str, kind: str, started_at: datetime,
           ended_at: datetime | None = None, categories: Iterable[str] = (), district_codes: Iterable[str] = (),
           area: dict[str, Any] | None = None, now: datetime | None = None) -> models.MajorEvent:
    require(actor, "major_event.manage")
    now = now or utcnow()
    values = {"name": name, "kind": kind, "started_at": started_at, "ended_at": ended_at,
              "categories": list(categories), "district_codes": list(district_codes), "area": area}
    with transaction(engine) as session:
        values = _checked(session, values)
        event = models.MajorEvent(**values, status="active", created_by=actor.username, created_at=now)
        session.add(event)
        session.flush()
        audit(session, actor, "major_event.create", "major_event", event.id, None, snapshot(event, AUDIT_FIELDS))
    log.info("%s opened major event %s (%s)", actor.username, event.id, event.name)
    return event


def _active_event(session: Session, actor: Actor, event_id: int, seen_version: int | None,
                  verb: str) -> models.MajorEvent:
    """The event row, locked, after the role, state and version checks every change makes."""
    event = get_or_404(session, models.MajorEvent, event_id, "major event")
    require(actor, "major_event.manage")
    if event.status != "active":
        already = "already " if verb == "close" else ""
        raise InvalidTransition(f"cannot {verb} major event {event_id}: it is {already}{event.status}",
                                key="event_state")
    check_version("major event", event_id, event.version, seen_version)
    return event


def update(engine: Engine, actor: Actor, event_id: int, seen_version: int | None,
           **changes: Any) -> models.MajorEvent:
    """Change any of name, kind, started_at, ended_at, categories, district_codes, area."""
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise ActionRefused(f"a major event has no field {unknown[0]!r}; editable: {', '.join(EDITABLE)}",
                            key="event_field", field=unknown[0])
    with transaction(engine) as session:
        event = _active_event(session, actor, event_id, seen_version, "change")
        before = snapshot(event, AUDIT_FIELDS)
        values = _checked(session, {name: getattr(event, name) for name in EDITABLE} | changes)
        for name, value in values.items():
            setattr(event, name, value)
        event.version += 1
        audit(session, actor, "major_event.update", "major_event", event.id, before, snapshot(event, AUDIT_FIELDS))
    return event


def close(engine: Engine, actor: Actor, event_id: int, seen_version: int | None, ended_at: datetime | None = None,
          now: datetime | None = None) -> models.MajorEvent:
    """The event is over: its window ends (now, unless another end is given or already set)."""
    now = now or utcnow()
    with transaction(engine) as session:
        event = _active_event(session, actor, event_id, seen_version, "close")
        before = snapshot(event, AUDIT_FIELDS)
        end = ended_at or event.ended_at or now
        if end <= event.started_at:
            raise ActionRefused(f"the end {end.isoformat()} is not after the start {event.started_at.isoformat()}",
                                key="event_end")
        event.status, event.ended_at = "closed", end
        event.version += 1
        audit(session, actor, "major_event.close", "major_event", event.id, before, snapshot(event, AUDIT_FIELDS))
    return event


def _checked(session: Session, values: dict[str, Any]) -> dict[str, Any]:
    name = (values["name"] or "").strip()
    if not name:
        raise ActionRefused("give the major event a name", key="event_name")
    if values["kind"] not in KINDS:
        raise ActionRefused(f"unknown kind {values['kind']!r}; use one of {', '.join(KINDS)}", key="event_kind",
                            value=values["kind"])
    start, end = values["started_at"], values["ended_at"]
    if end is not None and end <= start:
        raise ActionRefused(f"the end {end.isoformat()} is not after the start {start.isoformat()}",
                            key="event_end")
    unknown = sorted(set(values["categories"]) - set(CATEGORIES))
    if unknown:
        raise ActionRefused(f"unknown category {unknown[0]!r}", key="category_unknown", value=unknown[0])
    codes = list(dict.fromkeys(values["district_codes"]))
    known = set(session.scalars(select(models.District.code).where(models.District.code.in_(codes))))
    missing = [c for c in codes if c not in known]
    if missing:
        raise NotFound(f"division {missing[0]} does not exist", key="no_division", code=missing[0])
    return values | {"name": name, "categories": list(dict.fromkeys(values["categories"])),
                     "district_codes": codes, "area": _checked_area(values["area"])}


def _checked_area(area: dict[str, Any] | None) -> dict[str, Any] | None:
    if not area:
        return None
    geometry = area.get("geometry") if area.get("type") == "Feature" else area
    try:
        geom = shape(geometry)
    except (GEOSException, ValueError, TypeError, KeyError, AttributeError):
        raise ActionRefused("the area is not a GeoJSON geometry", key="area_geojson") from None
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        raise ActionRefused(f"the area must be a Polygon or MultiPolygon, not a {geom.geom_type}", key="area_polygon")
    if geom.is_empty or not geom.is_valid:
        raise ActionRefused("the area polygon is empty or crosses itself; redraw it", key="area_invalid")
    return geometry


# --- the event's incidents ------------------------------------------------------------------


def incidents_of(engine: Engine, event_id: int, status: str | Iterable[str] | None = None,
                 category: str | Iterable[str] | None = None, priority: str | Iterable[str] | None = None,
                 district: str | Iterable[str] | None = None, limit: int = 100,
                 offset: int = 0) -> list[models.Incident]:
    """The event's incidents, newest first, narrowed by the filters (each one value or several)."""
    inc = models.Incident
    with transaction(engine) as session:
        event = get_or_404(session, models.MajorEvent, event_id, "major event", lock=False)
        q, area = _membership(event, select(inc), status is not None and "fused" in _many(status))
        for column, wanted in ((inc.status, status), (inc.category, category), (inc.priority, priority),
                               (inc.district_code, district)):
            if wanted is not None:
                q = q.where(column.in_(_many(wanted)))
        q = q.order_by(inc.reported_at.desc(), inc.id.desc())
        if area is None:
            return list(session.scalars(q.limit(limit).offset(offset)))
        rows = [r for r in session.scalars(q) if _inside(event, area, r.district_code, r.lon, r.lat)]
        return rows[offset:offset + limit]


def kpis_of(engine: Engine, event_id: int) -> dict[str, Any]:
    """Counts by category / status / division, open vs closed, minutes to acknowledge and resolve."""
    inc = models.Incident
    cols = select(inc.category, inc.status, inc.district_code, inc.lon, inc.lat, inc.reported_at,
                  inc.acknowledged_at, inc.resolved_at)
    with transaction(engine) as session:
        event = get_or_404(session, models.MajorEvent, event_id, "major event", lock=False)
        q, area = _membership(event, cols, include_fused=False)
        rows = [r for r in session.execute(q)
                if area is None or _inside(event, area, r.district_code, r.lon, r.lat)]
    open_count = sum(1 for r in rows if r.status in OPEN_STATUSES)
    return {
        "event_id": event_id,
        "total": len(rows),
        "open": open_count,
        "closed": len(rows) - open_count,
        "by_category": dict(Counter(r.category for r in rows).most_common()),
        "by_status": dict(Counter(r.status for r in rows).most_common()),
        "by_division": dict(Counter(r.district_code or "unknown" for r in rows).most_common()),
        "acknowledge_minutes": _spread([(r.acknowledged_at - r.reported_at) for r in rows if r.acknowledged_at]),
        "resolve_minutes": _spread([(r.resolved_at - r.reported_at) for r in rows if r.resolved_at]),
    }


def _spread(deltas: list[Any]) -> dict[str, float | int | None]:
    minutes = [d.total_seconds() / 60 for d in deltas]
    if not minutes:
        return {"n": 0, "mean": None, "median": None}
    return {"n": len(minutes), "mean": round(statistics.fmean(minutes), 1),
            "median": round(statistics.median(minutes), 1)}


def _membership(event: models.MajorEvent, q: Select, include_fused: bool) -> tuple[Select, Any]:
    """The SQL part of "belongs to the event", and the prepared area polygon left for Python."""
    inc = models.Incident
    q = q.where(inc.reported_at >= event.started_at)
    if event.ended_at is not None:
        q = q.where(inc.reported_at <= event.ended_at)
    if not include_fused:
        q = q.where(inc.status != "fused")
    if event.categories:
        q = q.where(inc.category.in_(event.categories))
    area_geom = shape(event.area) if event.area else None
    place = []
    if event.district_codes:
        place.append(inc.district_code.in_(event.district_codes))
    if area_geom is not None:
        west, south, east, north = area_geom.bounds   # the box in SQL, the exact shape in Python
        place.append(inc.lon.between(west, east) & inc.lat.between(south, north))
    if place:
        q = q.where(or_(*place))
    return q, prepared.prep(area_geom) if area_geom is not None else None


def _inside(event: models.MajorEvent, area: Any, district: str | None, lon: float | None,
            lat: float | None) -> bool:
    if district and district in (event.district_codes or ()):
        return True
    return lon is not None and lat is not None and area.covers(Point(lon, lat))


def _many(value: str | Iterable[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def get(engine: Engine, event_id: int) -> models.MajorEvent:
    with transaction(engine) as session:
        return get_or_404(session, models.MajorEvent, event_id, "major event", lock=False)


def active(engine: Engine) -> list[models.MajorEvent]:
    with transaction(engine) as session:
        return list(session.scalars(select(models.MajorEvent).where(models.MajorEvent.status == "active")
                                    .order_by(models.MajorEvent.started_at.desc())))

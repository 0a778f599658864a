"""What the city map shows: outlines, key points, live layers, division facts, totals, data version.

Computed in SQL and shaped for the map.

Pages call these with an engine and get plain dicts and lists back; they never see a session.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from shapely.geometry import mapping, shape
from sqlalchemy import Engine, func, select

from ioc.city.geo import transform_geometry
from ioc.read.lists import active_alerts
from ioc.records import OPEN_STATUSES
from ioc.store import models
from ioc.store.db import session_factory


def district_features(engine: Engine) -> dict[str, Any]:
    """Division outlines as a GeoJSON FeatureCollection, light properties only."""
    with session_factory(engine)() as session:
        rows = session.execute(select(models.District).order_by(models.District.code)).scalars()
        features = [
            {
                "type": "Feature",
                "id": d.code,
                "geometry": d.geometry,
                "properties": {
                    "code": d.code, "name_zh": d.name_zh, "name_en": d.name_en,
                    "kind": d.kind, "population": d.population, "area_km2": d.area_km2,
                },
            }
            for d in rows
        ]
    return {"type": "FeatureCollection", "features": features}


def key_point_features(engine: Engine) -> dict[str, dict[str, Any]]:
    """Key points grouped by kind, one FeatureCollection per map layer."""
    layers: dict[str, dict[str, Any]] = {}
    with session_factory(engine)() as session:
        rows = session.execute(select(models.KeyPoint).order_by(models.KeyPoint.id)).scalars()
        for p in rows:
            layer = layers.setdefault(p.kind, {"type": "FeatureCollection", "features": []})
            layer["features"].append({
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [p.lon, p.lat]},
                "properties": {"id": p.id, "kind": p.kind, "name_zh": p.name_zh, "name_en": p.name_en},
            })
    return layers


def division_summary(engine: Engine, code: str) -> dict[str, Any] | None:
    """One division's facts and how many key points of each kind it holds."""
    with session_factory(engine)() as session:
        d = session.get(models.District, code)
        if d is None:
            return None
        counts = session.execute(
            select(models.KeyPoint.kind, func.count())
            .where(models.KeyPoint.district_code == code)
            .group_by(models.KeyPoint.kind)
        ).all()
        units = session.scalar(
            select(func.count())
            .select_from(models.Unit)
            .join(models.KeyPoint, models.Unit.home_point_id == models.KeyPoint.id)
            .where(models.KeyPoint.district_code == code)
        )
    return {
        "code": d.code, "name_zh": d.name_zh, "name_en": d.name_en, "kind": d.kind,
        "population": d.population, "area_km2": d.area_km2,
        "key_points": dict(sorted(counts)), "units": units or 0,
    }


def city_totals(engine: Engine) -> dict[str, Any]:
    """Counts for the frame: divisions, population, key points and units in the store."""
    with session_factory(engine)() as session:
        divisions, population = session.execute(
            select(func.count(models.District.code), func.coalesce(func.sum(models.District.population), 0))
        ).one()
        key_points = session.scalar(select(func.count()).select_from(models.KeyPoint)) or 0
        units = session.scalar(select(func.count()).select_from(models.Unit)) or 0
    return {"divisions": divisions, "population": int(population), "key_points": key_points, "units": units}


def for_display(collection: dict[str, Any], crs: str) -> dict[str, Any]:
    """A copy of a WGS-84 FeatureCollection in ``crs``, to draw on GCJ-02 tiles (AMap, Tencent)."""
    features = []
    for feature in collection["features"]:
        geom = transform_geometry(shape(feature["geometry"]), "wgs84", crs)
        features.append({**feature, "geometry": mapping(geom)})
    return {**collection, "features": features}


def data_version(engine: Engine) -> str:
    """A cheap fingerprint of what live pages show; unchanged means nothing to redraw."""
    with session_factory(engine)() as session:
        incidents = session.execute(
            select(func.count(models.Incident.id), func.max(models.Incident.updated_at))).one()
        alerts = session.execute(select(func.count(models.Alert.id), func.max(models.Alert.id))).one()
        units = session.scalar(select(func.max(models.Unit.status_at)))
        feeds = session.execute(
            select(func.max(models.FeedState.last_success_at), func.max(models.FeedState.last_error_at))).one()
    return "|".join(str(v) for v in (*incidents, *alerts, units, *feeds))


def open_incident_features(engine: Engine, limit: int = 20_000) -> dict[str, Any]:
    """Open incidents with a place, newest first, as light GeoJSON points for the live map."""
    with session_factory(engine)() as session:
        rows = session.execute(
            select(models.Incident.id, models.Incident.lon, models.Incident.lat, models.Incident.priority,
                   models.Incident.category, models.Incident.title, models.Incident.report_count)
            .where(models.Incident.status.in_(OPEN_STATUSES), models.Incident.parent_id.is_(None),
                   models.Incident.lon.is_not(None))
            .order_by(models.Incident.reported_at.desc()).limit(limit)
        ).all()
    features = [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
         "properties": {"id": i, "priority": p, "category": c, "title": t[:60], "reports": n}}
        for i, lon, lat, p, c, t, n in rows
    ]
    return {"type": "FeatureCollection", "features": features}


def live_summary(engine: Engine, now: datetime | None = None) -> dict[str, Any]:
    """Open incidents by priority, today's count, active warnings and feed health."""
    now = now or datetime.now(timezone.utc)
    with session_factory(engine)() as session:
        by_priority = dict(session.execute(
            select(models.Incident.priority, func.count())
            .where(models.Incident.status.in_(OPEN_STATUSES), models.Incident.parent_id.is_(None))
            .group_by(models.Incident.priority)).all())
        last_24h = session.scalar(select(func.count()).select_from(models.Incident)
                                  .where(models.Incident.reported_at >= now - timedelta(hours=24))) or 0
        feeds = session.execute(select(models.FeedState.name, models.FeedState.status)
                                .order_by(models.FeedState.name)).all()
    alerts = [{"event": a.event, "headline": a.headline, "severity": a.severity, "sent": a.sent,
               "colour": (a.extra or {}).get("colour")}
              for a in active_alerts(engine, now)]
    return {"open": {p: by_priority.get(p, 0) for p in ("P1", "P2", "P3", "P4")}, "last_24h": last_24h,
            "alerts": alerts, "feeds": [{"name": n, "status": s} for n, s in feeds]}


def busy_unit_features(engine: Engine) -> dict[str, Any]:
    """Units out on a job (not available, not out of service), where they last reported."""
    with session_factory(engine)() as session:
        rows = session.execute(
            select(models.Unit.id, models.Unit.call_sign, models.Unit.unit_type, models.Unit.status,
                   models.Unit.lon, models.Unit.lat)
            .where(models.Unit.status.not_in(("AVAILABLE", "OUT_OF_SERVICE")), models.Unit.lon.is_not(None))
        ).all()
    features = [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
         "properties": {"id": i, "call_sign": c, "unit_type": t, "status": s}}
        for i, c, t, s, lon, lat in rows
    ]
    return {"type": "FeatureCollection", "features": features}


def alert_area_features(engine: Engine, now: datetime | None = None) -> dict[str, Any]:
    """The areas of the warnings in force, each with its signal colour and headline."""
    features = []
    for alert in active_alerts(engine, now):
        colour = (alert.extra or {}).get("colour")
        for area in (alert.areas or {}).get("features", []):
            if area.get("geometry"):
                features.append({"type": "Feature", "geometry": area["geometry"],
                                 "properties": {"colour": colour, "headline": alert.headline or alert.event}})
    return {"type": "FeatureCollection", "features": features}

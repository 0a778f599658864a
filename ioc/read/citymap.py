"""What the city map shows: outlines, key points, live layers (compact rows), division facts, totals, change counters.

Computed in SQL and shaped for the map.

Pages call these with an engine and get plain dicts and lists back; they never see a session.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from collections.abc import Iterable

import numpy as np
from shapely.geometry import mapping, shape
from sqlalchemy import Engine, and_, func, select

from ioc.city.geo import from_wgs84_arrays, transform_geometry
from ioc.config import FeedSettings
from ioc.read.health import feed_health
from ioc.read.lists import active_alerts
from ioc.records import CATEGORIES, OPEN_STATUSES, PRIORITIES
from ioc.store import changes, models
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


def live_versions(engine: Engine) -> dict[str, int]:
    """The store's change counters (ioc.store.changes): unchanged means nothing to redraw. O(1)."""
    return changes.versions(engine)


# A point on the wire: [id, x, y, k, c, s] (≤ 30 bytes as JSON). x, y are 1e-5° (≈1 m) from the
# city's south-west corner; k = priority digit + 10 when several reports + 20 when fresh;
# c = index in CATEGORIES; s = 1 + index of the source in the feeds given (0: other source).
# The browser builds the features (layouts/assets/ioc.js, ioc.map.mergeRows).
FRESH = timedelta(minutes=10)
SCALE = 100_000


def incident_rows(engine: Engine, origin: tuple[float, float], sources: list[str], crs: str = "wgs84",
                  since: datetime | None = None, now: datetime | None = None) -> dict[str, Any]:
    """Open incidents with a place as compact rows: all of them, or those written at or after ``since``.

    With ``since``, ``gone`` lists the incidents written since that left the map (closed, fused,
    cancelled, moved off the map); a row for an id the browser has replaces it.
    """
    now = now or datetime.now(timezone.utc)
    i = models.Incident
    cols = (i.id, i.lon, i.lat, i.priority, i.category, i.source, i.report_count, i.reported_at)
    on_map = and_(i.status.in_(OPEN_STATUSES), i.parent_id.is_(None), i.lon.is_not(None))
    with session_factory(engine)() as session:
        if since is None:
            rows = session.execute(select(*cols).where(on_map).order_by(i.id)).all()
            gone: list[int] = []
        else:
            # Sorted here: ORDER BY id would have SQLite walk the whole table in id order.
            written = sorted(session.execute(select(*cols, on_map).where(i.updated_at >= since)).all())
            rows = [r[:-1] for r in written if r[-1]]
            gone = [r[0] for r in written if not r[-1]]
    return {"rows": _compact(rows, origin, sources, crs, now), "gone": gone}


def _compact(rows: list[Any], origin: tuple[float, float], sources: list[str], crs: str,
             now: datetime) -> list[list[int]]:
    if not rows:
        return []
    xs, ys = _offsets([r[1] for r in rows], [r[2] for r in rows], origin, crs)
    cats = {c: n for n, c in enumerate(CATEGORIES)}
    feeds = {name: n + 1 for n, name in enumerate(sources)}
    out = []
    for (ident, _, _, priority, category, source, reports, reported), x, y in zip(rows, xs, ys, strict=True):
        k = PRIORITIES.index(priority) + 1 if priority in PRIORITIES else 3
        k += (10 if reports > 1 else 0) + (20 if now - reported < FRESH else 0)
        out.append([ident, x, y, k, cats.get(category, len(CATEGORIES) - 1), feeds.get(source, 0)])
    return out


def _offsets(lons: list[float], lats: list[float], origin: tuple[float, float], crs: str) -> tuple[list, list]:
    x, y = np.array(lons, dtype=float), np.array(lats, dtype=float)
    if crs != "wgs84":
        x, y = from_wgs84_arrays(x, y, crs)  # type: ignore[arg-type]
    return (np.rint((x - origin[0]) * SCALE).astype(int).tolist(),
            np.rint((y - origin[1]) * SCALE).astype(int).tolist())


def stale_sources(engine: Engine, feeds: Iterable[FeedSettings], now: datetime | None = None) -> list[str]:
    """Feeds polled but with no success for three intervals: their markers are drawn greyed."""
    now = now or datetime.now(timezone.utc)
    return [f.name for f in feed_health(engine, feeds)
            if f.status is not None and (f.last_success_at is None
                                         or now - f.last_success_at > timedelta(seconds=3 * f.interval_s))]


def unit_rows(engine: Engine, origin: tuple[float, float], crs: str = "wgs84") -> list[list[Any]]:
    """Units out on a job (not free, not out of service) where they last reported:
    [call sign, x, y, status, type] (x, y as for incidents)."""
    with session_factory(engine)() as session:
        rows = session.execute(
            select(models.Unit.call_sign, models.Unit.lon, models.Unit.lat, models.Unit.status,
                   models.Unit.unit_type)
            .where(models.Unit.status.not_in(("AVAILABLE", "OUT_OF_SERVICE")), models.Unit.lon.is_not(None))
            .order_by(models.Unit.id)).all()
    if not rows:
        return []
    xs, ys = _offsets([r[1] for r in rows], [r[2] for r in rows], origin, crs)
    return [[r[0], x, y, r[3], r[4]] for r, x, y in zip(rows, xs, ys, strict=True)]


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

"""What the city map shows: outlines, key points, live layers (compact rows), division facts, totals, change counters.

Computed in SQL and shaped for the map.

Pages call these with an engine and get plain dicts and lists back; they never see a session.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from collections.abc import Iterable

import numpy as np
from shapely.geometry import mapping, shape
from sqlalchemy import Engine, and_, case, func, literal, or_, select

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
# A writer stamps updated_at before it commits: look back this far so a slow commit is not missed.
WRITE_OVERLAP = timedelta(seconds=30)


def incident_rows(engine: Engine, origin: tuple[float, float], sources: list[str], crs: str = "wgs84",
                  since: datetime | None = None, now: datetime | None = None) -> dict[str, Any]:
    """Open incidents with a place as compact rows: all of them, or those written at or after ``since``.

    With ``since``, ``gone`` lists the incidents written since that left the map (closed, fused,
    cancelled, moved off the map); a row for an id the browser has replaces it.
    """
    now = now or datetime.now(timezone.utc)
    if since is not None:
        return _rows_where(engine, models.Incident.updated_at >= since, origin, sources, crs, now)
    cols, on_map = _columns(sources, now)
    with engine.connect() as conn:
        rows = conn.execute(select(*cols).where(on_map).order_by(models.Incident.id)).all()
    return {"rows": _compact(rows, origin, crs), "gone": []}


def _columns(sources: list[str], now: datetime) -> tuple[tuple, Any]:
    """A compact row's columns, and what puts an incident on the map."""
    i = models.Incident
    # k, c and s worked out in SQL and read through Core: a Python loop over 50,000 rows (and ORM
    # rows, and report times read back as datetimes) was most of a second of the map's first load.
    k = (case({p: n + 1 for n, p in enumerate(PRIORITIES)}, value=i.priority, else_=3)
         + case((i.report_count > 1, 10), else_=0) + case((i.reported_at > now - FRESH, 20), else_=0))
    c = case({name: n for n, name in enumerate(CATEGORIES)}, value=i.category, else_=len(CATEGORIES) - 1)
    s = case({name: n + 1 for n, name in enumerate(sources)}, value=i.source, else_=0) if sources else literal(0)
    return (i.id, i.lon, i.lat, k, c, s), and_(i.status.in_(OPEN_STATUSES), i.parent_id.is_(None), i.lon.is_not(None))


def _rows_where(engine: Engine, where: Any, origin: tuple[float, float], sources: list[str], crs: str,
                now: datetime) -> dict[str, Any]:
    """The incidents ``where`` picks: rows for those on the map, ``gone`` for the others."""
    cols, on_map = _columns(sources, now)
    with engine.connect() as conn:
        # Sorted here, not in SQL: ORDER BY id makes SQLite walk the whole table in id order
        # instead of taking the updated_at index (4.7 s at 1 M stored against a few ms).
        written = sorted(conn.execute(select(*cols, on_map).where(where)).all(), key=lambda r: r[0])
    return {"rows": _compact([r[:-1] for r in written if r[-1]], origin, crs),
            "gone": [r[0] for r in written if not r[-1]]}


def _compact(rows: list[Any], origin: tuple[float, float], crs: str) -> list[list[int]]:
    if not rows:
        return []
    xs, ys = _offsets([r[1] for r in rows], [r[2] for r in rows], origin, crs)
    return [[r[0], x, y, r[3], r[4], r[5]] for r, x, y in zip(rows, xs, ys, strict=True)]


# --- the whole layer, kept per process ----------------------------------------------------------


@dataclass
class _Layer:
    version: int  # the incident counter the rows are up to
    read_at: datetime  # the clock when they were read (before the read)
    now: datetime  # the time their freshness was worked out for
    rows: dict[int, list[int]]
    fresh: set[int]  # ids whose k has the fresh mark: it goes when FRESH has passed
    ordered: list[list[int]] | None = None


_LAYERS: weakref.WeakKeyDictionary[Engine, dict[tuple, _Layer]] = weakref.WeakKeyDictionary()
_LAYERS_LOCK = threading.Lock()


def live_layer(engine: Engine, origin: tuple[float, float], sources: list[str], crs: str = "wgs84",
               now: datetime | None = None) -> dict[str, Any]:
    """What ``incident_rows`` without ``since`` gives, from this process's copy of the layer.

    Read whole once, then brought up to date with the rows written since (the change counter says
    when) and those whose fresh mark may have lapsed: every screen's first load costs a delta, not
    a read of every open incident (50,000 rows: most of a second, and the map waited for it).
    """
    now = now or datetime.now(timezone.utc)
    key = (tuple(origin), tuple(sources), crs)
    with _LAYERS_LOCK:  # screens loading together wait for one read instead of making one each
        layers = _LAYERS.setdefault(engine, {})
        version = changes.versions(engine).get("incident", 0)
        read_at = datetime.now(timezone.utc)
        layer = layers.get(key)
        if layer is None:
            rows = incident_rows(engine, origin, sources, crs, now=now)["rows"]
            layer = layers[key] = _Layer(version, read_at, now, {r[0]: r for r in rows},
                                         {r[0] for r in rows if r[3] >= 20}, rows)
        elif layer.version != version or layer.fresh:
            i = models.Incident
            delta = _rows_where(engine, or_(i.updated_at >= layer.read_at - WRITE_OVERLAP,
                                            i.reported_at > layer.now - FRESH), origin, sources, crs, now)
            _merge(layer, delta)
            layer.version, layer.read_at, layer.now = version, read_at, now
        if layer.ordered is None:
            layer.ordered = [layer.rows[ident] for ident in sorted(layer.rows)]
        return {"rows": layer.ordered, "gone": []}


def _merge(layer: _Layer, delta: dict[str, Any]) -> None:
    for ident in delta["gone"]:
        if layer.rows.pop(ident, None) is not None:
            layer.ordered = None
        layer.fresh.discard(ident)
    for row in delta["rows"]:
        if layer.rows.get(row[0]) != row:
            layer.rows[row[0]] = row
            layer.ordered = None
        (layer.fresh.add if row[3] >= 20 else layer.fresh.discard)(row[0])


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

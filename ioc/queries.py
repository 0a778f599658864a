"""Read models for the pages: what each screen shows, shaped for it, computed in SQL.

Pages call these with an engine and get plain dicts and lists back; they never see a session.
"""

from __future__ import annotations

from typing import Any

from shapely.geometry import mapping, shape
from sqlalchemy import Engine, func, select

from ioc.geo import transform_geometry
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
